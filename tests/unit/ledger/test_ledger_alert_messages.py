"""Which messages the balance alerts and a declined charge send: each crossing and each
recovery once, as the messages the relay publishes (decoded, so each is checked against its
JSON Schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger.domain import (
    BalanceThresholdArmed,
    ChargeReturned,
    CreditsGranted,
    Event,
    PartnerAccount,
    PurchaseReturned,
    ReminderArmed,
    apply,
    grant_credits,
    record_charge_failed,
    replay,
)
from ledger.service_layer.outgoing_messages import outgoing_messages
from ledger.service_layer.webhooks import WEBHOOK_EVENT_TYPES
from shared.codec import decode
from shared.topics import NOTIFICATIONS

from .scenarios import ON_DEMAND, debit, given
from .test_ledger_alerts import levels, of
from .test_ledger_on_demand import charge

AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def sent(state: PartnerAccount, events: list[Event]) -> list[tuple[str, dict[str, Any]]]:
    """The (type, data) of the messages ``events`` send, in order, as consumers read them."""
    found: list[tuple[str, dict[str, Any]]] = []
    for event in events:
        state = apply(state, event)
        for message in outgoing_messages(state, state.version, event, AT):
            assert message.value is not None
            decoded = decode(message.value, list(message.headers))
            found.append((decoded.type, decoded.data))
    return found


def alerts(messages: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, int, int]]:
    return [(kind, data["threshold"], data["balance"]) for kind, data in messages]


def falls_and_recovers(
    state: PartnerAccount, *, reminder: int, level: int, fall: int, climb: int
) -> None:
    """A fall below the reminder's threshold and a level, then a climb above both: one
    message each way for each."""
    down = debit(state, "m-fall", fall)
    low = state.balance - fall
    assert alerts(sent(state, down)) == [
        ("ledger.low_balance_reached", reminder, low),
        ("ledger.balance_threshold_crossed", level, low),
    ]
    state = replay(down, state)
    up = grant_credits(state, credits=climb, reason="top-up", actor="ops")
    assert alerts(sent(state, up)) == [
        ("ledger.balance_recovered", reminder, low + climb),
        ("ledger.balance_recovered", level, low + climb),
    ]


def test_the_single_reminder_threshold_recovers_with_a_message() -> None:
    state = given(CreditsGranted(credits=1_500, reason="welcome", actor="ops"))
    state = replay(levels(state, reminder=1_000), state)

    fall = debit(state, "m-1", 600)  # 1,500 -> 900
    assert alerts(sent(state, fall)) == [("ledger.low_balance_reached", 1_000, 900)]
    state = replay(fall, state)

    climb = grant_credits(state, credits=300, reason="top-up", actor="ops")  # 900 -> 1,200
    [(kind, data)] = sent(state, climb)
    assert (kind, data["threshold"], data["balance"]) == ("ledger.balance_recovered", 1_000, 1_200)
    assert (data["partner_id"], data["locale"]) == (state.partner_id, "de")


def test_a_value_in_both_the_reminder_and_the_levels_alerts_once_per_crossing() -> None:
    state = given(CreditsGranted(credits=3_000, reason="welcome", actor="ops"))
    state = replay(levels(state, 1_000, 2_000, reminder=1_000), state)
    assert (state.reminder_threshold, state.reminder_thresholds) == (1_000, (2_000,))
    # 3,000 -> 500 passes 2,000 and 1,000 once each; -> 2,500 is above both again.
    falls_and_recovers(state, reminder=1_000, level=2_000, fall=2_500, climb=2_000)


def test_a_level_set_above_the_balance_is_reached_silently_then_alerts_and_recovers() -> None:
    state = given()  # a new partner: balance 0
    state = replay(levels(state, 1_000, reminder=500), state)

    first = grant_credits(state, credits=2_000, reason="top-up", actor="ops")  # 0 -> 2,000
    assert first[1:] == [
        ReminderArmed(balance=2_000, threshold=500),
        BalanceThresholdArmed(threshold=1_000, balance=2_000),
    ]
    assert sent(state, first) == []  # nothing fell, so nothing recovered
    state = replay(first, state)
    assert (state.reminder_armed, state.thresholds_below) == (True, ())
    # Armed now: 2,000 -> 300 fires both, -> 1,300 recovers both.
    falls_and_recovers(state, reminder=500, level=1_000, fall=1_700, climb=1_000)


def test_an_alert_that_fired_still_recovers_after_the_settings_are_saved_again() -> None:
    state = given(CreditsGranted(credits=3_000, reason="welcome", actor="ops"))
    state = replay(levels(state, 2_000, 1_000), state)
    state = replay(debit(state, "m-1", 2_500), state)  # 3,000 -> 500: both fired
    # Saved again: 2,000 kept as a level, 1,000 now the reminder's threshold, 800 new.
    state = replay(levels(state, 2_000, 800, reminder=1_000), state)
    assert (state.reminder_fired, state.thresholds_fired) == (True, (2_000,))

    climb = grant_credits(state, credits=2_000, reason="top-up", actor="ops")  # 500 -> 2,500
    assert alerts(sent(state, climb)) == [
        ("ledger.balance_recovered", 1_000, 2_500),
        ("ledger.balance_recovered", 2_000, 2_500),
    ]
    assert of(climb, BalanceThresholdArmed) == [BalanceThresholdArmed(threshold=800, balance=2_500)]


def test_a_declined_charge_is_sent_once_as_charge_failed() -> None:
    requested = charge("ch-1", 5_250, 2_100, "m-1")
    state = given(ON_DEMAND, requested)
    declined = record_charge_failed(state, charge_id="ch-1", reason="expired card", code="expired")
    assert sent(state, declined) == [
        (
            "ledger.charge_failed",
            {
                "partner_id": state.partner_id,
                "charge_id": "ch-1",
                "reason": "expired card",
                "code": "expired",
                "locale": "de",
                "occurred_at": AT.isoformat(),
            },
        )
    ]
    # On the topic the notifier mails from, and a type partners may subscribe webhooks to.
    state = apply(state, declined[0])
    [message] = outgoing_messages(state, state.version, declined[0], AT)
    assert message.topic == NOTIFICATIONS.name
    assert "ledger.charge_failed" in WEBHOOK_EVENT_TYPES
    # A gateway that gives no reason: the message says "declined".
    silent = record_charge_failed(
        given(ON_DEMAND, requested), charge_id="ch-1", reason=None, code=None
    )
    [(_, data)] = sent(given(ON_DEMAND, requested), silent)
    assert (data["reason"], data["code"]) == ("declined", None)


def test_a_reversed_purchase_and_a_reversed_charge_are_sent_with_what_was_reversed() -> None:
    state = given(ON_DEMAND)
    reversed_purchase = PurchaseReturned(
        purchase_id="pu-1", credits=25_000, amount_minor=20_000, reason=None, code="MD01"
    )
    reversed_charge = ChargeReturned(
        charge_id="ch-1", credits=5_250, amount_minor=2_100, reason="chargeback", code=None
    )
    common = {"currency": "EUR", "locale": "de", "occurred_at": AT.isoformat()}
    assert sent(state, [reversed_purchase, reversed_charge]) == [
        (
            "ledger.purchase_returned",
            {
                "partner_id": state.partner_id,
                "purchase_id": "pu-1",
                "credits": 25_000,
                "amount_minor": 20_000,
                "reason": "returned",  # the gateway gave none
                "code": "MD01",
                **common,
            },
        ),
        (
            "ledger.charge_returned",
            {
                "partner_id": state.partner_id,
                "charge_id": "ch-1",
                "credits": 5_250,
                "amount_minor": 2_100,
                "reason": "chargeback",
                "code": None,
                **common,
            },
        ),
    ]
    # Mailed from ledger.notifications, and types a partner's webhooks may subscribe to.
    assert {"ledger.purchase_returned", "ledger.charge_returned"} <= WEBHOOK_EVENT_TYPES
    assert {"ledger.purchase_returned", "ledger.charge_returned"} <= set(
        NOTIFICATIONS.message_types
    )
