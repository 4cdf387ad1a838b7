"""Partners bill their customers: usage per customer, resale contracts, statements.

Thin like the other routes: parse, authorise (`caller.require_partner`: another partner's
customers answer 404), read a view or run a command; the statement is priced by the service
layer through the pricing service.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ledger.adapters.views.contracts import contract_history, contract_in_effect
from ledger.adapters.views.customers import list_customers
from ledger.adapters.views.partners import find_partner
from ledger.adapters.views.usage import usage_by_day, usage_per_customer
from ledger.api import documents
from ledger.api.auth import CurrentCaller
from ledger.api.routes import _container, _execute, _operation_id
from ledger.api.schemas import (
    ContractChange,
    ContractTerms,
    ContractView,
    CustomerUsageReport,
    CustomerUsageRow,
    PartnerUsageReport,
    StatementView,
    UsageDay,
    UsageTotals,
)
from ledger.domain import Contract
from ledger.domain.statements import UsageTotals as Totals
from ledger.domain.statements import first_day_of_month
from ledger.service_layer.handlers import ChangeContract
from ledger.service_layer.ports import PricingRefused, PricingUnavailable
from ledger.service_layer.statements import Statement, price_statement
from shared.problems import Problem, invalid, not_found

router = APIRouter(prefix="/v1", generate_unique_id_function=_operation_id)

MAX_DAYS = 3660  # ten years of days: a report stays a bounded answer

From = Annotated[date, Query(alias="from", description="First day (UTC), YYYY-MM-DD")]
To = Annotated[date, Query(description="Day after the last (exclusive), YYYY-MM-DD")]
ALTERNATIVES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}
STATEMENT_ALTERNATIVES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        }
    }
}


def _range(start: date, end: date, names: tuple[str, str] = ("from", "to")) -> None:
    if end <= start:
        raise invalid(f"$.{names[1]}", f"must be after {names[0]}")
    if (end - start).days > MAX_DAYS:
        raise invalid(f"$.{names[1]}", f"at most {MAX_DAYS} days after {names[0]}")


def _csv(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


@router.get(
    "/partners/{partner_id}/customers/{customer_id}/usage",
    tags=["customer billing"],
    response_model=CustomerUsageReport,
    responses=ALTERNATIVES,
)
async def customer_usage(
    partner_id: str,
    customer_id: str,
    caller: CurrentCaller,
    request: Request,
    from_: From,
    to: To,
) -> Response | CustomerUsageReport:
    """A customer's mailings, recipients and credits over `[from, to)`, per UTC day of the
    mailings' `sent_at` (a late event counts on its own day). `Accept: text/csv`: one row
    per day."""
    caller.require_partner(partner_id)
    _range(from_, to)
    days = await usage_by_day(_container(request).reads, partner_id, customer_id, from_, to)
    if days is None:
        raise not_found(f"customer {customer_id!r}")
    if documents.wanted_shape(request.headers.get("accept"), ("json", "csv")) == "csv":
        return _csv(
            documents.to_csv(
                documents.USAGE_DAY_HEADER,
                ((d.day.isoformat(), d.mailings, d.recipients, d.credits) for d in days),
            ),
            f"usage-{customer_id}-{from_}-{to}",
        )
    totals = Totals.of(days)
    return CustomerUsageReport(
        partner_id=partner_id,
        customer_id=customer_id,
        from_=from_,
        to=to,
        mailings=totals.mailings,
        recipients=totals.recipients,
        credits=totals.credits,
        days=[UsageDay(date=d.day, mailings=d.mailings, recipients=d.recipients, credits=d.credits)
              for d in days],
    )  # fmt: skip


@router.get(
    "/partners/{partner_id}/usage",
    tags=["customer billing"],
    response_model=PartnerUsageReport,
    responses=ALTERNATIVES,
)
async def partner_usage(
    partner_id: str, caller: CurrentCaller, request: Request, from_: From, to: To
) -> Response | PartnerUsageReport:
    """Every customer's totals over `[from, to)`. `Accept: text/csv`: one row per customer."""
    caller.require_partner(partner_id)
    _range(from_, to)
    rows = await usage_per_customer(_container(request).reads, partner_id, from_, to)
    if rows is None:
        raise not_found(f"partner {partner_id!r}")
    if documents.wanted_shape(request.headers.get("accept"), ("json", "csv")) == "csv":
        return _csv(
            documents.to_csv(
                documents.USAGE_CUSTOMER_HEADER,
                (
                    (
                        r.customer_id,
                        r.name,
                        r.totals.mailings,
                        r.totals.recipients,
                        r.totals.credits,
                    )
                    for r in rows
                ),
            ),
            f"usage-{partner_id}-{from_}-{to}",
        )
    return PartnerUsageReport(
        partner_id=partner_id,
        from_=from_,
        to=to,
        customers=[
            CustomerUsageRow(
                customer_id=r.customer_id,
                name=r.name,
                mailings=r.totals.mailings,
                recipients=r.totals.recipients,
                credits=r.totals.credits,
            )
            for r in rows
        ],
    )


def _terms(contract: Contract) -> ContractChange:
    return ContractChange(
        price_list_id=contract.price_list_id,
        plan_variant_id=contract.plan_variant_id,
        starts_on=contract.starts_on,
        billing_anchor=contract.billing_anchor,
        billing_period=contract.billing_period,
        booked=dict(contract.booked),
    )


def _contract_view(
    partner_id: str, customer_id: str, current: Contract, history: list[Contract]
) -> ContractView:
    return ContractView(
        partner_id=partner_id,
        customer_id=customer_id,
        **_terms(current).model_dump(),
        first_starts_on=current.first_starts_on,
        changes=[_terms(c) for c in history],
    )


def _contract_field(refused: PricingRefused) -> str:
    """The pricing service's path at fault, in the contract's words."""
    field = refused.field
    if field in ("$.at", "$.period_start", "$.period_end", "$.version"):
        return "$.starts_on"  # no version of the list in effect yet, or a cycle problem
    if field is None or (refused.status == 404 and not field.startswith("$.booked")):
        return "$.price_list_id"
    return field


@router.put(
    "/partners/{partner_id}/customers/{customer_id}/contract",
    tags=["customer billing"],
    response_model=ContractView,
)
async def put_contract(
    partner_id: str,
    customer_id: str,
    body: ContractTerms,
    caller: CurrentCaller,
    request: Request,
) -> ContractView:
    """Put the customer on a plan variant of one of the partner's own price lists from
    `starts_on` (a change of terms is an event of the partner's stream). The pricing service
    checks the list, the variant and the booked components: 422 names the field."""
    caller.require_partner(partner_id)
    container = _container(request)
    anchor = body.billing_anchor or first_day_of_month(body.starts_on)
    booked: dict[str, str] = {}
    for component, quantity in body.booked.items():
        try:
            booked[component] = str(Decimal(quantity).normalize())
        except InvalidOperation:
            raise invalid(f"$.booked.{component}", "must be a decimal") from None
    try:
        version = await container.pricing.version_at(
            body.price_list_id, datetime.combine(body.starts_on, time(), UTC)
        )
        if body.plan_variant_id not in version.billing_periods:
            raise invalid(
                "$.plan_variant_id",
                f"price list {body.price_list_id!r} (version {version.version}) has no plan"
                f" variant {body.plan_variant_id!r}",
            )
        # A trial quote of the first day: the pricing service checks the booked components
        # against their price models and the plan's billing period.
        await container.pricing.quote(
            {
                "price_list_id": body.price_list_id,
                "plan_variant_id": body.plan_variant_id,
                "period_start": body.starts_on.isoformat(),
                "period_end": (body.starts_on + timedelta(days=1)).isoformat(),
                "billing_anchor": anchor.isoformat(),
                "booked": booked,
            }
        )
    except PricingRefused as refused:
        raise invalid(_contract_field(refused), refused.detail) from None
    except PricingUnavailable as exc:
        raise Problem(503, "Service Unavailable", f"pricing: {exc}") from None
    command = ChangeContract(
        partner_id=partner_id,
        customer_id=customer_id,
        price_list_id=body.price_list_id,
        plan_variant_id=body.plan_variant_id,
        starts_on=body.starts_on,
        billing_anchor=anchor,
        billing_period=version.billing_periods[body.plan_variant_id],
        booked=booked,
    )
    # The answer is read back from the read model written in the same transaction.
    await _execute(request, caller, command, lambda _: (200, {}))
    history = await contract_history(container.reads, partner_id, customer_id)
    return _contract_view(partner_id, customer_id, history[-1], history)


@router.get(
    "/partners/{partner_id}/customers/{customer_id}/contract",
    tags=["customer billing"],
    response_model=ContractView,
)
async def get_contract(
    partner_id: str, customer_id: str, caller: CurrentCaller, request: Request
) -> ContractView:
    """The contract's terms as they stand, and every change of them."""
    caller.require_partner(partner_id)
    history = await contract_history(_container(request).reads, partner_id, customer_id)
    if not history:
        raise not_found(f"contract of customer {customer_id!r}")
    return _contract_view(partner_id, customer_id, history[-1], history)


async def statement_for(
    request: Request, partner_id: str, customer_id: str, start: date, end: date
) -> Statement:
    """Price a customer's statement of ``[start, end)`` (problems for the API's answer)."""
    container = _container(request)
    contract = await contract_in_effect(container.reads, partner_id, customer_id, start)
    days = await usage_by_day(container.reads, partner_id, customer_id, start, end)
    if days is None:
        raise not_found(f"customer {customer_id!r}")
    if contract is None:
        raise not_found(f"contract of customer {customer_id!r}")
    try:
        return await price_statement(
            container.pricing, partner_id, customer_id, contract, start, end, days
        )
    except PricingRefused as refused:
        field = refused.field or "$.period_start"
        if field not in ("$.period_start", "$.period_end"):
            field = "$.period_start"  # the contract's terms were checked when they were agreed
        raise invalid(field, refused.detail) from None
    except PricingUnavailable as exc:
        raise Problem(503, "Service Unavailable", f"pricing: {exc}") from None


@router.get(
    "/partners/{partner_id}/customers/{customer_id}/statement",
    tags=["customer billing"],
    response_model=StatementView,
    responses=STATEMENT_ALTERNATIVES,
)
async def get_statement(
    partner_id: str,
    customer_id: str,
    caller: CurrentCaller,
    request: Request,
    period_start: Annotated[date, Query(description="First day, YYYY-MM-DD")],
    period_end: Annotated[date, Query(description="Day after the last (exclusive)")],
) -> Response | StatementView:
    """The period priced on the customer's contract by the pricing service (`quote`,
    unchanged) with the usage it priced; what the partner invoices. `Accept: text/csv`: one
    row per quote line; `Accept: text/html`: a printable page in the partner's language."""
    caller.require_partner(partner_id)
    _range(period_start, period_end, ("period_start", "period_end"))
    statement = await statement_for(request, partner_id, customer_id, period_start, period_end)
    usage = UsageTotals(
        mailings=statement.usage.mailings,
        recipients=statement.usage.recipients,
        credits=statement.usage.credits,
    )
    shape = documents.wanted_shape(request.headers.get("accept"))
    if shape == "csv":
        return _csv(
            documents.statement_csv(statement.quote),
            f"statement-{customer_id}-{statement.period_start}",
        )
    if shape == "html":
        reads = _container(request).reads
        partner = await find_partner(reads, partner_id)
        customers = await list_customers(reads, partner_id) or []
        names = {c.customer_id: c.name for c in customers}
        return HTMLResponse(
            documents.statement_html(
                locale=partner.locale if partner else "en",
                partner_name=partner.name if partner else partner_id,
                customer_id=customer_id,
                customer_name=names.get(customer_id, customer_id),
                period_start=statement.period_start,
                period_end=statement.period_end,
                quote=statement.quote,
                usage=usage.model_dump(),
            )
        )
    return StatementView(
        partner_id=partner_id,
        customer_id=customer_id,
        period_start=statement.period_start,
        period_end=statement.period_end,
        quote=statement.quote,
        usage=usage,
    )
