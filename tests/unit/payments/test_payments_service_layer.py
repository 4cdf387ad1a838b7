"""The payments use cases on in-memory fakes of every port: given these records, when the use
case runs, then these attempts, results and mails."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from devtools.fake_gateway import FakeGateway
from payments.domain.outcomes import Outcome
from payments.domain.requests import PaymentRequest, idempotency_key
from payments.domain.sepa import BankEntry
from payments.service_layer.bank_files import apply_bank_entries
from payments.service_layer.charging import PaymentDriver, RecordRequests
from payments.service_layer.ports import GatewayUnavailable, MailNotAccepted
from payments.service_layer.reminders import RecordNotifications, ReminderSender
from payments.service_layer.webhooks import apply_stripe_event
from shared.codec import decode, encode
from shared.envelope import CloudEvent
from shared.messaging.inbox import IncomingRecord
from tests.unit.payments.fakes import FakeLocks, FakeMailSender, FakeStore

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CARD = {"type": "card", "customer": "cus_1", "payment_method": "pm_1"}


class Crashed(Exception):
    """The process died here."""


class CrashAfterGateway:
    async def after_gateway_answered(self, request_id: str) -> None:
        raise Crashed(request_id)


def purchase(purchase_id: str, amount_minor: int = 1990, method: Any = CARD) -> IncomingRecord:
    event = CloudEvent.new(
        "ledger.purchase_requested",
        "/ledger",
        {
            "partner_id": "p1",
            "purchase_id": purchase_id,
            "credits": amount_minor,
            "amount_minor": amount_minor,
            "currency": "EUR",
            "reason": "auto",
            "payment_method": method,
            "requested_at": NOW.isoformat(),
        },
        subject="p1",
    )
    return IncomingRecord("ledger.payment-requests", 0, 0, b"p1", encode(event))


def results(store: FakeStore) -> list[tuple[str, str, str | None]]:
    data = [decode(m.value).data for m in store.tables.outbox]
    return [(d["request_id"], d["status"], d["code"]) for d in data]


def driver(store: FakeStore, gateway: FakeGateway, **options: Any) -> PaymentDriver:
    return PaymentDriver(
        store.unit_of_work,
        FakeLocks(),
        {"stripe": gateway},
        retry_base_seconds=2,
        retry_max_seconds=600,
        clock=lambda: NOW,
        **options,
    )


async def record(store: FakeStore, *records: IncomingRecord) -> None:
    recorder = RecordRequests(minimum_charge_minor=50, declines_limit=8, clock=lambda: NOW)
    async with store.unit_of_work() as uow:
        await recorder.handle(uow, records)


async def test_requests_are_recorded_once_and_refusals_answered_without_a_gateway() -> None:
    store = FakeStore(NOW)

    await record(store, purchase("pu1"), purchase("pu1"), purchase("pu2", 49), purchase("pu3"))

    attempts = {k: (r.attempt.gateway, r.attempt.status) for k, r in store.tables.attempts.items()}
    assert attempts == {
        "pu1": ("stripe", "charging"),
        "pu2": ("none", "failed"),
        "pu3": ("stripe", "charging"),
    }
    assert results(store) == [("pu2", "failed", "amount_below_minimum")]


async def test_an_answer_lost_in_a_crash_is_looked_up_not_charged_again() -> None:
    store, gateway = FakeStore(NOW), FakeGateway()
    await record(store, purchase("pu1"))

    with pytest.raises(Crashed):
        await driver(store, gateway, faults=CrashAfterGateway()).drive("pu1")

    # Charged, but the answer never reached the database.
    assert gateway.charges == [idempotency_key("pu1")]
    assert store.tables.attempts["pu1"].attempt.status == "charging"
    assert results(store) == []

    assert await driver(store, gateway).drive("pu1") == "succeeded"

    assert [op for op, _ in gateway.calls] == ["charge", "lookup"]
    assert gateway.charges == [idempotency_key("pu1")]
    assert store.tables.attempts["pu1"].attempt.tries == 2
    assert results(store) == [("pu1", "succeeded", None)]


async def test_without_a_fault_injector_the_answer_is_recorded_at_once() -> None:
    store, gateway = FakeStore(NOW), FakeGateway()
    await record(store, purchase("pu1"))

    assert await driver(store, gateway).drive_due() == 1

    assert [op for op, _ in gateway.calls] == ["charge"]
    assert results(store) == [("pu1", "succeeded", None)]


async def test_an_unanswered_gateway_keeps_the_attempt_charging_for_later() -> None:
    def outage(request: PaymentRequest) -> Outcome:
        raise GatewayUnavailable("503")

    store, gateway = FakeStore(NOW), FakeGateway(script=outage)
    await record(store, purchase("pu1"))

    assert await driver(store, gateway).drive("pu1") is None

    row = store.tables.attempts["pu1"]
    assert (row.attempt.status, row.attempt.tries, row.last_error) == ("charging", 1, "503")
    assert row.next_try_at == NOW + timedelta(seconds=2)
    assert results(store) == []


async def test_an_attempt_another_process_holds_is_left_alone() -> None:
    store, gateway = FakeStore(NOW), FakeGateway()
    await record(store, purchase("pu1"))
    locks = FakeLocks()
    busy = PaymentDriver(
        store.unit_of_work, locks, {"stripe": gateway}, retry_base_seconds=2, retry_max_seconds=2
    )

    async with locks.hold("pu1"):
        assert await busy.drive("pu1") is None

    assert gateway.calls == []


async def test_a_webhook_event_takes_effect_once() -> None:
    store = FakeStore(NOW)
    await record(store, purchase("pu1"))
    async with store.unit_of_work() as uow:
        await uow.attempts.save_outcome("pu1", "pending", Outcome("pending", "pi_1"))
    settled = {
        "id": "evt_1",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_1", "status": "succeeded"}},
    }
    foreign = {**settled, "id": "evt_2", "data": {"object": {"id": "pi_x", "status": "succeeded"}}}

    statuses = []
    for event in (settled, settled, foreign):
        async with store.unit_of_work() as uow:
            statuses.append(await apply_stripe_event(uow, event, NOW))

    assert statuses == ["succeeded", None, None]
    assert results(store) == [("pu1", "succeeded", None)]


async def test_a_bank_file_read_twice_changes_nothing_the_second_time() -> None:
    store = FakeStore(NOW)
    await record(store, purchase("pu1"), purchase("pu2"))
    store.tables.collections = {"E2E1": "pu1", "E2E2": "pu2"}
    entries = [BankEntry("booked", "E2E1", None), BankEntry("rejected", "E2E2", "MD01", "mandate")]

    first = await apply_bank_entries(store.unit_of_work, entries, NOW)
    again = await apply_bank_entries(store.unit_of_work, entries, NOW)

    assert first == [("pu1", "succeeded"), ("pu2", "failed")]
    assert again == []
    assert results(store) == [("pu1", "succeeded", None), ("pu2", "failed", "MD01")]


def outcomes_counted(status: str) -> float:
    return REGISTRY.get_sample_value("payments_outcomes_total", {"status": status}) or 0.0


async def test_status_changes_are_counted_for_monitoring_repeats_are_not() -> None:
    store = FakeStore(NOW)
    await record(store, purchase("pu1"), purchase("pu2"))
    store.tables.collections = {"E2E1": "pu1", "E2E2": "pu2"}
    entries = [BankEntry("booked", "E2E1", None), BankEntry("rejected", "E2E2", "MD01", "mandate")]
    before = {status: outcomes_counted(status) for status in ("succeeded", "failed")}

    await apply_bank_entries(store.unit_of_work, entries, NOW)
    await apply_bank_entries(store.unit_of_work, entries, NOW)

    assert {s: outcomes_counted(s) - before[s] for s in before} == {"succeeded": 1, "failed": 1}


def notification(event_type: str, partner_id: str, **data: Any) -> IncomingRecord:
    event = CloudEvent.new(
        event_type, "/ledger", {"partner_id": partner_id, "occurred_at": NOW.isoformat(), **data}
    )
    return IncomingRecord("ledger.notifications", 0, 0, partner_id.encode(), encode(event))


async def test_reminders_are_sent_at_most_once_and_refusals_retried_or_given_up() -> None:
    store = FakeStore(NOW)
    low = {"balance": 980, "threshold": 1000, "locale": "de"}
    records = [
        notification("ledger.low_balance_reached", partner, **low)
        for partner in ("ok", "busy", "gone", "lost")
    ]
    expired = notification("ledger.reservation_expired", "ok", reservation_id="r1", credits=5)
    async with store.unit_of_work() as uow:
        await RecordNotifications("billing+{partner_id}@example.com", "Acme").handle(
            uow, [*records, expired]
        )
    mail = FakeMailSender(
        refuse={
            "billing+busy@example.com": MailNotAccepted("451 try later", permanent=False),
            "billing+gone@example.com": MailNotAccepted("550 no mailbox", permanent=True),
        },
        lose={"billing+lost@example.com"},
    )
    sender = ReminderSender(
        store.unit_of_work, mail, sender="billing@mb.example", clock=lambda: NOW
    )

    assert await sender.send_due() == 4
    assert await sender.send_due() == 0

    status = {m.notification.partner_id: m.status for m in store.tables.mails.values()}
    assert status == {"ok": "sent", "busy": "pending", "gone": "failed", "lost": "sending"}
    handed_over = [str(m["To"]) for m in mail.sent]
    assert handed_over == ["billing+ok@example.com", "billing+lost@example.com"]
    assert mail.sent[0]["Subject"] == "Acme: Ihr Guthaben ist niedrig"
    assert mail.sent[0]["Message-ID"] == f"<{decode(records[0].value).id}@mb.example>"
