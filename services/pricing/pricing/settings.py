"""Settings of the pricing service; every one is an environment variable with a local default."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class PricingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRICING_")

    database_url: str = "postgresql+asyncpg://mailbill:mailbill@127.0.0.1:5432/pricing"
    host: str = "127.0.0.1"
    port: int = 8001
    log_level: str = "INFO"
    log_json: bool = False
    db_pool_size: int = 10
