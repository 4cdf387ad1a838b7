"""The OpenAPI document: request bodies from the request models, named examples.

The routes read their bodies themselves (exact decimals, no duplicate keys:
:mod:`pricing.api.bodies`) and validate them with the request models of
:mod:`pricing.service_layer.commands`; this module puts those same models into the document
as each route's request body. The examples are the canonical lists of :mod:`pricing.examples`
and the answers are computed by the use cases themselves on an in-memory repository, once,
when the document is first built (never at import).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from pricing import examples
from pricing.service_layer import PricingService
from pricing.service_layer.commands import REQUESTS, Request
from pricing.service_layer.evaluation import evaluate

_T = TypeVar("_T")
# The examples' answers are computed at this time: after every example version took effect.
EXAMPLES_AT = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def request_body(model: type[Request]) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads its body itself: its request model."""
    assert model in REQUESTS, model
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def _done(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """The result of a coroutine that never waits (the use cases on the in-memory
    repository): the document is built synchronously, maybe inside a running event loop."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("an example's use case waited for I/O")


def _named(summary: str, value: Any) -> dict[str, Any]:
    return {"summary": summary, "value": value}


def build_examples(service: PricingService) -> dict[str, dict[str, dict[str, Any]]]:
    """Per route (``"POST /v1/evaluate"``): ``request`` and ``response`` named examples.

    ``service`` runs on an empty in-memory repository; the canonical lists are created in it.
    """
    for price_list in examples.PRICE_LISTS:
        _done(service.create_price_list(price_list))
    evaluations = {
        name: {"price": price, "quantity": quantity, "currency": "EUR"}
        for name, (_, price, quantity) in examples.PRICE_MODELS.items()
    }
    summaries = {name: summary for name, (summary, _, _) in examples.PRICE_MODELS.items()}
    graduated = examples.PRICE_MODELS["graduated"][1]
    evaluations["graduated_with_free_quota"] = {
        "price": graduated,
        "quantity": "2500",
        "currency": "EUR",
        "included_quantity": "1000",
    }
    summaries["graduated_with_free_quota"] = "Intervallstaffel with 1,000 units included"
    quotes = {
        "first_invoice": (
            "First yearly invoice: setup fee, 12 monthly fees, seats, usage",
            {
                "price_list_id": examples.NEWSLETTER_PLANS["id"],
                "plan_variant_id": "pro_yearly",
                "period_start": "2025-03-01",
                "period_end": "2026-03-01",
                "first_invoice": True,
                "booked": {"seats": "3"},
                "usage": {"recipients": ["8000", "6000"]},
            },
        ),
        "prorated": (
            "Upgrade mid-cycle: prorated by actual days",
            {
                "price_list_id": examples.NEWSLETTER_PLANS["id"],
                "plan_variant_id": "pro_yearly",
                "period_start": "2025-09-01",
                "period_end": "2026-03-01",
                "billing_anchor": "2025-03-01",
                "booked": {"seats": "3"},
            },
        ),
    }
    at = EXAMPLES_AT.isoformat().replace("+00:00", "Z")
    batch = {
        "items": [
            {
                "price_list_id": examples.MAILING_CREDITS["id"],
                "component": "recipients",
                "quantity": "5000",
                "at": at,
            },
            {
                "price_list_id": "no-such-list",
                "component": "recipients",
                "quantity": "20",
                "at": at,
            },
        ]
    }
    credits_price = {"price_list_id": examples.CREDIT_PRICES_EUR["id"], "credits": "25000"}
    for_recipients = {
        "price_list_id": examples.MAILING_CREDITS["id"],
        "recipients": "5000",
        "at": at,
    }
    version = examples.NEW_MAILING_CREDITS_VERSION
    return {
        "POST /v1/evaluate": {
            "request": {name: _named(summaries[name], body) for name, body in evaluations.items()},
            "response": {
                name: _named(summaries[name], evaluate(body)) for name, body in evaluations.items()
            },
        },
        "POST /v1/price-lists": {
            "request": {
                "mailing_credits": _named(
                    "CREDITS per recipient, for the ledger (1.05 credits per recipient)",
                    examples.MAILING_CREDITS,
                ),
                "credit_prices": _named(
                    "What credits cost in EUR (Preisstaffelung, volume tiers)",
                    examples.CREDIT_PRICES_EUR,
                ),
                "plans": _named(
                    "Plan variants with a recurring and a metered component",
                    examples.NEWSLETTER_PLANS,
                ),
            },
        },
        "POST /v1/price-lists/{price_list_id}/versions": {
            "request": {"new_price": _named("1.00 credit per recipient from 2030 on", version)},
            "response": {
                "new_price": _named(
                    "The version as stored",
                    _done(service.add_version(examples.MAILING_CREDITS["id"], version)),
                )
            },
        },
        "POST /v1/quotes": {
            "request": {name: _named(summary, body) for name, (summary, body) in quotes.items()},
            "response": {
                name: _named(summary, _done(service.quote(body)))
                for name, (summary, body) in quotes.items()
            },
        },
        "POST /v1/quotes/batch": {
            "request": {
                "mailings": _named(
                    "Credits of two mailings; the second names an unknown price list", batch
                )
            },
            "response": {
                "mailings": _named("One entry per item", _done(service.quote_batch(batch)))
            },
        },
        "POST /v1/credits/price": {
            "request": {"price": _named("What 25,000 credits cost", credits_price)},
            "response": {
                "price": _named("25,000 credits", _done(service.price_credits(credits_price)))
            },
        },
        "POST /v1/credits/for-recipients": {
            "request": {
                "mailing": _named("Credits of a mailing to 5,000 recipients", for_recipients)
            },
            "response": {
                "mailing": _named(
                    "5,000 x 1.05 credits", _done(service.credits_for_recipients(for_recipients))
                )
            },
        },
    }


def install_openapi(app: FastAPI, example_service: Callable[[], PricingService]) -> None:
    """Add the request models to the document and the named examples to their routes.

    The examples are put in after FastAPI built the document: FastAPI drops every null from
    examples it is given, which would cut ``"up_to": null`` out of the tiers.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        document = generate()
        if first:
            _, definitions = models_json_schema(
                [(model, "validation") for model in REQUESTS],
                ref_template="#/components/schemas/{model}",
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in definitions.get("$defs", {}).items():
                schemas.setdefault(name, schema)
            _add_examples(document, build_examples(example_service()))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _add_examples(document: dict[str, Any], named: dict[str, dict[str, dict[str, Any]]]) -> None:
    for route, found in named.items():
        method, path = route.split(" ", 1)
        operation = document["paths"][path][method.lower()]
        if "request" in found:
            operation["requestBody"]["content"]["application/json"]["examples"] = found["request"]
        if "response" in found:
            status = next(code for code in operation["responses"] if code.startswith("2"))
            answer = operation["responses"][status]["content"]["application/json"]
            answer["examples"] = found["response"]
