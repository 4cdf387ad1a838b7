"""Small clients that set the system up as an operator would: through the services' own APIs."""

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.support.price_lists import LEDGER_PRICE_LISTS


class SetupRefused(RuntimeError):
    """A service refused a setup call (tests and benchmarks stop on it, with its answer)."""


def _created(response: httpx.Response, what: str, existing_ok: bool = False) -> None:
    if response.status_code == 201 or (existing_ok and response.status_code == 409):
        return
    raise SetupRefused(f"{what}: {response.status_code} {response.text}")


async def create_price_lists(
    pricing: httpx.AsyncClient,
    price_lists: Iterable[dict[str, Any]] = LEDGER_PRICE_LISTS,
    *,
    existing_ok: bool = False,
) -> None:
    """Create ``price_lists`` with ``pricing`` (a client carrying the admin token and the base
    URL); by default the two lists the ledger needs. With ``existing_ok`` a list whose id
    exists already (409) is left as it is (the demo, run again on the same system)."""
    for price_list in price_lists:
        response = await pricing.post("/v1/price-lists", json=price_list)
        _created(response, price_list["id"], existing_ok)


def create_price_lists_now(
    pricing_url: str,
    admin_token: str,
    price_lists: Iterable[dict[str, Any]] = LEDGER_PRICE_LISTS,
) -> None:
    """:func:`create_price_lists` for code without an event loop (process-level tests)."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=pricing_url, headers=headers) as pricing:
        for price_list in price_lists:
            _created(pricing.post("/v1/price-lists", json=price_list), price_list["id"])


@asynccontextmanager
async def app_client(
    app: Any, token: str, base_url: str = "http://ledger"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an ASGI ``app`` in this process, with the app started (its lifespan) and
    every request carrying ``token`` as its bearer."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
        ) as client,
    ):
        yield client
