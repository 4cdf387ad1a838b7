"""Quotes: what a plan variant with its components costs for one billing period.

Line kinds, in this order:

* ``setup_fee``: only when ``first_invoice`` (never on a plan change) and only when not 0.
* ``recurring_fee``: the plan variant's fee x fee periods per billing period (100 per P1M
  billed P1Y: 12 x 100), prorated for a partial period.
* ``recurring_component``: a booked quantity priced by the component's model for one of its
  fee periods, x its fee periods per billing period, prorated like the recurring fee.
* ``metered_component``: the usage reports of the period, summed, priced once with the plan
  variant's free quota (except ``bucket``, which ignores free quotas); never prorated, and
  the free quota is not prorated either (it is defined per billing period).

Components appear only if named in ``booked``/``usage`` (a contract books what it uses), in
the order the price list version defines them.

Proration (Stripe, Lago): a partial period ``[period_start, period_end)`` inside the full
billing period ``full_period`` pays ``days / full days`` of each recurring line, counting
actual calendar days (15 of April's 30 days: 1/2).

Exactness of prorated lines: 15/31 of a fee has no finite decimal expansion, so prorated
lines are the only ones not exact; each is rounded UP at ``K + 12`` decimals, where K is the
largest number of decimals of any line (and of the currency). This can never change the
rounded total: the true total has a denominator dividing ``full_days x 10^K``, so unless it
sits exactly on a half-cent tie it is at least ``1 / (2 x full_days x 10^K)`` away from one,
while n rounded-up lines exceed it by less than ``n x 10^-(K+12)``, which is smaller while
``2 x n x full_days < 10^12`` (a million lines on a yearly period); and rounding up never
moves a value off a tie downwards. Lines still add up exactly to ``exact_total``. A property
test checks totals against exact fractions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal, TypeAlias

from ._json import child, item
from .breakdown import Evaluation, evaluation_to_json
from .currencies import MINOR_UNITS, round_money
from .errors import InvalidInput
from .numbers import EXACT, ONE, ZERO, ceil_div, decimal_to_json, fraction_digits, parse_decimal
from .price_list import PriceListVersion
from .price_models import PriceModel, evaluate

LineKind: TypeAlias = Literal[
    "setup_fee", "recurring_fee", "recurring_component", "metered_component"
]

PRORATION_GUARD_DIGITS = 12
"""Extra decimals of prorated lines beyond any other line's (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class Proration:
    """A partial billing period: ``days`` of the ``period_days`` of the full period."""

    days: int
    period_days: int

    @property
    def factor(self) -> Fraction:
        """``days / period_days`` as an exact fraction."""
        return Fraction(self.days, self.period_days)


@dataclass(frozen=True, slots=True)
class QuoteLine:
    """One line of a quote.

    ``quantity``: 1 for fees, the booked quantity, or the summed usage. ``unit_price``: the
    fee for fee lines, ``None`` for components (their price is in ``evaluation``).
    ``periods``: fee periods per billing period (1 for setup fees and metered components).
    ``full_amount``: before proration; ``exact_amount``: after it (equal when not prorated).
    """

    kind: LineKind
    id: str
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    periods: int
    full_amount: Decimal
    exact_amount: Decimal
    prorated: bool
    evaluation: Evaluation | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    """A priced billing period; ``total`` is ``exact_total`` rounded once to the currency."""

    price_list_version: int
    plan_variant_id: str
    currency: str
    period_start: date
    period_end: date
    proration: Proration | None
    lines: tuple[QuoteLine, ...]
    exact_total: Decimal
    total: Decimal


def _day(value: object, path: str) -> date:
    # datetime is a date subclass; refuse it so the caller decides the time zone of "day".
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(path, "must be a date (YYYY-MM-DD)")
    return value


def _proration(start: date, end: date, full_period: tuple[date, date] | None) -> Proration | None:
    if full_period is None:
        return None
    full_start = _day(full_period[0], "$.full_period[0]")
    full_end = _day(full_period[1], "$.full_period[1]")
    if not full_start <= start < end <= full_end:
        raise InvalidInput("$.full_period", "must contain the quoted period")
    if (start, end) == (full_start, full_end):
        return None
    return Proration((end - start).days, (full_end - full_start).days)


def quote(
    version: PriceListVersion,
    plan_variant_id: str,
    period_start: date,
    period_end: date,
    *,
    booked: Mapping[str, Decimal] | None = None,
    usage: Mapping[str, Sequence[Decimal]] | None = None,
    first_invoice: bool = False,
    full_period: tuple[date, date] | None = None,
) -> Quote:
    """Price plan variant ``plan_variant_id`` of ``version`` for ``[period_start, period_end)``.

    ``booked`` maps recurring component ids to booked quantities; ``usage`` maps metered
    component ids to the usage reports of the period (summed). ``first_invoice`` adds the
    setup fee. ``full_period`` is the full billing period ``[start, end)`` containing a
    partial one (see :func:`pricing.domain.periods.billing_cycle`); leave it out when the
    period is a full one. The length of a full period is not re-checked against the plan's
    billing period: anchored months vary (Jan 31 to Feb 28, then to Mar 31).

    Raises ``InvalidInput`` with paths ``$.plan_variant_id``, ``$.booked.<id>``,
    ``$.usage.<id>[i]``, ``$.period_start``, ``$.period_end``, ``$.full_period``.
    """
    variant = version.plan_variants.get(plan_variant_id)
    if variant is None:
        raise InvalidInput(
            "$.plan_variant_id", f"no plan variant {plan_variant_id!r} in version {version.version}"
        )
    start, end = _day(period_start, "$.period_start"), _day(period_end, "$.period_end")
    if end <= start:
        raise InvalidInput("$.period_end", "must be after period_start")
    proration = _proration(start, end, full_period)
    booked = booked or {}
    usage = usage or {}
    _check_ids(version, booked, usage)
    currency = version.currency
    name = variant.name or plan_variant_id

    # Lines first at their full amount; `recurring` marks those a partial period prorates.
    lines: list[QuoteLine] = []
    recurring: list[bool] = []
    if first_invoice and variant.setup_fee:
        fee = variant.setup_fee
        lines.append(
            QuoteLine(
                "setup_fee", plan_variant_id, f"{name}: setup fee", ONE, fee, 1, fee, fee, False
            )
        )
        recurring.append(False)
    periods = variant.fee_periods_per_billing_period
    fee = variant.recurring_fee
    full = EXACT.multiply(fee, Decimal(periods))
    description = f"{name}: {periods} x fee per {variant.fee_period}"
    lines.append(
        QuoteLine(
            "recurring_fee", plan_variant_id, description, ONE, fee, periods, full, full, False
        )
    )
    recurring.append(True)
    for component_id, component in version.recurring_components.items():
        if component_id in booked:
            path = child("$.booked", component_id)
            assert component.fee_period is not None  # recurring components always have one
            periods = variant.billing_period.multiple_of(component.fee_period) or 0
            if not periods:
                raise InvalidInput(
                    path,
                    f"priced per {component.fee_period}, which does not fit plan variant"
                    f" {plan_variant_id!r}'s billing period {variant.billing_period}",
                )
            quantity = parse_decimal(booked[component_id], path)
            evaluation = _evaluate(component.price, quantity, currency, ZERO, path)
            full = EXACT.multiply(evaluation.exact_amount, Decimal(periods))
            lines.append(
                QuoteLine(
                    "recurring_component", component_id, component.name, quantity, None,
                    periods, full, full, False, evaluation,
                )
            )  # fmt: skip
            recurring.append(True)
    for component_id, component in version.metered_components.items():
        if component_id in usage:
            path = child("$.usage", component_id)
            total = _sum_usage(usage[component_id], path)
            included = variant.included_quantities.get(component_id, ZERO)
            evaluation = _evaluate(component.price, total, currency, included, path)
            full = evaluation.exact_amount
            lines.append(
                QuoteLine(
                    "metered_component", component_id, component.name, total, None,
                    1, full, full, False, evaluation,
                )
            )  # fmt: skip
            recurring.append(False)

    if proration is not None:
        digits = max(MINOR_UNITS[currency], *(fraction_digits(line.full_amount) for line in lines))
        scale = digits + PRORATION_GUARD_DIGITS
        lines = [
            replace(line, exact_amount=_prorate(line.full_amount, proration, scale), prorated=True)
            if prorate
            else line
            for line, prorate in zip(lines, recurring, strict=True)
        ]
    exact_total = ZERO
    for line in lines:
        exact_total = EXACT.add(exact_total, line.exact_amount)
    return Quote(
        version.version,
        plan_variant_id,
        currency,
        start,
        end,
        proration,
        tuple(lines),
        exact_total,
        round_money(exact_total, currency),
    )


def evaluate_component(
    version: PriceListVersion, component_id: str, quantity: Decimal
) -> Evaluation:
    """Price ``quantity`` of one component of ``version``, in the version's currency.

    The building block of the batch quote (the ledger prices mailings this way). No free
    quota applies: quotas belong to a plan variant's billing period, see :func:`quote`.
    Raises ``InvalidInput`` at ``$.component`` for an unknown id, ``$.quantity`` for a bad
    quantity.
    """
    component = version.component(component_id)
    if component is None:
        raise InvalidInput(
            "$.component", f"no component {component_id!r} in version {version.version}"
        )
    return evaluate(component.price, quantity, version.currency)


def _check_ids(
    version: PriceListVersion, booked: Mapping[str, object], usage: Mapping[str, object]
) -> None:
    for component_id in booked:
        if component_id not in version.recurring_components:
            hint = (
                " (it is metered: report usage)"
                if component_id in version.metered_components
                else ""
            )
            raise InvalidInput(
                child("$.booked", component_id), f"no recurring component {component_id!r}{hint}"
            )
    for component_id in usage:
        if component_id not in version.metered_components:
            hint = (
                " (it is recurring: book it)"
                if component_id in version.recurring_components
                else ""
            )
            raise InvalidInput(
                child("$.usage", component_id), f"no metered component {component_id!r}{hint}"
            )


def _sum_usage(reports: object, path: str) -> Decimal:
    if isinstance(reports, (str, bytes)) or not isinstance(reports, Sequence):
        raise InvalidInput(path, "must be a list of usage quantities")
    total = ZERO
    for index, report in enumerate(reports):
        total = EXACT.add(total, parse_decimal(report, item(path, index)))
    return parse_decimal(total, path)  # the sum must respect the bounds too


def _evaluate(
    model: PriceModel, quantity: Decimal, currency: str, included: Decimal, path: str
) -> Evaluation:
    try:
        return evaluate(model, quantity, currency, included)
    except InvalidInput as error:
        raise InvalidInput(path, error.message) from None


def _prorate(full: Decimal, proration: Proration, scale: int) -> Decimal:
    # ceil(full x days / period_days) at `scale` decimals, in exact integer arithmetic.
    numerator = EXACT.multiply(full, Decimal(proration.days)).scaleb(scale, EXACT)
    prorated = ceil_div(numerator, Decimal(proration.period_days)).scaleb(-scale, EXACT)
    # Drop the trailing zeros of exact results (50, not 50.00000000000000).
    if prorated == prorated.to_integral_value(context=EXACT):
        return prorated.quantize(ONE, context=EXACT)
    return prorated.normalize(EXACT)


def quote_line_to_json(line: QuoteLine) -> dict[str, Any]:
    """JSON of a quote line; decimals as strings, ``evaluation`` with its tier lines."""
    return {
        "kind": line.kind,
        "id": line.id,
        "description": line.description,
        "quantity": decimal_to_json(line.quantity),
        "unit_price": None if line.unit_price is None else decimal_to_json(line.unit_price),
        "periods": line.periods,
        "full_amount": decimal_to_json(line.full_amount),
        "exact_amount": decimal_to_json(line.exact_amount),
        "prorated": line.prorated,
        "evaluation": None if line.evaluation is None else evaluation_to_json(line.evaluation),
    }


def quote_to_json(result: Quote) -> dict[str, Any]:
    """JSON of a quote: the version used (for audits), proration, lines and totals."""
    return {
        "price_list_version": result.price_list_version,
        "plan_variant_id": result.plan_variant_id,
        "currency": result.currency,
        "period_start": result.period_start.isoformat(),
        "period_end": result.period_end.isoformat(),
        "proration": None
        if result.proration is None
        else {"days": result.proration.days, "period_days": result.proration.period_days},
        "lines": [quote_line_to_json(line) for line in result.lines],
        "exact_total": decimal_to_json(result.exact_total),
        "total": decimal_to_json(result.total),
    }
