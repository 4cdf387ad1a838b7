"""One codec for every message: validate against the JSON Schemas in `schemas/`, then (de)serialise.

Decoding never raises anything but `InvalidMessage`, whose text is the reason a dead letter
carries, so a consumer can route any bad input to its dead-letter topic and go on.
"""

import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from shared.envelope import CONTENT_TYPE, SPEC_VERSION, CloudEvent

_ENVELOPE_FIELDS = frozenset(
    {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"}
)
_format_checker = FormatChecker(formats=())


@_format_checker.checks("date-time", raises=ValueError)
def _is_rfc3339(value: object) -> bool:
    # Only strings are checked; the schema's "type" catches the rest.
    if isinstance(value, str):
        parse_time(value)
    return True


class InvalidMessage(ValueError):
    """The message cannot be processed; `str()` is the reason, `field` the JSON path at fault."""

    def __init__(self, reason: str, field: str = "$") -> None:
        super().__init__(f"{field}: {reason}" if field != "$" else reason)
        self.field = field


def parse_time(value: str) -> datetime:
    """An RFC 3339 time with an offset; a time without one is ambiguous and refused."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return parsed


def schema_text(message_type: str) -> dict[str, Any]:
    """The JSON Schema of a message type (or of the envelope, for `cloudevent`)."""
    path = resources.files("shared") / "schemas" / f"{message_type}.schema.json"
    if not path.is_file():
        raise KeyError(message_type)
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@cache
def _validator(message_type: str) -> Draft202012Validator:
    return Draft202012Validator(schema_text(message_type), format_checker=_format_checker)


def _is_time(value: str) -> bool:
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


@cache
def _fast_check(message_type: str) -> Any:
    # Compiled to plain Python: about a hundred times faster than the interpreting validator,
    # which is kept for the rare invalid message because it explains the fault better.
    return fastjsonschema.compile(schema_text(message_type), formats={"date-time": _is_time})


def known_types() -> list[str]:
    """Every message type that has a schema."""
    files = resources.files("shared") / "schemas"
    return sorted(
        p.name.removesuffix(".schema.json")
        for p in files.iterdir()
        if p.name.endswith(".schema.json") and p.name != "cloudevent.schema.json"
    )


def _check(message_type: str, document: object, prefix: str) -> None:
    try:
        _fast_check(message_type)(document)
        return
    except fastjsonschema.JsonSchemaException:
        pass
    error = best_match(_validator(message_type).iter_errors(document))
    if error is not None:
        path = prefix + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        raise InvalidMessage(error.message, path)


def validate_data(message_type: str, data: object) -> None:
    """Check a payload against its type's schema."""
    try:
        _fast_check(message_type)
    except KeyError:
        raise InvalidMessage(f"unknown message type {message_type!r}", "$.type") from None
    _check(message_type, data, "$.data")


def decode(raw: bytes | None) -> CloudEvent:
    """Bytes from Kafka to a validated event, or `InvalidMessage` with the reason."""
    if raw is None:
        raise InvalidMessage("message has no value (tombstone)")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None
    _check("cloudevent", document, "$")
    validate_data(document["type"], document["data"])
    return CloudEvent(
        id=document["id"],
        source=document["source"],
        type=document["type"],
        time=parse_time(document["time"]),
        data=document["data"],
        subject=document.get("subject"),
        extensions={k: v for k, v in document.items() if k not in _ENVELOPE_FIELDS},
    )


def to_document(event: CloudEvent) -> dict[str, Any]:
    """The structured-mode JSON object of an event, validated before it leaves."""
    validate_data(event.type, event.data)
    document: dict[str, Any] = {
        **event.extensions,
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": event.time.isoformat(),
        "datacontenttype": CONTENT_TYPE,
        "data": event.data,
    }
    if event.subject is not None:
        document["subject"] = event.subject
    return document


def encode(event: CloudEvent) -> bytes:
    """An event to the bytes that go on Kafka."""
    return orjson.dumps(to_document(event))
