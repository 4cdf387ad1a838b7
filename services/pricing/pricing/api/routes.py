"""HTTP routes: read the body, call a use case, answer JSON. Nothing else lives here.

Each route declares its answer's model (``response_model``) for the OpenAPI document and
returns the use case's dict encoded by orjson: FastAPI passes a ``Response`` through as it
is, so no pydantic runs on the way out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from pricing.api import responses
from pricing.api.auth import AdminOnly
from pricing.api.bodies import decode_json, json_response
from pricing.api.openapi import request_body
from pricing.api.problems import ADMIN_ONLY, PROBLEMS, conflict, not_found
from pricing.bootstrap import PricingContainer
from pricing.service_layer import PricingService
from pricing.service_layer.commands import (
    BatchQuoteRequest,
    CreditsForRecipientsRequest,
    CreditsPriceRequest,
    EvaluateRequest,
    PriceListCreate,
    QuoteRequest,
    VersionCreate,
)
from pricing.service_layer.evaluation import evaluate
from shared.database import Session


def _service(request: Request, session: Session) -> PricingService:
    container: PricingContainer = request.app.state.container
    return container.service(session)


Service = Annotated[PricingService, Depends(_service)]
# A version number as the database holds it (a 32-bit integer); larger ones are a 422.
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]

router = APIRouter()


@router.post(
    "/v1/evaluate",
    tags=["calculator"],
    summary="Price a quantity with a price model (stateless)",
    openapi_extra=request_body(EvaluateRequest),
    response_model=responses.Evaluation,
    responses=PROBLEMS,
)
async def evaluate_price(request: Request) -> Response:
    """Partner portals preview prices with it; nothing is stored."""
    return json_response(evaluate(decode_json(await request.body())))


@router.post(
    "/v1/price-lists",
    status_code=201,
    tags=["price lists"],
    summary="Create a price list with its first version",
    openapi_extra=request_body(PriceListCreate),
    response_model=responses.PriceList,
    responses={**conflict("The id exists already."), **ADMIN_ONLY, **PROBLEMS},
    dependencies=[AdminOnly],
)
async def create_price_list(request: Request, service: Service) -> Response:
    """The first version may lie in the past; later versions never do. A taken id is a 409."""
    created = await service.create_price_list(decode_json(await request.body()))
    return json_response(created, 201, {"Location": f"/v1/price-lists/{created['id']}"})


@router.get(
    "/v1/price-lists",
    tags=["price lists"],
    summary="List price lists, ordered by id",
    response_model=responses.PriceListPage,
    responses=PROBLEMS,
)
async def list_price_lists(
    service: Service,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[str | None, Query(description="next_after of the previous page")] = None,
) -> Response:
    """Keyset paging: pass the answer's `next_after` as `after` for the next page."""
    return json_response(await service.price_lists(after=after, limit=limit))


@router.get(
    "/v1/price-lists/{price_list_id}",
    tags=["price lists"],
    summary="A price list and the index of its versions",
    response_model=responses.PriceList,
    responses=not_found("No such price list."),
)
async def get_price_list(price_list_id: str, service: Service) -> Response:
    """The header and every version's number and `effective_from`."""
    return json_response(await service.price_list(price_list_id))


@router.post(
    "/v1/price-lists/{price_list_id}/versions",
    status_code=201,
    tags=["price lists"],
    summary="Add an immutable version (a price change)",
    openapi_extra=request_body(VersionCreate),
    response_model=responses.PriceListVersion,
    responses={
        **conflict("That version exists already."),
        **ADMIN_ONLY,
        **not_found("No such price list."),
    },
    dependencies=[AdminOnly],
)
async def add_version(price_list_id: str, request: Request, service: Service) -> Response:
    """`effective_from` defaults to now and must not be in the past. Of two writers of the
    same number one wins, the other gets 409."""
    created = await service.add_version(price_list_id, decode_json(await request.body()))
    location = f"/v1/price-lists/{price_list_id}/versions/{created['version']}"
    return json_response(created, 201, {"Location": location})


@router.get(
    "/v1/price-lists/{price_list_id}/versions/{version}",
    tags=["price lists"],
    summary="One version, exactly as written",
    response_model=responses.PriceListVersion,
    responses=not_found("No such price list or version."),
)
async def get_version(price_list_id: str, version: VersionNumber, service: Service) -> Response:
    """Versions never change, so an old quote can always be recomputed."""
    return json_response(await service.version(price_list_id, version))


@router.get(
    "/v1/price-lists/{price_list_id}/version-at",
    tags=["price lists"],
    summary="The version in effect at a time",
    response_model=responses.PriceListVersion,
    responses=not_found("No such price list, or no version in effect at that time."),
)
async def get_version_at(
    price_list_id: str,
    service: Service,
    at: Annotated[str, Query(description="RFC 3339 time", examples=["2025-03-01T10:00:00Z"])],
) -> Response:
    """The latest version whose `effective_from` <= `at`; 404 before the first one."""
    return json_response(await service.version_at(price_list_id, at))


@router.post(
    "/v1/quotes",
    tags=["quotes"],
    summary="Quote a plan variant with its components for a billing period",
    openapi_extra=request_body(QuoteRequest),
    response_model=responses.Quote,
    responses=not_found("No such price list or version."),
)
async def create_quote(request: Request, service: Service) -> Response:
    """Setup fee on the first invoice, recurring fees scaled to the billing period and
    prorated by days, metered usage summed with the free quota taken off the sum."""
    return json_response(await service.quote(decode_json(await request.body())))


@router.post(
    "/v1/quotes/batch",
    tags=["quotes"],
    summary="Price up to 10,000 component quantities at given times (the ledger's call)",
    openapi_extra=request_body(BatchQuoteRequest),
    response_model=responses.BatchQuoteResponse,
    response_description="One entry per item, in order: the priced item or its error.",
    responses=PROBLEMS,
)
async def quote_batch(request: Request, service: Service) -> Response:
    """Each item with the version in effect at its `at`; an item's error stays in its place."""
    return json_response(await service.quote_batch(decode_json(await request.body())))


@router.post(
    "/v1/credits/price",
    tags=["credits"],
    summary="What a number of credits costs in money",
    openapi_extra=request_body(CreditsPriceRequest),
    response_model=responses.PricedItem,
    responses=not_found("No such price list or version."),
)
async def price_credits(request: Request, service: Service) -> Response:
    """One item of the price list's `credits` component, through the batch's code path."""
    return json_response(await service.price_credits(decode_json(await request.body())))


@router.post(
    "/v1/credits/for-recipients",
    tags=["credits"],
    summary="How many credits a mailing to N recipients costs",
    openapi_extra=request_body(CreditsForRecipientsRequest),
    response_model=responses.CreditsForRecipients,
    responses=not_found("No such price list or version."),
)
async def credits_for_recipients(request: Request, service: Service) -> Response:
    """The exact amount rounded once, half-up, to whole credits (5,000 x 1.05 = 5,250)."""
    return json_response(await service.credits_for_recipients(decode_json(await request.body())))
