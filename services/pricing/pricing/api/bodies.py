"""Request bodies in, response bodies out.

Bodies are decoded here, not by pydantic, for three reasons: JSON numbers must become
``Decimal`` (``0.1`` stays 0.1; a float has already lost the value), duplicate keys must be
refused (``{"unit_price": "1", "unit_price": "2"}`` is ambiguous, and parsers disagree on which
one wins), and the domain's parse functions are the one validation, with the same 422 shape
for every endpoint. It is also much faster on the hot paths.

``NaN``, ``Infinity`` and ``-Infinity``, which Python's ``json`` accepts although JSON has no
such literals, are read as the ``Decimal`` of the same name, so the domain refuses them with the
path of the field that holds them. A string holding U+0000 is refused here with its path:
PostgreSQL could not store it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Response

from pricing.domain import child, item
from shared.problems import invalid
from shared.text import NUL_MESSAGE, nul_path


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey
    return result


class _Pairs(list[tuple[str, Any]]):
    """An object kept as its list of members, to find where a duplicate key sits."""


_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_constant=Decimal, object_pairs_hook=_unique_pairs
)
_PAIRS_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_constant=Decimal, object_pairs_hook=_Pairs
)


def decode_json(raw: bytes) -> object:
    """The JSON document of a request body; a :class:`Problem` (422) when it is not one."""
    try:
        document = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("$", "the body must be JSON encoded as UTF-8") from None
    if not document.strip():
        raise invalid("$", "a JSON body is required")
    try:
        decoded = _DECODER.decode(document)
    except _DuplicateKey:
        path = _duplicate(_PAIRS_DECODER.decode(document), "$") or "$"
        raise invalid(path, "duplicate key: each member may appear once") from None
    except json.JSONDecodeError as error:
        raise invalid(
            "$", f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except (ValueError, RecursionError) as error:
        # Integers beyond Python's digit limit, nesting too deep for the decoder.
        raise invalid("$", f"unreadable JSON: {error}") from None
    # JSON can carry U+0000 only as the escape `\u0000`: walk the document only then.
    if b"\\u0000" in raw:
        where = nul_path(decoded)
        if where is not None:
            raise invalid(where, NUL_MESSAGE)
    return decoded


def _duplicate(node: object, path: str) -> str | None:
    """Path of the first repeated key in document order (the second occurrence)."""
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for key, value in node:
            if key in seen:
                return child(path, key)
            seen.add(key)
            found = _duplicate(value, child(path, key))
            if found:
                return found
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found = _duplicate(value, item(path, index))
            if found:
                return found
    return None


def json_response(
    data: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response serialised by orjson (no pydantic on the way out)."""
    return Response(
        orjson.dumps(data), status_code=status_code, headers=headers, media_type="application/json"
    )
