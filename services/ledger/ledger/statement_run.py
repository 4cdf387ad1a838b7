"""`ops statements --period YYYY-MM`: issue the month's statements of every contracted customer.

For each customer with a contract, each billing period of the contract that starts in the
month (monthly plans anchored on the 1st: the calendar month; a contract's first period runs
from its first day) is priced like `GET .../statement` and recorded once as
`StatementIssued`, which the outbox publishes as `ledger.statement_issued`. A second run
issues nothing new: the read model skips what was issued before asking pricing, and the
account refuses a period it has issued already (the last word, whatever runs at once).
Periods that have not ended yet are left for a later run: their usage is not complete.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from ledger.adapters.views.contracts import contract_in_effect, contracted_customers
from ledger.adapters.views.statements import issued_between
from ledger.adapters.views.usage import usage_by_day
from ledger.bootstrap import LedgerContainer
from ledger.domain import LedgerError
from ledger.domain.statements import StatementWindow, month_bounds, periods_starting_in
from ledger.service_layer.handlers import IssueStatement, Outcome, execute
from ledger.service_layer.ports import PricingRefused
from ledger.service_layer.statements import price_statement


@dataclass
class RunResult:
    issued: list[tuple[str, str, date]] = field(default_factory=list)
    already: int = 0
    not_ended: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # partner, customer, why


@dataclass(frozen=True, slots=True)
class _Due:
    partner_id: str
    customer_id: str
    window: StatementWindow


def parse_month(text: str) -> tuple[date, date]:
    """``2026-11`` -> (2026-11-01, 2026-12-01)."""
    try:
        year, month = (int(part) for part in text.split("-"))
        return month_bounds(year, month)
    except ValueError:
        raise ValueError(f"a month is YYYY-MM; got {text!r}") from None


async def due_statements(container: LedgerContainer, start: date, end: date) -> list[_Due]:
    customers = await contracted_customers(container.reads, start, end)
    return [
        _Due(c.partner_id, c.customer_id, window)
        for c in customers
        for window in periods_starting_in(c.contract, start, end)
    ]


async def run_statements(
    container: LedgerContainer,
    month: str,
    *,
    today: date | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[], None] | None = None,
) -> RunResult:
    """Issue the statements of the periods starting in ``month`` (``YYYY-MM``)."""
    start, end = parse_month(month)
    today = today or datetime.now(UTC).date()
    due = await due_statements(container, start, end)
    issued = await issued_between(container.reads, start, end)
    if on_start is not None:
        on_start(len(due))
    result = RunResult()
    for item in due:
        try:
            await _issue(container, item, issued, today, result, month)
        finally:
            if on_progress is not None:
                on_progress()
    return result


async def _issue(
    container: LedgerContainer,
    item: _Due,
    issued: set[tuple[str, str, date]],
    today: date,
    result: RunResult,
    month: str,
) -> None:
    window = item.window
    if (item.partner_id, item.customer_id, window.start) in issued:
        result.already += 1
        return
    if window.end > today:
        result.not_ended += 1
        return
    reads = container.reads
    contract = await contract_in_effect(reads, item.partner_id, item.customer_id, window.start)
    days = await usage_by_day(reads, item.partner_id, item.customer_id, window.start, window.end)
    if contract is None or days is None:
        result.failed.append((item.partner_id, item.customer_id, "contract or customer gone"))
        return
    try:
        statement = await price_statement(
            container.pricing,
            item.partner_id,
            item.customer_id,
            contract,
            window.start,
            window.end,
            days,
        )
    except (PricingRefused, LedgerError) as exc:
        result.failed.append((item.partner_id, item.customer_id, str(exc)))
        return
    command = IssueStatement(
        partner_id=item.partner_id,
        customer_id=item.customer_id,
        period_start=statement.period_start,
        period_end=statement.period_end,
        quote=statement.quote,
        mailings=statement.usage.mailings,
        recipients=statement.usage.recipients,
        credits=statement.usage.credits,
    )

    def present(outcome: Outcome) -> tuple[int, dict[str, Any]]:
        return 201, {"issued": bool(outcome.events)}

    try:
        _, body = await execute(
            container.unit_of_work,
            command,
            datetime.now(UTC),
            metadata={
                "causation_id": f"ops:statements:{month}",
                "correlation_id": f"{item.customer_id}/{statement.period_start.isoformat()}",
                "actor": "ops",
                "price_list_id": statement.quote["price_list_id"],
                "price_list_version": statement.quote["price_list_version"],
            },
            present=present,
        )
    except LedgerError as exc:
        result.failed.append((item.partner_id, item.customer_id, str(exc)))
        return
    if body["issued"]:
        result.issued.append((item.partner_id, item.customer_id, statement.period_start))
    else:
        result.already += 1
