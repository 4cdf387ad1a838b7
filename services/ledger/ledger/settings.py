"""Settings of the ledger service; every one is an environment variable with a local default."""

from datetime import timedelta
from typing import ClassVar, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.http_guard import DEFAULT_MAX_BODY_BYTES
from shared.secrets import require_strong_secrets


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_")

    database_url: str = "postgresql+asyncpg://mailbill:mailbill@127.0.0.1:5432/ledger"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    pricing_url: str = "http://127.0.0.1:8001"
    # The one token that may do everything; partner tokens are issued through the API.
    ops_token: str = Field(default="ops-secret-change-me", min_length=12)
    host: str = "127.0.0.1"
    port: int = 8002
    log_level: str = "INFO"
    log_json: bool = False
    db_pool_size: int = 10
    # Prepended to every topic name, so several systems (or test runs) can share one broker.
    topic_prefix: str = ""
    consumer_group: str = "ledger"
    # Messages per batch and transaction. Larger batches spread each batch's fixed work (its
    # statements, locks and offsets, once per partner) over more events; pricing takes at most
    # 10,000 items per batch call, so no batch may be larger.
    consumer_batch_size: int = Field(default=4000, ge=1, le=10_000)
    # mailing.sent batches in flight at once in one consumer process, each in a transaction of
    # its own on a share of the partitions: one decides while another waits for PostgreSQL.
    consumer_lanes: int = Field(default=3, ge=1, le=16)
    # How long a lane waits for more messages after the first ones of a batch arrive. Every
    # batch costs the same fixed work whatever its size, so on a quiet stream a longer wait
    # means fewer, fuller batches (less CPU) and a balance that lags by about as much more.
    consumer_linger_ms: int = Field(default=50, ge=0, le=2000)
    # The inbox recognises an event id (source, id) this long after it was received: as long
    # as the platform may deliver an event again: "7d", "7 days", "P7D", "PT36H", "36:00:00".
    inbox_dedup_window: timedelta = Field(default=timedelta(days=7), gt=timedelta(0))
    # Older ids are deleted this many per statement, each in a short transaction of its own.
    inbox_prune_batch_size: int = Field(default=1000, ge=1)
    # How often the consumer process prunes the inbox.
    inbox_prune_every_seconds: float = Field(default=300.0, gt=0)
    # An on-demand charge below this is carried into the next one (EUR 0.50 at Stripe).
    minimum_charge_minor: int = 50
    reservation_ttl_seconds: int = 3600
    # The payment gateway's API, read by `ops reconcile` (never charged from the ledger).
    stripe_api_key: str = "sk_test_local"
    stripe_api_base: str = "http://127.0.0.1:8420"
    # A snapshot of an account is kept every this many events: loading reads at most this many.
    snapshot_interval: int = Field(default=100, ge=1)
    relay_batch_size: int = 500
    relay_poll_seconds: float = 0.2
    # A mailing.sent whose sent_at is further ahead of our clock is dead-lettered, not debited.
    max_sent_at_ahead_seconds: int = 86_400
    # /metrics and /healthz of the worker processes (on LEDGER_HOST); 0 serves nothing.
    consumer_metrics_port: int = 9102
    relay_metrics_port: int = 9103
    # /healthz answers 503 once a batch has been running or retried this long.
    worker_stuck_seconds: float = 120.0
    # Larger request bodies are refused with 413 before they are read.
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1)
    # Webhooks to partner portals (docs/webhooks.md). Endpoints on private or loopback networks
    # and plain http are refused unless allowed here (the local stack allows loopback and http).
    webhook_allow_private_urls: bool = False
    webhook_allow_loopback_urls: bool = False
    webhook_allow_http: bool = False
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)
    webhook_concurrency: int = Field(default=32, ge=1)
    webhook_poll_seconds: float = Field(default=0.5, gt=0)
    # After a rotation, the old secret signs too for this long.
    webhook_rotation_grace_seconds: int = Field(default=86_400, ge=0)
    webhook_max_endpoints_per_partner: int = Field(default=10, ge=1)
    webhook_metrics_port: int = 9106

    # Checked by the production rule (shared.secrets); deployments keep them in a Secret.
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("ops_token", "stripe_api_key")

    @model_validator(mode="after")
    def _production_secrets(self) -> Self:
        require_strong_secrets(self, self.SECRET_FIELDS)
        return self
