"""A partner portal's developer generates Python clients from the ledger's and pricing's
OpenAPI documents with openapi-python-client and drives a partner's day with them, against the
services running as processes: every answer must come back as a generated, typed model.

If the generator cannot read a document, or a body comes back untyped (a dict, or None because
the client found no model for the status), the documents are wrong, not the test.
"""

import asyncio
import importlib
import pkgutil
import subprocess
import sys
import typing
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from pricing.migrations import MIGRATIONS_DIR as PRICING_MIGRATIONS
from tests.e2e.conftest import Processes, wait_healthy
from tests.integration.conftest import free_port
from tests.integration.databases import fresh_migrated_database
from tests.support.price_lists import CREDIT_PRICE_LIST, MAILING_PRICE_LIST
from tests.support.settings import system_env

OPS = "generated-client-ops-token"
PRICING_ADMIN = "generated-client-pricing-admin"
GRANT = 50_000
HOLD = 1_200
PURCHASE = 20_000


@dataclass
class Services:
    pricing_url: str
    ledger_url: str


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """Pricing and the ledger API as `make run` starts them, on fresh databases."""
    pricing_db = asyncio.run(fresh_migrated_database("pricing_client", PRICING_MIGRATIONS))
    ledger_db = asyncio.run(fresh_migrated_database("ledger_client", LEDGER_MIGRATIONS))
    pricing_port, ledger_port = free_port(), free_port()
    pricing_url = f"http://127.0.0.1:{pricing_port}"
    env = system_env(
        prefix=f"client{uuid.uuid4().hex[:8]}.",
        ops_token=OPS,
        pricing_admin_token=PRICING_ADMIN,
        pricing_db=pricing_db,
        pricing_port=pricing_port,
        ledger_db=ledger_db,
        ledger_port=ledger_port,
    )
    with Processes(env, tmp_path) as processes:
        for name, module, url in (
            ("pricing", "pricing", pricing_url),
            ("ledger-api", "ledger", f"http://127.0.0.1:{ledger_port}"),
        ):
            wait_healthy(url, processes.start(name, module, "serve"))
        yield Services(pricing_url, f"http://127.0.0.1:{ledger_port}")


@dataclass
class GeneratedClient:
    """A package openapi-python-client wrote, imported."""

    package: ModuleType
    models: ModuleType

    def operation(self, name: str) -> ModuleType:
        """The module of an operation, by the operation's name (`get_balance`) or by the
        name FastAPI derives by default (`get_balance_v1_partners_...`), under any tag."""
        api = importlib.import_module(f"{self.package.__name__}.api")
        for tag in pkgutil.iter_modules(api.__path__):
            tag_package = importlib.import_module(f"{api.__name__}.{tag.name}")
            for found in pkgutil.iter_modules(tag_package.__path__):
                if found.name == name or found.name.startswith(f"{name}_v1_"):
                    return importlib.import_module(f"{tag_package.__name__}.{found.name}")
        raise AssertionError(f"no operation {name!r} in the generated {self.package.__name__}")

    def body_model(self, operation: str) -> Any:
        """The generated model class an operation takes as its body."""
        hints = typing.get_type_hints(self.operation(operation).sync_detailed)
        return hints["body"]


def generate_client(document_url: str, package: str, where: Path) -> GeneratedClient:
    """Fetch the running service's document, generate a client package from it offline and
    import it. Warnings fail: each one is a piece of the API the client left out."""
    document = where / f"{package}.json"
    document.write_bytes(httpx.get(document_url, timeout=10).raise_for_status().content)
    config = where / "generator.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run over the generated code
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(where / package),
            "--meta",
            "none",
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    return GeneratedClient(
        importlib.import_module(package), importlib.import_module(f"{package}.models")
    )


@pytest.fixture
def clients(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[GeneratedClient, GeneratedClient]]:
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.syspath_prepend(str(tmp_path))
    ledger = generate_client(
        f"{services.ledger_url}/openapi.json", f"ledger_client_{suffix}", tmp_path
    )
    pricing = generate_client(
        f"{services.pricing_url}/openapi.json", f"pricing_client_{suffix}", tmp_path
    )
    yield ledger, pricing
    for name in [m for m in sys.modules if m.endswith(suffix) or f"_{suffix}." in m]:
        del sys.modules[name]


def ok(response: Any, status: HTTPStatus, model: type) -> Any:
    """The parsed body of a generated client's `sync_detailed` answer, which must be ``model``."""
    assert response.status_code == status, response.content
    assert isinstance(response.parsed, model), type(response.parsed)
    return response.parsed


def test_a_partners_day_through_generated_clients(
    services: Services, clients: tuple[GeneratedClient, GeneratedClient]
) -> None:
    ledger, pricing = clients
    m = ledger.models
    partner_id = f"portal-{uuid.uuid4().hex[:8]}"

    # The platform's operator loads the price lists into pricing, from the client's models.
    admin = pricing.package.AuthenticatedClient(base_url=services.pricing_url, token=PRICING_ADMIN)
    create_price_list = pricing.operation("create_price_list")
    for price_list in (MAILING_PRICE_LIST, CREDIT_PRICE_LIST):
        body = pricing.body_model("create_price_list").from_dict(price_list)
        created = create_price_list.sync_detailed(client=admin, body=body)
        assert created.status_code == HTTPStatus.CREATED, created.content
        assert type(created.parsed).__module__.startswith(pricing.models.__name__)
        assert created.parsed.id == price_list["id"]

    # Ops registers the partner and gives it a starting balance.
    ops = ledger.package.AuthenticatedClient(base_url=services.ledger_url, token=OPS)
    card = m.CardMethod(type_="card", customer=f"cus_{partner_id}", payment_method="pm_1")
    registered = ok(
        ledger.operation("create_partner").sync_detailed(
            client=ops,
            body=m.NewPartner(
                partner_id=partner_id,
                name="Portal GmbH",
                credit_price_list_id=CREDIT_PRICE_LIST["id"],
                mailing_price_list_id=MAILING_PRICE_LIST["id"],
                billing=m.BillingSettings(
                    billing_mode=m.BillingSettingsBillingMode.PREPAID,
                    reminder_threshold=5_000,
                    payment_method=card,
                ),
            ),
        ),
        HTTPStatus.CREATED,
        m.RegisteredPartner,
    )
    assert registered.partner_id == partner_id
    assert isinstance(registered.billing, m.Billing)
    assert registered.billing.billing_mode == m.BillingBillingMode.PREPAID
    assert registered.billing.reminder_threshold == 5_000
    assert registered.billing.auto_purchase is None
    assert isinstance(registered.billing.payment_method, m.PaymentMethodOnFile)
    assert registered.billing.payment_method.type_ == m.PaymentMethodOnFileType.CARD
    assert registered.billing.payment_method.additional_properties == {
        "customer": f"cus_{partner_id}",
        "payment_method": "pm_1",
    }
    assert isinstance(registered.balance, m.Balance)
    assert (registered.balance.balance, registered.balance.version) == (0, 2)
    granted = ok(
        ledger.operation("grant").sync_detailed(
            partner_id, client=ops, body=m.CreditGrant(credits_=GRANT, reason="welcome")
        ),
        HTTPStatus.CREATED,
        m.Balance,
    )
    assert granted.balance == GRANT

    # From here on the portal works with the partner's own token.
    portal = ledger.package.AuthenticatedClient(
        base_url=services.ledger_url, token=registered.token
    )
    customer = ok(
        ledger.operation("add_customer").sync_detailed(
            partner_id, client=portal, body=m.NewCustomer(customer_id="shop-7", name="Shop 7")
        ),
        HTTPStatus.CREATED,
        m.Customer,
    )
    assert (customer.customer_id, customer.name) == ("shop-7", "Shop 7")
    customers = ok(
        ledger.operation("list_customers").sync_detailed(partner_id, client=portal),
        HTTPStatus.OK,
        m.CustomerList,
    )
    assert [(c.customer_id, c.name) for c in customers.customers] == [("shop-7", "Shop 7")]
    assert all(isinstance(c, m.Customer) for c in customers.customers)

    # The portal shows what a package of credits costs (pricing), then buys it (ledger): the
    # ledger asks the same price list, so the amounts agree to the cent.
    public = pricing.package.Client(base_url=services.pricing_url)
    price = pricing.operation("price_credits").sync_detailed(
        client=public,
        body=pricing.body_model("price_credits").from_dict(
            {"price_list_id": CREDIT_PRICE_LIST["id"], "credits": PURCHASE}
        ),
    )
    assert price.status_code == HTTPStatus.OK, price.content
    assert type(price.parsed).__module__.startswith(pricing.models.__name__)
    purchase = ok(
        ledger.operation("create_purchase").sync_detailed(
            partner_id,
            client=portal,
            body=m.NewPurchase(credits_=PURCHASE),
            idempotency_key=f"buy-{partner_id}",
        ),
        HTTPStatus.ACCEPTED,
        m.PurchaseRequested,
    )
    assert purchase.amount_minor == price.parsed.amount_minor == 16_000  # 20,000 at 0.008
    assert (purchase.currency, purchase.credits_) == ("EUR", PURCHASE)
    assert purchase.status == "requested"

    # A mailing is planned: its credits are held.
    hold = ok(
        ledger.operation("create_reservation").sync_detailed(
            partner_id,
            client=portal,
            body=m.NewReservation(
                reservation_id="newsletter-1", credits_=HOLD, mailing_id="mailing-1"
            ),
            idempotency_key="hold-newsletter-1",
        ),
        HTTPStatus.CREATED,
        m.Reservation,
    )
    assert hold.status == m.ReservationStatus.ACTIVE
    assert isinstance(hold.expires_at, datetime) and hold.expires_at.tzinfo is not None
    assert (hold.credits_, hold.mailing_id) == (HOLD, "mailing-1")
    assert isinstance(hold.balance, m.Balance)
    assert (hold.balance.held, hold.balance.available) == (HOLD, GRANT - HOLD)
    again = ok(
        ledger.operation("get_reservation").sync_detailed(
            partner_id, "newsletter-1", client=portal
        ),
        HTTPStatus.OK,
        m.Reservation,
    )
    assert again.to_dict() == hold.to_dict()

    balance = ok(
        ledger.operation("get_balance").sync_detailed(partner_id, client=portal),
        HTTPStatus.OK,
        m.Balance,
    )
    assert (balance.balance, balance.held, balance.available) == (GRANT, HOLD, GRANT - HOLD)
    assert (balance.debt, balance.debt_minor) == (0, 0)

    # The history, two events a page, as a portal pages through it.
    list_events = ledger.operation("list_events")
    seen: list[Any] = []
    after = 0
    while True:
        page = ok(
            list_events.sync_detailed(partner_id, client=portal, after=after, limit=2),
            HTTPStatus.OK,
            m.EventPage,
        )
        assert all(isinstance(event, m.HistoryEvent) for event in page.events)
        seen += page.events
        if page.next_after is None:
            break
        after = page.next_after
    assert [event.type_ for event in seen] == [
        "PartnerRegistered",
        "BillingSettingsChanged",
        "CreditsGranted",
        "ReminderArmed",  # the balance reached the reminder's threshold (set above it)
        "CustomerAttached",
        "PurchaseRequested",
        "CreditsReserved",
    ]
    assert [event.version for event in seen] == list(range(1, 8))
    assert all(isinstance(event.recorded_at, datetime) for event in seen)
    assert seen[-1].payload.additional_properties["credits"] == HOLD

    # The mailing is called off: the hold is given back.
    released = ok(
        ledger.operation("release_reservation").sync_detailed(
            partner_id, "newsletter-1", client=portal
        ),
        HTTPStatus.OK,
        m.Reservation,
    )
    assert released.status == m.ReservationStatus.RELEASED
    assert (released.balance.held, released.balance.available) == (0, GRANT)

    partner = ok(
        ledger.operation("get_partner").sync_detailed(partner_id, client=portal),
        HTTPStatus.OK,
        m.Partner,
    )
    assert partner.locale == m.PartnerLocale.DE
    assert partner.billing.to_dict() == registered.billing.to_dict()
    assert partner.balance.version == 8

    # Another partner's account is not there for this token: a typed problem, not a dict.
    missing = ledger.operation("get_balance").sync_detailed("someone-else", client=portal)
    assert missing.status_code == HTTPStatus.NOT_FOUND
    assert isinstance(missing.parsed, m.ProblemDetails)
    assert missing.parsed.status == 404
