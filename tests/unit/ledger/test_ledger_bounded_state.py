"""The account's state keeps only open items, so its size does not grow with its history.

What is closed lives on in the ledger's records (``record_change``), kept here in memory by
the same rule as the service layer's table; the commands that need a closed item get it as
``recorded=``.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import example
from hypothesis import given as for_all
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ledger.domain import (
    Event,
    PartnerAccount,
    PartnerInDebt,
    PaymentResultConflict,
    ReservationConflict,
    ReservationNotActive,
    UnknownCharge,
    UnknownPurchase,
    apply,
    charge_id_for,
    expire_reservations,
    record_charge_failed,
    record_charge_returned,
    record_charge_succeeded,
    record_purchase_failed,
    record_purchase_returned,
    record_purchase_succeeded,
    release,
    request_purchase,
    reserve,
    settle_debt,
)

from .records import (
    Records,
    charge_record,
    keep_records,
    purchase_record,
    records_of,
    reservation_record,
)
from .scenarios import ON_DEMAND, PARTNER, T0, debit, given

CHARGE_MINOR = 60  # above the gateway's minimum (50): a debit requests its charge at once
CARRIED_MINOR = 20  # below it: waits for the next debit's charge
DEBITS = 100_000
CYCLE = 100  # one cycle of business per 100 debits; the pattern repeats exactly


def open_items(state: PartnerAccount) -> int:
    return (
        len(state.holds)
        + len(state.purchases_in_flight)
        + len(state.charges_in_flight)
        + len(state.uncharged_mailing_ids)
        + len(state.customers)
    )


def pickled_size(state: PartnerAccount) -> int:
    """Bytes of the pickled state, its plain counters zeroed: they only change the width of a
    number (the version grows with every event), not the amount the state keeps."""
    return len(pickle.dumps(replace(state, version=0, balance=0)))


def test_the_state_stays_the_same_size_over_100_000_debits() -> None:
    state = given(ON_DEMAND)
    records: Records = {}
    largest = {"holds": 0, "purchases": 0, "charges": 0, "uncharged": 0}
    sizes: list[tuple[int, int, int]] = []  # (version, pickled size, open items)

    def fold(events: list[Event]) -> None:
        nonlocal state
        for event in events:
            state = apply(state, event)
            largest["holds"] = max(largest["holds"], len(state.holds))
            largest["purchases"] = max(largest["purchases"], len(state.purchases_in_flight))
            largest["charges"] = max(largest["charges"], len(state.charges_in_flight))
            largest["uncharged"] = max(largest["uncharged"], len(state.uncharged_mailing_ids))
        keep_records(records, events)

    expected = {"captured": 0, "released": 0, "expired": 0, "failed": 0, "succeeded": 0}
    for n in range(DEBITS):
        now = T0 + timedelta(seconds=n)
        phase = n % CYCLE
        cycle = n // CYCLE
        mailing_id = f"m-{n:06d}"
        reservation_id: str | None = None
        if phase in (10, 20, 30):
            # A hold for a later mailing: captured by it, released, or left to expire.
            ttl = 60 if phase == 30 else 3_600
            rid = f"r-{cycle:04d}-{phase}"
            fold(reserve(state, reservation_id=rid, credits=100, ttl_seconds=ttl, now=now))
        if phase == 45:
            reservation_id = f"r-{cycle:04d}-10"  # captured by this mailing
            expected["captured"] += 1
        if phase == 55:
            fold(release(state, reservation_id=f"r-{cycle:04d}-20"))
            expected["released"] += 1
        if phase == 90:
            # 60 seconds after it was made the hold is over; this debit expires it first.
            reservation_id = f"r-{cycle:04d}-30"
            expected["expired"] += 1
        if phase == 40:
            pid = f"pur-{cycle:04d}"
            fold(
                request_purchase(
                    state,
                    purchase_id=pid,
                    credits=100,
                    amount_minor=80,
                    currency="EUR",
                    price_list_id="credits-eur",
                    price_list_version=1,
                    reason="manual",
                    actor="partner:alice",
                    now=now,
                )
            )
        minor = CARRIED_MINOR if phase == 50 else CHARGE_MINOR
        fold(
            debit(
                state, mailing_id, 100, now=now, reservation_id=reservation_id, charge_minor=minor
            )
        )
        if phase == 40:
            fold(record_purchase_succeeded(state, purchase_id=f"pur-{cycle:04d}"))
        if phase == 50:
            assert state.uncharged_mailing_ids == (mailing_id,)
            continue  # carried into the next mailing's charge
        cid = charge_id_for(PARTNER, mailing_id)
        assert list(state.charges_in_flight) == [cid]
        if phase == 60:
            fold(record_charge_failed(state, charge_id=cid, reason="declined", code=None))
            # The same result again, answered from the record: nothing changes.
            again = record_charge_failed(
                state,
                charge_id=cid,
                reason="declined",
                code=None,
                recorded=charge_record(records, cid),
            )
            assert again == []
            fold(settle_debt(state, by="payment", actor="ops:bob"))
            expected["failed"] += 1
        else:
            fold(record_charge_succeeded(state, charge_id=cid))
            expected["succeeded"] += 1
        if phase == 35:
            # Mid-cycle: the three holds of this cycle are open, nothing else is.
            assert list(state.holds) == [f"r-{cycle:04d}-{p}" for p in (10, 20, 30)]
            sizes.append((state.version, pickled_size(state), open_items(state)))

    assert state.version > 3 * DEBITS
    assert largest == {"holds": 3, "purchases": 1, "charges": 1, "uncharged": 2}
    assert (dict(state.holds), dict(state.purchases_in_flight)) == ({}, {})
    assert (dict(state.charges_in_flight), state.uncharged_mailing_ids) == ({}, ())
    assert (state.held, state.in_debt, state.balance) == (0, False, 100 * (DEBITS // CYCLE))

    # The size after about 1,000 events is the size after all of them.
    early = next(size for size in sizes if size[0] >= 1_000)
    late = sizes[-1]
    assert early[0] < 2_000 and late[0] > DEBITS
    assert (early[1], early[2]) == (late[1], late[2])
    assert {size[1:] for size in sizes} == {early[1:]}

    # What left the state is in the records, each with its final status.
    statuses = {
        kind: sorted({r.status for (k, _), r in records.items() if k == kind})
        for kind in ("reservation", "purchase", "charge")
    }
    assert statuses == {
        "reservation": ["captured", "expired", "released"],
        "purchase": ["succeeded"],
        "charge": ["failed", "succeeded"],
    }
    counted = {status: 0 for status in expected}
    for (kind, _), record in records.items():
        if kind != "purchase":
            counted[record.status] += 1
    assert counted == expected
    assert len(records) == DEBITS - DEBITS // CYCLE + 4 * (DEBITS // CYCLE)


# --- the records say what the old, history-keeping state said --------------------------------

Step = tuple[str, int, int]
RESULTS = ("succeeded", "failed", "returned")

# (action, a, b): ``a`` picks an item (counted from the newest) or scales an amount, ``b`` picks
# a variant. Payment results come up more often, so that items reach their later stages.
ACTIONS = (
    "reserve",
    "reserve_again",
    "release",
    "debit",
    "debit",
    "wait",
    "purchase",
    "purchase_result",
    "purchase_result",
    "charge_result",
    "charge_result",
    "settle",
)
steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 9), st.integers(0, 2)),
    max_size=60,
)


def payment_outcome(status: str, result: str) -> str:
    """The old rule, written out: requested -> succeeded | failed, succeeded -> returned;
    a result already seen (or one the payment has moved past) is a duplicate."""
    if (status, result) in (
        ("requested", "succeeded"),
        ("requested", "failed"),
        ("succeeded", "returned"),
    ):
        return "apply"
    if status == result or (status, result) == ("returned", "succeeded"):
        return "duplicate"
    return "conflict"


class Model:
    """What the state used to keep: every hold, purchase and charge with its status."""

    def __init__(self) -> None:
        self.holds: dict[str, tuple[int, datetime, str]] = {}
        self.purchases: dict[str, str] = {}
        self.charges: dict[str, str] = {}
        self.in_debt = False

    def expire(self, now: datetime) -> None:
        for rid, (credits, expires_at, status) in self.holds.items():
            if status == "active" and now >= expires_at:
                self.holds[rid] = (credits, expires_at, "expired")

    def statuses(self) -> dict[tuple[str, str], str]:
        found = {("reservation", rid): hold[2] for rid, hold in self.holds.items()}
        found |= {("purchase", pid): status for pid, status in self.purchases.items()}
        found |= {("charge", cid): status for cid, status in self.charges.items()}
        return found


def pick(ids: list[str], index: int) -> str | None:
    """One of ``ids``, counted from the newest."""
    return ids[-1 - index % len(ids)] if ids else None


def result_for(
    state: PartnerAccount, records: Records, kind: str, pid: str, result: str
) -> list[Event]:
    if kind == "purchase":
        purchase = purchase_record(records, pid)
        if result == "succeeded":
            return record_purchase_succeeded(state, purchase_id=pid, recorded=purchase)
        if result == "failed":
            return record_purchase_failed(
                state,
                purchase_id=pid,
                reason="declined",
                code=None,
                retryable=True,
                now=T0,
                recorded=purchase,
            )
        return record_purchase_returned(
            state, purchase_id=pid, reason="AM04", code="AM04", recorded=purchase
        )
    charge = charge_record(records, pid)
    if result == "succeeded":
        return record_charge_succeeded(state, charge_id=pid, recorded=charge)
    if result == "failed":
        return record_charge_failed(
            state, charge_id=pid, reason="declined", code=None, recorded=charge
        )
    return record_charge_returned(state, charge_id=pid, reason="MD01", code="MD01", recorded=charge)


# Every stage at least once: a purchase and a charge succeed, are returned, then see a late
# success (duplicate) and a failure (conflict); a failed charge's debt blocks a reservation
# until settled; holds are captured, released twice and left to expire.
EVERY_STAGE: list[Step] = [
    ("purchase", 0, 0),
    ("purchase_result", 0, 0),
    ("purchase_result", 0, 2),
    ("purchase_result", 0, 2),
    ("purchase_result", 0, 0),
    ("purchase_result", 0, 1),
    ("reserve", 0, 1),
    ("debit", 0, 1),
    ("charge_result", 0, 0),
    ("charge_result", 0, 2),
    ("charge_result", 0, 0),
    ("charge_result", 0, 1),
    ("reserve", 1, 0),
    ("settle", 0, 0),
    ("reserve", 1, 0),
    ("release", 0, 0),
    ("release", 0, 0),
    ("reserve_again", 0, 0),
    ("reserve_again", 0, 1),
    ("reserve", 2, 0),
    ("wait", 2, 0),
    ("release", 0, 0),
    ("release", 2, 0),  # the captured one: refused
    ("debit", 0, 0),
    ("charge_result", 0, 1),
    ("charge_result", 0, 1),
    ("charge_result", 0, 0),
]


@hypothesis_settings(max_examples=300, deadline=None)
@for_all(steps=steps)
@example(steps=EVERY_STAGE)
def test_the_records_give_each_item_the_status_the_state_used_to_keep(
    steps: list[Step],
) -> None:
    state = given(ON_DEMAND)
    history: list[Event] = []
    records: Records = {}
    model = Model()
    now = T0
    for number, (action, a, b) in enumerate(steps):
        hold_ids = list(model.holds)
        events: list[Event] = []
        if action == "reserve":
            credits = 100 * (a + 1)
            mailing_id = f"m-{number}" if b else None
            if model.in_debt:
                with pytest.raises(PartnerInDebt):
                    reserve(
                        state,
                        reservation_id=f"r-{number}",
                        credits=credits,
                        ttl_seconds=1_800,
                        now=now,
                    )
            else:
                events = reserve(
                    state,
                    reservation_id=f"r-{number}",
                    credits=credits,
                    ttl_seconds=1_800,
                    now=now,
                    mailing_id=mailing_id,
                )
                model.expire(now)
                model.holds[f"r-{number}"] = (credits, now + timedelta(seconds=1_800), "active")
        elif action == "reserve_again" and (rid := pick(hold_ids, a)) is not None:
            recorded = reservation_record(records, rid)
            assert recorded is not None
            credits = recorded.credits + (1 if b == 1 else 0)
            mailing_id = "m-other" if b == 2 else recorded.mailing_id
            if b == 0:  # the same request again, whatever became of the hold
                assert (
                    reserve(
                        state,
                        reservation_id=rid,
                        credits=credits,
                        ttl_seconds=1_800,
                        now=now,
                        mailing_id=mailing_id,
                        recorded=recorded,
                    )
                    == []
                )
            else:
                with pytest.raises(ReservationConflict):
                    reserve(
                        state,
                        reservation_id=rid,
                        credits=credits,
                        ttl_seconds=1_800,
                        now=now,
                        mailing_id=mailing_id,
                        recorded=recorded,
                    )
        elif action == "release" and (rid := pick(hold_ids, a)) is not None:
            recorded = reservation_record(records, rid)
            status = model.holds[rid][2]
            if status == "captured":
                with pytest.raises(ReservationNotActive):
                    release(state, reservation_id=rid, recorded=recorded)
            else:
                events = release(state, reservation_id=rid, recorded=recorded)
                assert (events == []) == (status != "active")
                credits, expires_at, _ = model.holds[rid]
                model.holds[rid] = (
                    credits,
                    expires_at,
                    "released" if status == "active" else status,
                )
        elif action == "debit":
            rid = pick(hold_ids, a) if b else None
            events = debit(state, f"m-{number}", 100, now=now, reservation_id=rid, charge_minor=60)
            model.expire(now)
            if rid is not None and model.holds[rid][2] == "active":
                credits, expires_at, _ = model.holds[rid]
                model.holds[rid] = (credits, expires_at, "captured")
            model.charges[charge_id_for(PARTNER, f"m-{number}")] = "requested"
        elif action == "wait":
            now += timedelta(minutes=10 * (a + 1))
            events = expire_reservations(state, now)
            model.expire(now)
        elif action == "purchase":
            events = request_purchase(
                state,
                purchase_id=f"pur-{number}",
                credits=100 * (a + 1),
                amount_minor=80 * (a + 1),
                currency="EUR",
                price_list_id="credits-eur",
                price_list_version=1,
                reason="manual",
                actor="partner:alice",
                now=now,
            )
            model.purchases[f"pur-{number}"] = "requested"
        elif action in ("purchase_result", "charge_result"):
            kind = "purchase" if action == "purchase_result" else "charge"
            payments = model.purchases if kind == "purchase" else model.charges
            pid = pick(list(payments), a)
            if pid is not None:
                result = RESULTS[b]
                outcome = payment_outcome(payments[pid], result)
                if outcome == "conflict":
                    with pytest.raises(PaymentResultConflict):
                        result_for(state, records, kind, pid, result)
                else:
                    events = result_for(state, records, kind, pid, result)
                    assert (events == []) == (outcome == "duplicate")
                if outcome == "apply":
                    payments[pid] = result
                    model.in_debt = model.in_debt or (kind == "charge" and result != "succeeded")
        elif action == "settle":
            events = settle_debt(state, by="payment", actor="ops:bob")
            assert (events != []) == model.in_debt
            model.in_debt = False
        history += events
        for event in events:
            state = apply(state, event)
        keep_records(records, events)

        found = {(kind, rid): record.status for (kind, rid), record in records.items()}
        assert found == model.statuses()
        # Open in the state exactly when open in the records, and the same item.
        assert dict(state.holds) == {
            rid: r for (k, rid), r in records.items() if k == "reservation" and r.status == "active"
        }
        assert dict(state.purchases_in_flight) == {
            pid: r for (k, pid), r in records.items() if k == "purchase" and r.status == "requested"
        }
        assert dict(state.charges_in_flight) == {
            cid: r for (k, cid), r in records.items() if k == "charge" and r.status == "requested"
        }
        assert state.in_debt == model.in_debt
    assert records_of(history) == records
    # A result for a closed item without its record is refused: the state no longer knows it.
    for (kind, item_id), record in records.items():
        if kind != "reservation" and record.status != "requested":
            with pytest.raises((UnknownPurchase, UnknownCharge), match=item_id):
                if kind == "purchase":
                    record_purchase_succeeded(state, purchase_id=item_id)
                else:
                    record_charge_succeeded(state, charge_id=item_id)
