"""Settings of the payment worker, its webhook server and the notifier.

Every setting is an environment variable `PAYMENTS_<NAME>` with a default that works against the
local stack (`make up`) and the local Stripe API server (`devtools.stripe_server`).
"""

from typing import ClassVar, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.http_guard import DEFAULT_MAX_BODY_BYTES
from shared.secrets import require_strong_secrets


class PaymentsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_")

    database_url: str = "postgresql+asyncpg://mailbill:mailbill@127.0.0.1:5432/payments"
    db_pool_size: int = 10
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Prepended to every topic name, so several systems (or test runs) can share one broker.
    topic_prefix: str = ""
    consumer_group: str = "payments"
    consumer_batch_size: int = 100
    # Broker minimum is 6 s; lower means a crashed worker's partitions move on sooner.
    consumer_session_timeout_ms: int = 10_000
    host: str = "127.0.0.1"
    port: int = 8003
    # Larger webhook bodies are refused with 413 before they are read (Stripe's are a few KB).
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1)
    log_level: str = "INFO"
    log_json: bool = False

    # Stripe. The default base is the local test server; production sets https://api.stripe.com.
    stripe_api_key: str = "sk_test_local"
    stripe_api_base: str = "http://127.0.0.1:8420"
    stripe_timeout_seconds: float = 30.0
    stripe_webhook_secret: str = Field(default="whsec_local_change_me", min_length=8)
    stripe_webhook_tolerance_seconds: int = 300

    # Money rules. Stripe's minimum for EUR is 0.50; the ledger carries smaller amounts, and the
    # worker refuses any that still arrive.
    minimum_charge_minor: int = 50
    # Card networks cap retries per card (about 10-15 in 30 days): past this many declines of
    # one payment method in 30 days the worker refuses without asking the gateway.
    declines_per_method_30_days: int = 8

    # Gateway trouble (network, 5xx, 429) is retried with exponential back-off, never given up:
    # an answer that never came may still be a payment that went through.
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0
    driver_poll_seconds: float = 1.0
    driver_concurrency: int = 4
    relay_batch_size: int = 200
    relay_poll_seconds: float = 0.2
    # /metrics and /healthz of `payments work` and of `payments notify` (on PAYMENTS_HOST);
    # 0 serves nothing.
    worker_metrics_port: int = 9104
    notifier_metrics_port: int = 9105
    # /healthz answers 503 once a consumer or relay batch has been running or retried this long.
    worker_stuck_seconds: float = 120.0

    # SEPA direct debit by bank file (pain.008.001.08), collected into the platform's account.
    sepa_creditor_name: str = "Mailbill GmbH"
    sepa_creditor_iban: str = "DE89370400440532013000"
    sepa_creditor_bic: str = "COBADEFFXXX"
    # The Bundesbank's published test creditor identifier; production sets its own.
    sepa_creditor_id: str = "DE98ZZZ09999999999"
    sepa_countries: str = "DE,AT"
    # SEPA Core: the file reaches the bank at least one TARGET business day before collection.
    sepa_lead_business_days: int = 1

    # Reminder e-mails.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_start_tls: bool = False
    smtp_timeout_seconds: float = 30.0
    notify_from: str = "billing@mailbill.example"
    # A real deployment resolves the partner's billing contact; this template stands in for it.
    notify_to: str = "billing+{partner_id}@example.com"
    notify_brand: str = "mailbill"
    notifier_group: str = "payments-notifier"

    # Checked by the production rule (shared.secrets); deployments keep them in a Secret.
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = (
        "stripe_api_key",
        "stripe_webhook_secret",
        "smtp_password",
    )

    @model_validator(mode="after")
    def _production_secrets(self) -> Self:
        require_strong_secrets(self, self.SECRET_FIELDS)
        return self
