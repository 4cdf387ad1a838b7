"""Billing and fee periods as ISO 8601 durations (``P1M``, ``P3M``, ``P1Y``, ``P1W``, ``P14D``).

A period is either calendar months (years count as 12 months) or days (weeks count as 7
days), never both: a month has no fixed number of days, so ``P1M15D`` could not be compared
with other periods or turned into a fee multiplier. Time parts (``PT1H``) are not supported:
billing happens in whole days. The canonical text is the largest unit that fits: ``P12M`` is
written ``P1Y``, ``P14D`` is written ``P2W``.

Adding months keeps the day of the month, clamped to the month's end, and is always counted
from the anchor (Stripe's billing-cycle anchor): Jan 31 + 1 month = Feb 28 (or 29), Jan 31 +
2 months = Mar 31.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from .errors import InvalidDefinition, InvalidInput, PricingError

MAX_MONTHS = 1200
MAX_DAYS = 36_600

_ISO_DURATION = re.compile(r"P(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)W)?(?:([0-9]+)D)?")


@dataclass(frozen=True, slots=True)
class Period:
    """A length of time in whole calendar months or whole days (exactly one is non-zero)."""

    months: int = 0
    days: int = 0

    def __post_init__(self) -> None:
        for name, value, limit in (
            ("months", self.months, MAX_MONTHS),
            ("days", self.days, MAX_DAYS),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
                raise InvalidDefinition("$", f"{name} must be a whole number from 0 to {limit}")
        if (self.months == 0) == (self.days == 0):
            raise InvalidDefinition(
                "$", "a period is a number of months or of days, not both or none"
            )

    def __str__(self) -> str:
        if self.months:
            return f"P{self.months // 12}Y" if self.months % 12 == 0 else f"P{self.months}M"
        return f"P{self.days // 7}W" if self.days % 7 == 0 else f"P{self.days}D"

    def multiple_of(self, other: Period) -> int | None:
        """How many ``other`` periods make up this one exactly (P1Y of P1M: 12), else ``None``.

        ``None`` also when one counts months and the other days (not comparable).
        """
        if self.months and other.months and self.months % other.months == 0:
            return self.months // other.months
        if self.days and other.days and self.days % other.days == 0:
            return self.days // other.days
        return None

    def add_to(self, start: date, count: int = 1) -> date:
        """``start`` moved by ``count`` periods (negative: back), month ends clamped."""
        try:
            if self.days:
                return start + timedelta(days=self.days * count)
            month_index = start.year * 12 + start.month - 1 + self.months * count
            year, month = divmod(month_index, 12)
            last_day = calendar.monthrange(year, month + 1)[1]
            return date(year, month + 1, min(start.day, last_day))
        except (OverflowError, ValueError):
            raise InvalidInput(
                "$", f"{start.isoformat()} + {count} x {self} is out of the calendar"
            ) from None


def parse_period(value: object, path: str, error: type[PricingError] = InvalidDefinition) -> Period:
    """Read an ISO 8601 duration such as ``"P1M"``, ``"P1Y"``, ``"P2W"``, ``"P30D"``.

    A ``Period`` is passed through. Raises ``error(path, ...)`` for other text, zero
    periods, periods mixing months and days, and periods over 100 years.
    """
    if isinstance(value, Period):
        return value
    if not isinstance(value, str):
        raise error(path, "must be an ISO 8601 duration string like 'P1M'")
    match = _ISO_DURATION.fullmatch(value)
    if match is None or value == "P" or any(len(group or "") > 6 for group in match.groups()):
        raise error(
            path,
            f"must be an ISO 8601 duration of years, months, weeks or days ('P1M'), got {value!r}",
        )
    years, months, weeks, days = (int(group or 0) for group in match.groups())
    total_months, total_days = years * 12 + months, weeks * 7 + days
    if total_months and total_days:
        raise error(path, f"{value!r} mixes months and days, which have no fixed ratio")
    if total_months > MAX_MONTHS or total_days > MAX_DAYS:
        raise error(path, "must be at most 100 years")
    if not total_months and not total_days:
        raise error(path, "must be longer than zero")
    return Period(total_months, total_days)


def billing_cycle(anchor: date, period: Period, containing: date) -> tuple[date, date]:
    """The billing period ``[start, end)`` of a cycle anchored at ``anchor`` that contains
    ``containing``; the service uses it to find the full period a partial one belongs to."""
    if period.days:
        count = (containing - anchor).days // period.days
    else:
        count = (
            (containing.year - anchor.year) * 12 + containing.month - anchor.month
        ) // period.months
        # The month estimate can be one period late when the anchor's day is not reached yet.
        if period.add_to(anchor, count) > containing:
            count -= 1
    return period.add_to(anchor, count), period.add_to(anchor, count + 1)
