"""Which periods a customer's statements cover: billing cycles of a resale contract.

The pricing service prices a period; the ledger decides which period a statement is for. A
contract's cycles start at its billing anchor and follow its plan variant's billing period
(``P1M``, ``P3M``, ``P1Y``, ``P2W``, ``P30D``: months or days). Adding months keeps the
anchor's day, clamped to the month's end and always counted from the anchor, as the pricing
service does (Jan 31 + 1 month = Feb 28, + 2 months = Mar 31).

A statement never starts before the customer's first contract: the first period runs from
that day to the end of its cycle (shorter than the cycle, so the pricing service prorates its
recurring fees by days) and is the contract's first invoice (the setup fee).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from .errors import InvalidCommand
from .partner_account import Contract

_PERIOD = re.compile(r"P(?:([0-9]{1,4})Y)?(?:([0-9]{1,4})M)?(?:([0-9]{1,4})W)?(?:([0-9]{1,5})D)?")


@dataclass(frozen=True, slots=True)
class DayUsage:
    """A customer's usage on one UTC day (of the mailings' ``sent_at``)."""

    day: date
    mailings: int
    recipients: int
    credits: int


@dataclass(frozen=True, slots=True)
class UsageTotals:
    mailings: int
    recipients: int
    credits: int

    @staticmethod
    def of(days: list[DayUsage]) -> UsageTotals:
        return UsageTotals(
            sum(d.mailings for d in days),
            sum(d.recipients for d in days),
            sum(d.credits for d in days),
        )


@dataclass(frozen=True, slots=True)
class BillingPeriod:
    """Whole months or whole days (exactly one is non-zero)."""

    months: int
    days: int

    def add_to(self, anchor: date, count: int) -> date:
        """``anchor`` moved by ``count`` periods, month ends clamped."""
        if self.days:
            return anchor + timedelta(days=self.days * count)
        index = anchor.year * 12 + anchor.month - 1 + self.months * count
        year, month = divmod(index, 12)
        return date(year, month + 1, min(anchor.day, calendar.monthrange(year, month + 1)[1]))


def parse_billing_period(text: str) -> BillingPeriod:
    """``P1M`` -> 1 month, ``P1Y`` -> 12 months, ``P2W`` -> 14 days."""
    match = _PERIOD.fullmatch(text)
    if match is None or text == "P":
        raise InvalidCommand(f"billing period must be an ISO 8601 duration like P1M; got {text!r}")
    years, months, weeks, days = (int(g or 0) for g in match.groups())
    total_months, total_days = years * 12 + months, weeks * 7 + days
    if (total_months == 0) == (total_days == 0):
        raise InvalidCommand(f"billing period must be months or days, not both or none: {text!r}")
    return BillingPeriod(total_months, total_days)


def cycle_containing(anchor: date, period: BillingPeriod, day: date) -> tuple[date, date]:
    """The billing cycle ``[start, end)`` anchored at ``anchor`` that holds ``day``."""
    if period.days:
        count = (day - anchor).days // period.days
    else:
        count = ((day.year - anchor.year) * 12 + day.month - anchor.month) // period.months
        # The month estimate is one period late while the anchor's day is not reached yet.
        if period.add_to(anchor, count) > day:
            count -= 1
    return period.add_to(anchor, count), period.add_to(anchor, count + 1)


def first_day_of_month(day: date) -> date:
    return day.replace(day=1)


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """``[first day, first day of the next month)``."""
    start = date(year, month, 1)
    return start, (start + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True, slots=True)
class StatementWindow:
    """The part of a requested period a contract covers, and whether it is the first invoice."""

    start: date
    end: date
    first_invoice: bool


def statement_window(contract: Contract, period_start: date, period_end: date) -> StatementWindow:
    """The requested ``[period_start, period_end)`` less the days before the first contract.

    Raises ``InvalidCommand`` for an empty period or one that ends before the contract began.
    """
    if period_end <= period_start:
        raise InvalidCommand("period_end must be after period_start")
    start = max(period_start, contract.first_starts_on)
    if start >= period_end:
        raise InvalidCommand(
            f"the contract starts on {contract.first_starts_on.isoformat()}, after the period"
        )
    return StatementWindow(start, period_end, start == contract.first_starts_on)


def periods_starting_in(
    contract: Contract, month_start: date, month_end: date
) -> list[StatementWindow]:
    """The statement periods of ``contract`` that start in ``[month_start, month_end)``:
    each billing cycle starting then (the first one cut to the contract's start)."""
    period = parse_billing_period(contract.billing_period)
    first = max(month_start, contract.first_starts_on)
    if first >= month_end:
        return []
    windows = []
    cycle = cycle_containing(contract.billing_anchor, period, first)
    while cycle[0] < month_end:
        start = max(cycle[0], contract.first_starts_on)
        if month_start <= start < month_end:
            windows.append(StatementWindow(start, cycle[1], start == contract.first_starts_on))
        cycle = (cycle[1], cycle_containing(contract.billing_anchor, period, cycle[1])[1])
    return windows
