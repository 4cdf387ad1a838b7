"""Resale contracts and statements: given a partner's events, when a contract changes or a
statement is issued, then these events (or this refusal); and which periods a statement covers."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain import (
    Contract,
    ContractChanged,
    ContractConflict,
    NoContract,
    PartnerAccount,
    StatementConflict,
    StatementIssued,
    UnknownCustomer,
    change_contract,
    issue_statement,
    replay,
)
from ledger.domain.statements import DayUsage, month_bounds, periods_starting_in
from ledger.service_layer.statements import price_statement

from .fakes import FakePlanPricing
from .scenarios import ATTACHED, CUSTOMER, REGISTERED

TERMS: dict[str, Any] = {
    "customer_id": CUSTOMER,
    "price_list_id": "resale",
    "plan_variant_id": "basic",
    "starts_on": date(2026, 10, 10),
    "billing_anchor": date(2026, 10, 1),
    "billing_period": "P1M",
    "booked": {"seats": "2"},
}


def contracted() -> PartnerAccount:
    return replay([REGISTERED, ATTACHED, *change_contract(replay([REGISTERED, ATTACHED]), **TERMS)])


def statement(state: PartnerAccount, start: date, end: date) -> list[Any]:
    return issue_statement(
        state,
        customer_id=CUSTOMER,
        period_start=start,
        period_end=end,
        price_list_id="resale",
        price_list_version=1,
        plan_variant_id="basic",
        currency="EUR",
        total="10.00",
        total_minor=1000,
        mailings=1,
        recipients=10,
        credits=11,
        quote={"total": "10.00"},
    )


def test_a_contract_is_recorded_once_with_its_first_day() -> None:
    state = contracted()
    assert state.contracts[CUSTOMER].first_starts_on == date(2026, 10, 10)
    assert change_contract(state, **TERMS) == []


def test_a_plan_change_keeps_the_first_contract_day() -> None:
    state = contracted()
    events = change_contract(
        state, **{**TERMS, "plan_variant_id": "pro", "starts_on": date(2026, 11, 1)}
    )
    assert [type(e) for e in events] == [ContractChanged]
    after = replay(events, state)
    assert after.contracts[CUSTOMER].plan_variant_id == "pro"
    assert after.contracts[CUSTOMER].first_starts_on == date(2026, 10, 10)


def test_a_contract_change_may_not_reach_back() -> None:
    state = contracted()
    with pytest.raises(ContractConflict):
        change_contract(state, **{**TERMS, "starts_on": date(2026, 10, 9)})
    issued = replay(statement(state, date(2026, 10, 10), date(2026, 11, 1)), state)
    with pytest.raises(ContractConflict):
        change_contract(
            issued, **{**TERMS, "plan_variant_id": "pro", "starts_on": date(2026, 10, 20)}
        )


def test_a_contract_needs_an_attached_customer() -> None:
    with pytest.raises(UnknownCustomer):
        change_contract(replay([REGISTERED]), **TERMS)


def test_a_statement_is_issued_once_and_periods_do_not_overlap() -> None:
    state = contracted()
    events = statement(state, date(2026, 10, 10), date(2026, 11, 1))
    assert [type(e) for e in events] == [StatementIssued]
    after = replay(events, state)
    assert after.statements_through == {CUSTOMER: date(2026, 11, 1)}
    assert statement(after, date(2026, 10, 10), date(2026, 11, 1)) == []
    with pytest.raises(StatementConflict):
        statement(after, date(2026, 10, 20), date(2026, 11, 20))
    assert len(statement(after, date(2026, 11, 1), date(2026, 12, 1))) == 1


def test_a_statement_needs_a_contract() -> None:
    with pytest.raises(NoContract):
        statement(replay([REGISTERED, ATTACHED]), date(2026, 10, 1), date(2026, 11, 1))


def contract(**changes: Any) -> Contract:
    values: dict[str, Any] = {
        "price_list_id": "resale",
        "plan_variant_id": "basic",
        "starts_on": date(2026, 10, 10),
        "billing_anchor": date(2026, 10, 1),
        "billing_period": "P1M",
        "booked": {},
        "first_starts_on": date(2026, 10, 10),
    }
    return Contract(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "month", "periods"),
    [
        ({}, (2026, 9), []),
        ({}, (2026, 10), [(date(2026, 10, 10), date(2026, 11, 1), True)]),
        ({}, (2026, 11), [(date(2026, 11, 1), date(2026, 12, 1), False)]),
        (
            {"billing_anchor": date(2026, 1, 31)},
            (2027, 2),
            [(date(2027, 2, 28), date(2027, 3, 31), False)],
        ),
        (
            {"billing_period": "P1Y", "billing_anchor": date(2026, 10, 10)},
            (2026, 11),
            [],
        ),
        (
            {"billing_period": "P2W", "billing_anchor": date(2026, 10, 10)},
            (2026, 11),
            [
                (date(2026, 11, 7), date(2026, 11, 21), False),
                (date(2026, 11, 21), date(2026, 12, 5), False),
            ],
        ),
    ],
)
def test_the_periods_of_a_month_follow_the_billing_cycles(
    changes: dict[str, Any], month: tuple[int, int], periods: list[tuple[date, date, bool]]
) -> None:
    windows = periods_starting_in(contract(**changes), *month_bounds(*month))
    assert [(w.start, w.end, w.first_invoice) for w in windows] == periods


async def test_a_statement_sends_one_usage_report_per_day_of_its_window() -> None:
    pricing = FakePlanPricing()
    days = [
        DayUsage(date(2026, 10, 5), 9, 9_000, 9_450),  # before the contract: not billed
        DayUsage(date(2026, 10, 12), 2, 300, 315),
        DayUsage(date(2026, 10, 21), 3, 1_500, 1_575),
    ]
    result = await price_statement(
        pricing,
        "p",
        CUSTOMER,
        contract(booked={"seats": "2"}),
        date(2026, 10, 1),
        date(2026, 11, 1),
        days,
    )
    assert pricing.asked == [
        {
            "price_list_id": "resale",
            "plan_variant_id": "basic",
            "period_start": "2026-10-10",
            "period_end": "2026-11-01",
            "billing_anchor": "2026-10-01",
            "first_invoice": True,
            "booked": {"seats": "2"},
            "usage": {"recipients": ["300", "1500"]},
        }
    ]
    assert (result.usage.mailings, result.usage.recipients, result.usage.credits) == (
        5,
        1_800,
        1_890,
    )
    assert sum(Decimal(r) for r in pricing.asked[0]["usage"]["recipients"]) == 1_800


async def test_a_plan_without_metered_recipients_is_quoted_without_usage() -> None:
    pricing = FakePlanPricing(metered=frozenset())
    await price_statement(
        pricing, "p", CUSTOMER, contract(), date(2026, 11, 1), date(2026, 12, 1), []
    )
    assert "usage" not in pricing.asked[0]
    assert pricing.asked[0]["first_invoice"] is False
