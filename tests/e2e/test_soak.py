"""The fault soak (tests/soak/soak.py), short: every fault kind once against the whole system,
then every check; and the checks themselves, on planted mistakes."""

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.soak.soak import (
    BASELINE,
    FAULTS,
    MINIMUM_CHARGE_MINOR,
    Partner,
    SoakConfig,
    check_partner,
    run_soak,
)
from tests.support.price_lists import credits_for, price_minor


def test_a_short_soak_through_every_fault_loses_and_doubles_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    report = asyncio.run(run_soak(SoakConfig.short(seed=3), tmp_path))
    print(report.render())
    print(f"short soak inside pytest: {time.monotonic() - started:.0f}s")
    assert report.recoveries[0].fault == BASELINE
    assert sorted(r.fault for r in report.recoveries[1:]) == sorted(FAULTS)
    assert report.counts["mailings"] == report.config.mailings
    assert report.counts["redeliveries"] > 0 and report.counts["holds"] > 0
    assert report.counts["auto_purchases"] > 0 and report.counts["charges"] > 0
    assert not report.failures, "\n".join(report.failures)


def _event(kind: str, **payload: Any) -> dict[str, Any]:
    return {"type": kind, "payload": payload}


def _debit(mailing_id: str, credits: int, charge_minor: int | None = None) -> dict[str, Any]:
    return _event(
        "MailingDebited",
        mailing_id=mailing_id,
        credits=credits,
        reservation_id=None,
        captured_credits=0,
        charge_minor=charge_minor,
    )


def test_the_oracle_rounds_once_half_up() -> None:
    assert [credits_for(n) for n in (5000, 10, 1, 0)] == [5250, 11, 1, 0]
    # Volume tiers of the credit price list: 0.01 up to 10,000, 0.008 up to 100,000.
    assert [price_minor(n) for n in (50, 10_000, 20_000)] == [50, 10_000, 16_000]


def test_the_checks_see_a_doubled_a_lost_a_mispriced_debit_and_a_wrong_balance() -> None:
    partner = Partner("p", "manual", grant=10_000, mailings={"m1": 100, "m2": 10, "m3": 1})
    events = [_debit("m1", 105), _debit("m1", 105), _debit("m3", 2)]
    failures = check_partner(partner, events, {"balance": 9_893, "held": 0, "debt": 0})
    assert len(failures) == 4, failures
    assert "debited twice" in failures[0]
    assert "never debited" in failures[1] and "m2" in failures[1]
    assert "wrong price" in failures[2] and "m3" in failures[2]
    assert "expected 9883" in failures[3]

    right = [_debit("m1", 105), _debit("m2", 11), _debit("m3", 1)]
    assert check_partner(partner, right, {"balance": 9_883, "held": 0, "debt": 0}) == []


def test_the_checks_see_a_purchase_credited_twice_and_a_charge_paid_twice() -> None:
    buyer = Partner("b", "manual", grant=0, purchases={"key-1": ("b:purchase:1", 5_000)})
    request = _event(
        "PurchaseRequested",
        purchase_id="b:purchase:1",
        credits=5_000,
        amount_minor=5_000,
        reason="manual",
    )
    paid = _event("PurchaseSucceeded", purchase_id="b:purchase:1", credits=5_000)
    failures = check_partner(buyer, [request, paid, paid], {"balance": 10_000, "held": 0})
    assert any("credited 2 times" in f for f in failures), failures
    assert check_partner(buyer, [request, paid], {"balance": 5_000, "held": 0}) == []

    payer = Partner("d", "on_demand", grant=0, mailings={"m1": 1_000})
    cost = credits_for(1_000)
    charge = _event(
        "ChargeRequested", charge_id="d:charge:m1", amount_minor=cost, mailing_ids=["m1"]
    )
    settled = _event("ChargeSucceeded", charge_id="d:charge:m1")
    debit = _debit("m1", cost, price_minor(cost))
    assert cost >= MINIMUM_CHARGE_MINOR
    nothing_owed = {"balance": 0, "held": 0, "debt": 0}
    failures = check_partner(payer, [debit, charge, settled, settled], nothing_owed)
    assert failures == ["d: charge d:charge:m1 paid 2 times"]
    assert check_partner(payer, [debit], nothing_owed) == [f"d: {cost} cents due but never charged"]
