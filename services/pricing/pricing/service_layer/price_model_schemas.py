"""Pydantic models of the price models, generated from the domain's dataclasses.

The domain's dataclass of a model is its one description: its fields, their types, which are
optional and their documentation (``field(metadata={"doc": ...})``). This module turns each
model of a registry (:data:`pricing.domain.MODELS` for the service) into a pydantic model with
the same fields (the same :func:`~pricing.domain.price_models.base.wire_fields` the registry
reads by), for the request schema and the OpenAPI document; the values are read by the
domain's own reader (:func:`pricing.domain.parse_price_model`), so a request and a stored
definition are read the same way. Nothing here names a model: a new one registered in the
domain appears in the schema by itself.
"""

from __future__ import annotations

import dataclasses
import types
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from pricing.domain import MODELS, PriceModels
from pricing.domain.price_models import is_required, wire_fields

DecimalValue = Annotated[
    str | float,
    Field(
        description='A decimal number, best sent as a string (`"0.0125"`); JSON numbers are '
        "read as exact decimals too (0.1 stays 0.1). Finite, below 10^30, at most 18 decimals.",
        examples=["0.0125"],
    ),
]
"""How a decimal looks on the wire: the JSON schema of every ``Decimal`` field."""


def _wire_type(hint: Any) -> Any:
    """The wire type of a dataclass field's type: decimals as :data:`DecimalValue`, tuples of
    tiers as arrays of the tier's generated model."""
    if hint is Decimal:
        return DecimalValue
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        members = tuple(_wire_type(arg) for arg in get_args(hint))
        return Union[members]  # noqa: UP007 (built from a tuple)
    if origin is tuple:
        return list[_wire_type(get_args(hint)[0])]  # type: ignore[misc]
    if dataclasses.is_dataclass(hint):
        return _schema_of(hint)  # type: ignore[arg-type]
    return hint  # str, Literal[...]


_SCHEMAS: dict[type[Any], type[BaseModel]] = {}


def _schema_of(cls: type[Any]) -> type[BaseModel]:
    if cls in _SCHEMAS:
        return _SCHEMAS[cls]
    hints = get_type_hints(cls)
    fields: dict[str, Any] = {}
    name = getattr(cls, "model", None)
    if isinstance(name, str):
        fields["model"] = (Literal[name], ...)
    for member in wire_fields(cls):
        default = ... if is_required(member) else member.default
        fields[member.name] = (
            _wire_type(hints[member.name]),
            Field(default, description=member.metadata.get("doc")),
        )
    schema: type[BaseModel] = create_model(
        cls.__name__,
        __config__=ConfigDict(extra="forbid"),
        __doc__=(cls.__doc__ or "").strip(),
        __module__=__name__,
        **fields,
    )
    _SCHEMAS[cls] = schema
    return schema


def price_model_schemas(registry: PriceModels = MODELS) -> tuple[type[BaseModel], ...]:
    """The generated model of every price model of ``registry``, in the registry's order."""
    return tuple(_schema_of(cls) for cls in registry.values())


def price_model_union(registry: PriceModels = MODELS) -> Any:
    """The schema of a price model of ``registry``: a union discriminated by ``model``."""
    return Annotated[
        Union[price_model_schemas(registry)],  # noqa: UP007 (built from the registry)
        Field(discriminator="model", description="A price model; `model` says which."),
    ]


PriceModelSchema: Any = price_model_union()
"""The request schema of a price model of the service."""
