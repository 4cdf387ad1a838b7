"""The worker end to end on PostgreSQL and Kafka, with the fake gateway for the declines and
outages the local Stripe server cannot produce: requests in, one result per request out."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.fake_gateway import FakeGateway
from payments.bootstrap import bootstrap
from payments.domain.outcomes import Outcome
from payments.domain.requests import PaymentRequest, idempotency_key
from payments.entrypoints import run_worker
from payments.service_layer.ports import GatewayUnavailable
from payments.settings import PaymentsSettings
from shared.codec import encode
from tests.integration.conftest import free_port
from tests.integration.payments.conftest import (
    attempt_row,
    healthy_metrics,
    publish,
    purchase_requested,
    read_results,
    unique,
)
from tests.support.settings import KAFKA

DECLINES = {
    "pm_poor": Outcome("failed", "pi_poor", "insufficient_funds", "Insufficient funds.", True),
    "pm_stolen": Outcome("failed", "pi_stolen", "stolen_card", "Your card was declined.", False),
}


OUTAGES = {"pm_flaky": 2}  # calls that find the gateway down before it answers


def script(request: PaymentRequest) -> Outcome:
    method = (request.payment_method or {})["payment_method"]
    if OUTAGES.get(method, 0) > 0:
        OUTAGES[method] -= 1
        raise GatewayUnavailable("fake outage")
    return DECLINES.get(method, Outcome("succeeded", f"pi_{request.request_id}"))


def card(payment_method: str) -> dict[str, str]:
    return {"type": "card", "customer": "cus_1", "payment_method": payment_method}


@dataclass
class Worker:
    settings: PaymentsSettings
    gateway: FakeGateway

    @property
    def requests_topic(self) -> str:
        return self.settings.topic_prefix + "ledger.payment-requests"

    @property
    def results_topic(self) -> str:
        return self.settings.topic_prefix + "payments.results"


@pytest.fixture(scope="module")
async def worker(database_url: str, topics: str) -> AsyncIterator[Worker]:
    settings = PaymentsSettings(
        database_url=database_url,
        kafka_bootstrap_servers=KAFKA,
        topic_prefix=topics,
        consumer_group=unique("payments-worker-test"),
        retry_base_seconds=0.05,
        driver_poll_seconds=0.05,
        relay_poll_seconds=0.05,
        declines_per_method_30_days=1,
        worker_metrics_port=free_port(),
    )
    gateway = FakeGateway(script=script)
    container = bootstrap(settings, gateways={"stripe": gateway})
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(container, stop))
    yield Worker(settings, gateway)
    stop.set()
    await asyncio.wait_for(task, 20)
    await container.close()


async def test_each_request_gets_exactly_one_result(
    worker: Worker, producer: AIOKafkaProducer, engine: AsyncEngine
) -> None:
    ok, poor, stolen, flaky = (unique("pu") for _ in range(4))
    none, small, paypal = (unique("pu") for _ in range(3))
    events = [
        purchase_requested("p1", ok, 1990, card("pm_ok")),
        purchase_requested("p1", poor, 1990, card("pm_poor")),
        purchase_requested("p2", stolen, 1990, card("pm_stolen")),
        purchase_requested("p2", flaky, 5000, card("pm_flaky")),
        purchase_requested("p3", none, 1990, None),
        purchase_requested("p3", small, 49, card("pm_ok")),
        purchase_requested("p3", paypal, 1990, {"type": "paypal"}),
    ]
    duplicate = events[0]  # delivered twice: same message id
    await publish(producer, worker.requests_topic, *events, duplicate)

    results = await read_results(worker.results_topic, {e.data["purchase_id"] for e in events}, 7)

    by_request = {r["request_id"]: r for r in results}
    assert len(results) == 7
    summary = {
        r["request_id"]: (r["status"], r["code"], r["retryable"], r["gateway"], r["amount_minor"])
        for r in results
    }
    assert summary == {
        ok: ("succeeded", None, False, "stripe", 1990),
        poor: ("failed", "insufficient_funds", True, "stripe", 1990),
        stolen: ("failed", "stolen_card", False, "stripe", 1990),
        flaky: ("succeeded", None, False, "stripe", 5000),
        none: ("failed", "no_payment_method", False, "none", 1990),
        small: ("failed", "amount_below_minimum", False, "none", 49),
        paypal: ("failed", "unsupported_payment_method", False, "none", 1990),
    }
    assert by_request[ok]["gateway_reference"] == f"pi_{ok}"
    assert by_request[stolen]["reason"] == "Your card was declined."
    # One charge per request that reached the gateway; the flaky one was tried three times,
    # and each call after an unanswered one looked the payment up first.
    assert sorted(worker.gateway.charges) == sorted(
        idempotency_key(r) for r in (ok, poor, stolen, flaky)
    )
    assert [op for op, key in worker.gateway.calls if key == idempotency_key(flaky)] == [
        "charge",
        "lookup",
        "charge",
        "lookup",
        "charge",
    ]
    assert [op for op, _ in worker.gateway.calls].count("lookup") == 2
    flaky_row = await attempt_row(engine, flaky)
    assert flaky_row is not None and (flaky_row["status"], flaky_row["tries"]) == ("succeeded", 3)
    assert (await attempt_row(engine, ok)) == {
        "status": "succeeded",
        "gateway": "stripe",
        "gateway_reference": f"pi_{ok}",
        "code": None,
        "retryable": None,
        "tries": 1,
    }


async def test_a_request_id_is_charged_once_even_in_a_new_message(
    worker: Worker, producer: AIOKafkaProducer
) -> None:
    purchase_id = unique("pu")
    first = purchase_requested("p4", purchase_id, 1990, card("pm_ok"))
    second = purchase_requested("p4", purchase_id, 1990, card("pm_ok"))
    await publish(producer, worker.requests_topic, first, second)

    results = await read_results(worker.results_topic, {purchase_id}, 1)

    assert [(r["request_id"], r["status"]) for r in results] == [(purchase_id, "succeeded")]
    assert worker.gateway.charges.count(idempotency_key(purchase_id)) == 1


async def test_past_the_decline_limit_the_gateway_is_not_asked(
    worker: Worker, producer: AIOKafkaProducer
) -> None:
    # pm_poor was declined in the first test; this worker allows one decline per 30 days.
    purchase_id = unique("pu")
    await publish(
        producer,
        worker.requests_topic,
        purchase_requested("p1", purchase_id, 1990, card("pm_poor")),
    )

    results = await read_results(worker.results_topic, {purchase_id}, 1)

    assert [(r["status"], r["code"], r["retryable"], r["gateway"]) for r in results] == [
        ("failed", "retry_limit_reached", False, "none")
    ]
    assert idempotency_key(purchase_id) not in [key for _, key in worker.gateway.calls]


async def test_an_unreadable_request_is_kept_as_a_dead_letter(
    worker: Worker, producer: AIOKafkaProducer, engine: AsyncEngine
) -> None:
    marker = unique("broken")
    await producer.send_and_wait(
        worker.requests_topic, b'{"not": "' + marker.encode() + b'"}', key=b"p9"
    )
    bad_type = purchase_requested("p9", unique("pu"), 1990, None)
    wrong = encode(bad_type).replace(b"ledger.purchase_requested", b"mailing.sent")
    await producer.send_and_wait(worker.requests_topic, wrong, key=b"p9")

    reasons: list[str] = []
    for _ in range(100):
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT message, reason FROM dead_letters ORDER BY id")
            )
            reasons = [
                row.reason for row in rows if marker.encode() in row.message or row.message == wrong
            ]
        if len(reasons) == 2:
            break
        await asyncio.sleep(0.1)
    assert len(reasons) == 2
    assert reasons[0] == "'specversion' is a required property"
    assert reasons[1].startswith("$.data")

    # ... and both go out on the dead-letter topic, unchanged, with their reasons.
    dlq = AIOKafkaConsumer(
        worker.requests_topic + ".dlq",
        bootstrap_servers=KAFKA,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await dlq.start()
    letters: list[tuple[bytes, str]] = []
    try:
        for _ in range(50):
            for batch in (await dlq.getmany(timeout_ms=200)).values():
                letters += [(m.value, dict(m.headers)["dlq.reason"].decode()) for m in batch]
            if len(letters) >= 2:
                break
    finally:
        await dlq.stop()
    assert [reason for _, reason in letters] == reasons
    assert letters[1][0] == wrong


async def test_the_worker_serves_its_metrics_and_health(worker: Worker) -> None:
    metrics = await healthy_metrics(worker.settings.worker_metrics_port)
    labels = f'group="{worker.settings.consumer_group}",topic="ledger.payment-requests"'
    for name in (
        "consumer_batch_retries_total",
        "consumer_dead_letters_total",
        "consumer_batch_duration_seconds_count",
    ):
        assert f"{name}{{{labels}}}" in metrics
    assert "consumer_seconds_since_last_commit" in metrics
    assert "outbox_oldest_unpublished_age_seconds" in metrics
    assert 'worker_batch_open_seconds{kind="relay",loop="payments.outbox"}' in metrics
