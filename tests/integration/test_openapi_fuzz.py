"""Schemathesis against both HTTP services, as clients see them: real uvicorn servers on real
databases. No input may make a service answer 5xx, and every answer's status, content type,
body and documented headers must match the service's OpenAPI document.

The run is bounded (a fixed number of examples per operation, derandomized so every run tries
the same inputs) to about two minutes for both services together.
"""

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledger.api.app import create_app as create_ledger_app
from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from ledger.settings import LedgerSettings
from pricing.api.app import create_app as create_pricing_app
from pricing.migrations import MIGRATIONS_DIR as PRICING_MIGRATIONS
from pricing.settings import PricingSettings
from tests.integration.conftest import free_port
from tests.integration.databases import fresh_migrated_database
from tests.support.clients import create_price_lists_now

# Examples per operation and generation mode: ~30 operations x 2 modes x this many requests.
EXAMPLES = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    # Beyond status and type: bodies and documented headers match the document too.
    response_schema_conformance,
    response_headers_conformance,
]
PRICING_ADMIN = "fuzz-pricing-admin-token"
LEDGER_OPS = "fuzz-ledger-ops-token"


@dataclass
class ServerThread:
    """A uvicorn server on its own event loop in a thread: the fuzzer's requests block, so
    the servers cannot share the test's loop."""

    app: Any
    port: int

    def __post_init__(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_config=None, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            self.thread.join(0.05)
        raise RuntimeError(f"server on port {self.port} did not start")

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass(frozen=True)
class Target:
    url: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, Target]]:
    pricing_db = asyncio.run(fresh_migrated_database("pricing_fuzz", PRICING_MIGRATIONS))
    ledger_db = asyncio.run(fresh_migrated_database("ledger_fuzz", LEDGER_MIGRATIONS))
    pricing_app = create_pricing_app(
        PricingSettings(database_url=pricing_db, admin_token=PRICING_ADMIN)
    )
    with ServerThread(pricing_app, free_port()) as pricing:
        create_price_lists_now(pricing.url, PRICING_ADMIN)
        ledger_app = create_ledger_app(
            LedgerSettings(database_url=ledger_db, pricing_url=pricing.url, ops_token=LEDGER_OPS)
        )
        with ServerThread(ledger_app, free_port()) as ledger:
            yield {
                "pricing": Target(pricing.url, {"Authorization": f"Bearer {PRICING_ADMIN}"}),
                "ledger": Target(ledger.url, {"Authorization": f"Bearer {LEDGER_OPS}"}),
            }


def fuzz(target: Target) -> list[str]:
    """Every operation in both generation modes; the first failure of each, as text."""
    schema = schemathesis.openapi.from_url(f"{target.url}/openapi.json")
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def call(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(
                    base_url=target.url, headers=target.headers, checks=CHECKS, timeout=30
                )

            try:
                call()
            except Unsatisfiable:
                pass  # nothing to negate (an operation without parameters or body)
            except FailureGroup as failures:
                found.append(f"{operation.label} ({mode.value}): {failures.message}")
    return found


@pytest.mark.parametrize("service", ["pricing", "ledger"])
def test_no_input_makes_a_service_fail_or_answer_off_its_document(
    services: dict[str, Target], service: str
) -> None:
    failures = fuzz(services[service])

    assert not failures, "\n\n".join(failures)
