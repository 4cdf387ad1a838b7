"""Settings of the pricing service; every one is an environment variable with a local default."""

from typing import ClassVar, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.http_guard import DEFAULT_MAX_BODY_BYTES
from shared.secrets import require_strong_secrets


class PricingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRICING_")

    database_url: str = "postgresql+asyncpg://mailbill:mailbill@127.0.0.1:5432/pricing"
    host: str = "127.0.0.1"
    port: int = 8001
    log_level: str = "INFO"
    log_json: bool = False
    db_pool_size: int = 10
    # Creating a price list or adding a version changes what every mailing costs, so it takes
    # this bearer token; evaluations, quotes and reads stay open to the internal network.
    admin_token: str = Field(default="pricing-admin-change-me", min_length=12)
    # Larger request bodies are refused with 413 before they are read.
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1)

    # Checked by the production rule (shared.secrets); deployments keep them in a Secret.
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("admin_token",)

    @model_validator(mode="after")
    def _production_secrets(self) -> Self:
        require_strong_secrets(self, self.SECRET_FIELDS)
        return self
