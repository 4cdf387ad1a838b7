"""Every metric the alert rules and the Grafana dashboard query is exported by a running process.

The processes of `make run` are started (pricing, the ledger's API, consumer, relay and webhook
worker, the payments API, worker and notifier), one mailing and one unreadable message are sent
through, and each process's `/metrics` is scraped as Prometheus would scrape the jobs of
deploy/monitoring/prometheus.yml.
"""

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from payments.migrations import MIGRATIONS_DIR as PAYMENTS_MIGRATIONS
from pricing.migrations import MIGRATIONS_DIR as PRICING_MIGRATIONS
from shared.codec import encode
from shared.kafka_admin import ensure_topics
from tests.e2e.conftest import Processes, wait_healthy
from tests.e2e.monitoring_queries import (
    MONITORING,
    PROMETHEUS_OWN,
    exported_names,
    queried_names,
)
from tests.integration.conftest import free_port
from tests.integration.databases import fresh_migrated_database
from tests.support.clients import create_price_lists_now
from tests.support.messages import mailing_sent
from tests.support.price_lists import CREDIT_PRICE_LIST, MAILING_PRICE_LIST
from tests.support.settings import KAFKA, system_env

OPS = "e2e-monitoring-ops-token"
PRICING_ADMIN = "e2e-monitoring-pricing-admin"

# Families that only payment traffic (a charge, a webhook, a reminder e-mail) gives a sample;
# the processes declare them from the start, which is what this test checks for them.
SAMPLED_ONLY_WITH_PAYMENTS = frozenset(
    {
        "payments_outcomes_total",
        "payments_gateway_answers_total",
        "payments_gateway_unavailable_total",
        "payments_notifications_total",
    }
)


def scrape_jobs() -> set[str]:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    return {job["job_name"] for job in config["scrape_configs"]}


@dataclass
class Running:
    prefix: str  # of the topics
    urls: dict[str, str]  # base URL of each process, by scrape job


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """The processes running."""
    prefix = f"e2emon{uuid.uuid4().hex[:8]}."
    pricing_db = asyncio.run(fresh_migrated_database("pricing_e2e_mon", PRICING_MIGRATIONS))
    ledger_db = asyncio.run(fresh_migrated_database("ledger_e2e_mon", LEDGER_MIGRATIONS))
    payments_db = asyncio.run(fresh_migrated_database("payments_e2e_mon", PAYMENTS_MIGRATIONS))
    asyncio.run(ensure_topics(KAFKA, prefix=prefix))
    port = {
        job: free_port()
        for job in (
            *("pricing", "ledger", "consumer", "relay", "webhooks"),
            *("payments", "worker", "notifier"),
        )
    }
    env = system_env(
        prefix=prefix,
        ops_token=OPS,
        pricing_admin_token=PRICING_ADMIN,
        pricing_db=pricing_db,
        pricing_port=port["pricing"],
        ledger_db=ledger_db,
        ledger_port=port["ledger"],
        payments_db=payments_db,
        payments_port=port["payments"],
        metrics_ports={w: port[w] for w in ("consumer", "relay", "webhooks", "worker", "notifier")},
    )

    def url(name: str) -> str:
        return f"http://127.0.0.1:{port[name]}"

    with Processes(env, tmp_path) as services:
        wait_healthy(url("pricing"), services.start("pricing", "pricing", "serve"))
        create_price_lists_now(url("pricing"), PRICING_ADMIN)
        processes = {
            "ledger": services.start("ledger-api", "ledger", "serve"),
            "consumer": services.start("consumer", "ledger", "consume"),
            "relay": services.start("relay", "ledger", "relay"),
            "webhooks": services.start("webhooks", "ledger", "webhooks"),
            "payments": services.start("payments-api", "payments", "serve"),
            "worker": services.start("payment-worker", "payments", "work"),
            "notifier": services.start("notifier", "payments", "notify"),
        }
        for name, process in processes.items():
            wait_healthy(url(name), process, timeout=60)
        yield Running(
            prefix,
            {
                "mailbill-pricing": url("pricing"),
                "mailbill-ledger-api": url("ledger"),
                "mailbill-ledger-consumer": url("consumer"),
                "mailbill-ledger-relay": url("relay"),
                "mailbill-ledger-webhooks": url("webhooks"),
                "mailbill-payments-api": url("payments"),
                "mailbill-payments-worker": url("worker"),
                "mailbill-payments-notifier": url("notifier"),
            },
        )


def send_a_mailing_and_a_poison_message(ledger_url: str, prefix: str) -> None:
    partner = f"mon-{uuid.uuid4().hex[:8]}"
    with httpx.Client(
        base_url=ledger_url, headers={"Authorization": f"Bearer {OPS}"}, timeout=30
    ) as api:
        registered = api.post(
            "/v1/partners",
            json={
                "partner_id": partner,
                "name": partner,
                "credit_price_list_id": CREDIT_PRICE_LIST["id"],
                "mailing_price_list_id": MAILING_PRICE_LIST["id"],
                "billing": {"billing_mode": "prepaid", "reminder_threshold": 100},
            },
        )
        assert registered.status_code == 201, registered.text
        attached = api.post(
            f"/v1/partners/{partner}/customers", json={"customer_id": "c1", "name": "c1"}
        )
        assert attached.status_code == 201, attached.text
        granted = api.post(
            f"/v1/partners/{partner}/credits/grants",
            json={"credits": 10_000, "reason": "monitoring test"},
        )
        assert granted.status_code == 201, granted.text

    async def publish() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=KAFKA, enable_idempotence=True)
        await producer.start()
        try:
            for value in (encode(mailing_sent(partner, "c1", 200)), b"{not json"):
                await producer.send_and_wait(
                    prefix + "mailing.sent", value=value, key=partner.encode()
                )
        finally:
            await producer.stop()

    asyncio.run(publish())


def scrape(urls: dict[str, str]) -> dict[str, str]:
    return {job: httpx.get(f"{url}/metrics", timeout=10).text for job, url in urls.items()}


def wait_for(urls: dict[str, str], job: str, sample: str, timeout: float = 60.0) -> None:
    """Until the job's page has `sample` (a name with its labels) at a value above 0."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in scrape({job: urls[job]})[job].splitlines():
            if line.startswith(sample + " ") and float(line.rsplit(" ", 1)[1]) > 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"{job} never exported {sample} above 0")


def test_every_metric_the_rules_and_the_dashboard_query_is_exported(running: Running) -> None:
    metrics_urls = running.urls
    assert set(metrics_urls) == scrape_jobs(), "prometheus.yml must scrape every process"
    send_a_mailing_and_a_poison_message(metrics_urls["mailbill-ledger-api"], running.prefix)
    consumer = "mailbill-ledger-consumer"
    wait_for(
        metrics_urls, consumer, 'messages_consumed_total{outcome="applied",topic="mailing.sent"}'
    )
    wait_for(
        metrics_urls,
        consumer,
        'messages_consumed_total{outcome="dead_letter",topic="mailing.sent"}',
    )
    wait_for(
        metrics_urls, "mailbill-ledger-relay", 'outbox_published_total{topic="mailing.sent.dlq"}'
    )

    pages = scrape(metrics_urls)
    declared: set[str] = set()
    sampled: set[str] = set()
    for page in pages.values():
        names, with_samples = exported_names(page)
        declared |= names
        sampled |= with_samples

    queried = queried_names()
    checked = set(queried) - PROMETHEUS_OWN
    missing = {name: sorted(queried[name]) for name in checked - declared}
    assert not missing, f"queried but exported by no process: {missing}"
    unsampled = checked - sampled - SAMPLED_ONLY_WITH_PAYMENTS
    assert not unsampled, f"declared but without a sample after a mailing: {sorted(unsampled)}"
