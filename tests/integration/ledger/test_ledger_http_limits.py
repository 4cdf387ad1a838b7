"""What the ledger's HTTP API refuses before any work: bodies over the limit (413, unread),
U+0000 that PostgreSQL cannot store (422 naming the field), versions beyond the column (422);
and what it never answers: a 5xx because many requests hit one partner at once."""

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from ledger.api.app import create_app
from ledger.settings import LedgerSettings
from tests.integration.conftest import OPS_TOKEN, free_port, serve_in_background
from tests.integration.ledger.conftest import balance, new_partner
from tests.integration.raw_http import BodyCounter, send_raw

MAX_BODY = 1024 * 1024
TWENTY_MB = 20 * 1024 * 1024
CHUNK = 65536  # what send_raw sends per chunk


@pytest.fixture(scope="module")
async def served(ledger_settings: LedgerSettings) -> AsyncIterator[tuple[int, BodyCounter]]:
    """The ledger API on uvicorn, so requests can be sent byte by byte, and a count of the body
    bytes it took from uvicorn."""
    port = free_port()
    settings = ledger_settings.model_copy(update={"max_body_bytes": MAX_BODY})
    counter = BodyCounter(create_app(settings))
    server, task = await serve_in_background(counter, port)
    yield port, counter
    server.should_exit = True
    await task


@pytest.fixture
def ledger_port(served: tuple[int, BodyCounter]) -> int:
    served[1].body_bytes = 0
    return served[0]


@pytest.fixture
def body_read(served: tuple[int, BodyCounter]) -> BodyCounter:
    return served[1]


async def test_a_20_mb_anonymous_body_is_refused_at_once_without_being_read(
    ledger_port: int, body_read: BodyCounter
) -> None:
    # The head promises 20 MB; not one byte of it is ever sent. A server that read the body
    # first would wait for it until the client's timeout.
    answer = await send_raw(
        ledger_port,
        "POST",
        "/v1/partners",
        {"Content-Type": "application/json", "Content-Length": str(TWENTY_MB)},
    )

    assert answer.status == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert json.loads(answer.body)["status"] == 413
    assert answer.seconds < 1.0
    assert body_read.body_bytes == 0


async def test_an_anonymous_body_within_the_limit_is_refused_before_it_is_read(
    ledger_port: int, body_read: BodyCounter
) -> None:
    answer = await send_raw(
        ledger_port,
        "POST",
        "/v1/partners",
        {"Content-Type": "application/json", "Content-Length": str(MAX_BODY)},
    )

    assert answer.status == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.seconds < 1.0
    assert body_read.body_bytes == 0


async def test_an_over_limit_body_with_a_valid_token_is_refused(
    ledger_port: int, body_read: BodyCounter
) -> None:
    ops = {"Authorization": f"Bearer {OPS_TOKEN}", "Content-Type": "application/json"}

    declared = await send_raw(
        ledger_port, "POST", "/v1/partners", {**ops, "Content-Length": str(MAX_BODY + 1)}
    )
    assert body_read.body_bytes == 0
    # No length given: counted while it streams and cut at the limit; 20 MiB are offered.
    streamed = await send_raw(
        ledger_port,
        "POST",
        "/v1/partners",
        {**ops, "Transfer-Encoding": "chunked"},
        chunks=TWENTY_MB // CHUNK,
    )

    assert declared.status == 413
    assert declared.seconds < 1.0
    assert streamed.status == 413
    assert json.loads(streamed.body)["type"].endswith("body-too-large")
    # Read up to the limit and at most one more piece of what uvicorn received (<= 256 KiB).
    assert MAX_BODY < body_read.body_bytes <= MAX_BODY + 256 * 1024


async def test_a_body_within_the_limit_is_served(ledger_port: int) -> None:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{ledger_port}",
        headers={"Authorization": f"Bearer {OPS_TOKEN}"},
    ) as api:
        partner_id, _ = await new_partner(api)
        reason = "x" * (MAX_BODY - 100)
        granted = await api.post(
            f"/v1/partners/{partner_id}/credits/grants", json={"credits": 5, "reason": reason}
        )

    # Within the byte limit; the field's own limit (500 characters) answers, not the guard.
    assert granted.status_code == 422
    assert granted.json()["errors"][0]["field"] == "$.reason"


async def test_u0000_in_a_body_field_is_refused_naming_the_field(
    ledger_api: httpx.AsyncClient,
) -> None:
    partner_id, _ = await new_partner(ledger_api)

    customer = await ledger_api.post(
        f"/v1/partners/{partner_id}/customers", json={"customer_id": "c9", "name": "Shop\u0000"}
    )
    grant = await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 5, "reason": "\u0000"}
    )
    card = await ledger_api.put(
        f"/v1/partners/{partner_id}/billing",
        json={
            "billing_mode": "prepaid",
            "payment_method": {"type": "card", "customer": "cus_\u0000", "payment_method": "pm_1"},
        },
    )

    for response, field in (
        (customer, "$.name"),
        (grant, "$.reason"),
        (card, "$.payment_method.card.customer"),
    ):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == field
        assert "U+0000" in response.json()["errors"][0]["message"]
    assert (await balance(ledger_api, partner_id))["balance"] == 0


async def test_u0000_in_the_path_or_query_is_refused(ledger_api: httpx.AsyncClient) -> None:
    partner_id, _ = await new_partner(ledger_api)

    in_path = await ledger_api.get("/v1/partners/p%00x/balance")
    in_query = await ledger_api.get(
        f"/v1/partners/{partner_id}/balance", params={"as_of": "2025-01-01\u0000"}
    )

    assert in_path.status_code == 422
    assert in_path.json()["errors"][0]["field"] == "$.path"
    assert in_query.status_code == 422
    assert in_query.json()["errors"][0]["field"] == "$.query.as_of"


async def test_an_event_version_beyond_the_column_is_refused(
    ledger_api: httpx.AsyncClient,
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    url = f"/v1/partners/{partner_id}/events"

    overflow = await ledger_api.get(url, params={"after": 2147483648})
    largest = await ledger_api.get(url, params={"after": 2147483647})

    assert overflow.status_code == 422
    assert overflow.json()["errors"][0]["field"] == "$.query.after"
    assert largest.status_code == 200
    assert largest.json()["events"] == []


async def test_50_concurrent_reservations_on_one_partner_see_no_5xx(
    ledger_api: httpx.AsyncClient,
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 40 * 100, "reason": "test"}
    )
    url = f"/v1/partners/{partner_id}/reservations"

    answers = await asyncio.gather(
        *[
            ledger_api.post(
                url,
                json={"reservation_id": f"r{n}", "credits": 100},
                headers={"Idempotency-Key": f"r{n}"},
            )
            for n in range(50)
        ]
    )

    statuses = [a.status_code for a in answers]
    assert all(s < 500 for s in statuses), statuses
    # Credits for 40 holds: 40 are held, the other 10 find nothing available.
    assert statuses.count(201) == 40, statuses
    assert statuses.count(409) == 10, statuses
    assert (await balance(ledger_api, partner_id))["held"] == 40 * 100
