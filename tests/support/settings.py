"""The environment a test or benchmark starts the services' processes with, built in one place:
each process reads its `PRICING_*`, `LEDGER_*` or `PAYMENTS_*` variables from it, as in
production."""

import os
from collections.abc import Mapping

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")

# Each worker's metrics port variable, by the worker's short name.
_METRICS_PORTS = {
    "consumer": "LEDGER_CONSUMER_METRICS_PORT",
    "relay": "LEDGER_RELAY_METRICS_PORT",
    "webhooks": "LEDGER_WEBHOOK_METRICS_PORT",
    "worker": "PAYMENTS_WORKER_METRICS_PORT",
    "notifier": "PAYMENTS_NOTIFIER_METRICS_PORT",
}


def system_env(
    *,
    prefix: str,
    ops_token: str,
    pricing_admin_token: str,
    pricing_db: str,
    pricing_port: int,
    ledger_db: str,
    ledger_port: int,
    payments_db: str | None = None,
    payments_port: int | None = None,
    metrics_ports: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """Pricing, the ledger and (given its database) payments on these databases and ports,
    with topics and consumer groups of their own under ``prefix``. A worker missing from
    ``metrics_ports`` serves no metrics (port 0): other runs on this machine use the defaults."""
    pricing_url = f"http://127.0.0.1:{pricing_port}"
    env = {
        "PRICING_DATABASE_URL": pricing_db,
        "PRICING_PORT": str(pricing_port),
        "PRICING_ADMIN_TOKEN": pricing_admin_token,
        "LEDGER_DATABASE_URL": ledger_db,
        "LEDGER_PORT": str(ledger_port),
        "LEDGER_PRICING_URL": pricing_url,
        "LEDGER_KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "LEDGER_TOPIC_PREFIX": prefix,
        "LEDGER_CONSUMER_GROUP": f"{prefix}ledger",
        "LEDGER_OPS_TOKEN": ops_token,
        "LEDGER_RELAY_POLL_SECONDS": "0.05",
    }
    if payments_db is not None:
        env |= {
            "PAYMENTS_DATABASE_URL": payments_db,
            "PAYMENTS_PORT": str(payments_port or 0),
            "PAYMENTS_KAFKA_BOOTSTRAP_SERVERS": KAFKA,
            "PAYMENTS_TOPIC_PREFIX": prefix,
            "PAYMENTS_CONSUMER_GROUP": f"{prefix}payments",
            "PAYMENTS_NOTIFIER_GROUP": f"{prefix}notifier",
        }
    ports = metrics_ports or {}
    unknown = set(ports) - set(_METRICS_PORTS)
    if unknown:
        raise ValueError(f"no such worker: {sorted(unknown)}")
    env |= {variable: str(ports.get(worker, 0)) for worker, variable in _METRICS_PORTS.items()}
    return env
