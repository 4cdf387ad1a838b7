"""The pricing app on a fresh migrated database, driven in-process through httpx."""

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from pricing.api.app import create_app
from pricing.migrations import MIGRATIONS_DIR
from pricing.settings import PricingSettings
from tests.integration.conftest import ADMIN_HEADERS as ADMIN_HEADERS
from tests.integration.conftest import PRICING_ADMIN_TOKEN as PRICING_ADMIN_TOKEN
from tests.integration.databases import fresh_migrated_database

MAX_BODY = 1024 * 1024


@pytest.fixture(scope="session")
async def pricing_database_url() -> str:
    return await fresh_migrated_database("pricing_test", MIGRATIONS_DIR)


@pytest.fixture(scope="session")
async def pricing_app(pricing_database_url: str) -> AsyncIterator[FastAPI]:
    settings = PricingSettings(
        database_url=pricing_database_url, admin_token=PRICING_ADMIN_TOKEN, max_body_bytes=MAX_BODY
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(pricing_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the admin token, as price list authors have it."""
    transport = httpx.ASGITransport(pricing_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://pricing", headers=ADMIN_HEADERS
    ) as client:
        yield client


@pytest.fixture
async def anonymous(pricing_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client without a token: anyone on the internal network."""
    transport = httpx.ASGITransport(pricing_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pricing") as client:
        yield client


def new_id(prefix: str) -> str:
    """A price list id no other test uses (the database lives for the whole session)."""
    return f"{prefix}-{uuid4().hex[:12]}"
