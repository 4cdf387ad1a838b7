"""Small helpers to read JSON documents (already decoded) with exact error paths."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .errors import PricingError


def child(path: str, key: object) -> str:
    """Path of a member: ``$.tiers`` or ``$["odd key"]`` when the key is not a plain name."""
    text = str(key)
    # isascii + isidentifier is [A-Za-z_][A-Za-z0-9_]* without a regex (called per field).
    if text.isascii() and text.isidentifier():
        return f"{path}.{text}"
    return f"{path}[{json.dumps(text)}]"


def item(path: str, index: int) -> str:
    """Path of a list element: ``$.tiers[2]``."""
    return f"{path}[{index}]"


def as_object(
    value: object,
    path: str,
    error: type[PricingError],
    *,
    required: Collection[str] = (),
    optional: Collection[str] = (),
) -> Mapping[str, Any]:
    """``value`` as a JSON object holding all ``required`` and no other than ``optional`` keys.

    Unknown keys are refused rather than ignored: a typo such as ``flat_amount`` for
    ``flat_fee`` would otherwise silently change a price.
    """
    if not isinstance(value, Mapping):
        raise error(path, f"must be an object, got {kind_of(value)}")
    allowed = (*required, *optional)
    for key in value:
        if key not in allowed:
            expected = ", ".join(allowed) if allowed else "no fields"
            raise error(child(path, key), f"unknown field; expected {expected}")
    for key in required:
        if key not in value:
            raise error(child(path, key), "is required")
    return value


def as_list(value: object, path: str, error: type[PricingError]) -> Sequence[Any]:
    """``value`` as a JSON array."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise error(path, f"must be an array, got {kind_of(value)}")
    return value


def as_text(value: object, path: str, error: type[PricingError], *, max_length: int = 200) -> str:
    """``value`` as a non-empty JSON string of at most ``max_length`` characters."""
    if not isinstance(value, str):
        raise error(path, f"must be a string, got {kind_of(value)}")
    if not value.strip():
        raise error(path, "must not be empty")
    if len(value) > max_length:
        raise error(path, f"must be at most {max_length} characters long")
    return value


def kind_of(value: object) -> str:
    """How a message names the JSON kind of ``value``: ``a string``, ``null``, ``an array``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "an array"
    return type(value).__name__
