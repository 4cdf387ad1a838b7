"""The registry of price models: what a model needs, and that a new one is one module.

The model of "Adding a price model" in docs/pricing.md is run here as the module it shows, in
a registry of its own: the service's registry (``MODELS``) is never changed.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import TypeAdapter, ValidationError

from pricing.domain import (
    MODELS,
    Example,
    FlatPrice,
    InvalidDefinition,
    PriceModels,
    evaluation_to_json,
)
from pricing.service_layer.price_model_schemas import price_model_union

DOCS = Path(__file__).resolve().parents[3] / "docs" / "pricing.md"
PACKAGE = "pricing.domain.price_models"


def section(title: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


@pytest.fixture
def per_mille(monkeypatch: pytest.MonkeyPatch) -> type[Any]:
    """The model module of docs/pricing.md, loaded as a module of the price models' package
    (for its relative imports) for the duration of one test."""
    [code] = re.findall(r"```python\n(.*?)\n```", section("Adding a price model"), re.DOTALL)
    module = types.ModuleType(f"{PACKAGE}.per_mille")
    module.__package__ = PACKAGE
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, "docs/pricing.md", "exec"), module.__dict__)
    cls: type[Any] = module.PerMillePrice
    return cls


def test_the_documented_new_model_is_read_evaluated_and_written_by_its_own_registry(
    per_mille: type[Any],
) -> None:
    registry = PriceModels(*MODELS.values(), per_mille)
    _, price, quantity = registry.examples["per_mille"]

    model = registry.parse(price)
    evaluation = registry.evaluate(model, Decimal(quantity), "EUR", Decimal(500))

    assert list(registry) == [*MODELS, "per_mille"]
    assert evaluation_to_json(evaluation) == {
        "currency": "EUR",
        "quantity": "2500",
        "billable_quantity": "2000",
        "exact_amount": "2.40000",
        "amount": "2.40",
        "lines": [
            {
                "tier": 1,
                "from": "0",
                "to": None,
                "quantity": "2000",
                "unit_price": "0.00120",
                "flat_fee": "0",
                "amount": "2.40000",
            }
        ],
    }
    assert registry.to_json(model) == {"model": "per_mille", "price_per_thousand": "1.20"}
    assert registry.parse(registry.to_json(model)) == model


def test_the_documented_new_model_is_checked_with_its_paths(per_mille: type[Any]) -> None:
    registry = PriceModels(FlatPrice, per_mille)

    with pytest.raises(InvalidDefinition) as negative:
        registry.parse({"model": "per_mille", "price_per_thousand": "-1"}, "$.price")
    with pytest.raises(InvalidDefinition) as unknown:
        registry.parse({"model": "per_mille", "price_per_thousand": "1", "cap": "9"})
    with pytest.raises(InvalidDefinition) as missing:
        registry.parse({"model": "per_mille"})

    assert negative.value.path == "$.price.price_per_thousand"
    assert (unknown.value.path, unknown.value.message) == (
        "$.cap",
        "unknown field; expected model, price_per_thousand",
    )
    assert missing.value.path == "$.price_per_thousand"


def test_the_request_schema_of_a_registry_holds_its_new_model(per_mille: type[Any]) -> None:
    union = TypeAdapter(price_model_union(PriceModels(FlatPrice, per_mille)))

    union.validate_python({"model": "per_mille", "price_per_thousand": "1.20"})
    with pytest.raises(ValidationError):
        union.validate_python({"model": "graduated", "tiers": []})
    assert set(union.json_schema()["discriminator"]["mapping"]) == {"flat", "per_mille"}


def test_the_service_registry_does_not_know_a_model_of_another_registry(
    per_mille: type[Any],
) -> None:
    model = PriceModels(per_mille, FlatPrice).parse(
        {"model": "per_mille", "price_per_thousand": "1"}
    )

    with pytest.raises(InvalidDefinition, match="unknown model 'per_mille'"):
        MODELS.parse({"model": "per_mille", "price_per_thousand": "1"})
    with pytest.raises(TypeError, match="not a price model"):
        MODELS.evaluate(model, Decimal(1), "EUR")
    with pytest.raises(TypeError, match="not a price model"):
        MODELS.to_json(model)
    assert not MODELS.knows(model)
    assert "per_mille" not in MODELS


@dataclass(frozen=True, slots=True)
class _Nameless:
    free_quota_applies: ClassVar[bool] = True


@dataclass(slots=True)
class _Mutable:
    model: ClassVar[str] = "mutable"
    unit_price: Decimal


def test_a_registry_refuses_what_it_could_not_dispatch() -> None:
    class OtherExample(FlatPrice):
        model: ClassVar[str] = "other"

    class SameExampleName(FlatPrice):
        model: ClassVar[str] = "same"
        examples: ClassVar[Mapping[str, Example]] = {
            "flat": Example("a second 'flat'", {"model": "same", "unit_price": "1"}, "1")
        }

    with pytest.raises(ValueError, match="two price models are named 'flat'"):
        PriceModels(FlatPrice, FlatPrice)
    with pytest.raises(TypeError, match="no model name"):
        PriceModels(_Nameless)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="frozen dataclass"):
        PriceModels(_Mutable)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is not of that model"):
        PriceModels(OtherExample)
    with pytest.raises(ValueError, match="two examples are named 'flat'"):
        PriceModels(FlatPrice, SameExampleName)


def test_docs_describe_every_registered_model_and_no_other() -> None:
    models = section("Price models")
    rows = [line for line in models.splitlines() if line.startswith("|")][2:]  # no header
    in_table = [re.findall(r"`(\w+)`", row.split("|")[2]) for row in rows]
    with_a_section = re.findall(r"^### `(\w+)`$", models, re.MULTILINE)

    assert in_table == [[name] for name in MODELS]
    assert with_a_section == list(MODELS)
