"""One codec for every message: validate against the JSON Schemas in `schemas/`, then (de)serialise.

Decoding never raises anything but `InvalidMessage`, whose text is the reason a dead letter
carries, so a consumer can route any bad input to its dead-letter topic and go on.

Incoming events may use either content mode of the CloudEvents Kafka protocol binding:
structured (the whole event is the JSON value) or binary (attributes in `ce_*` headers, the
value is the data). We always publish structured JSON.
"""

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from shared.envelope import CONTENT_TYPE, SPEC_VERSION, CloudEvent

_ENVELOPE_FIELDS = frozenset(
    {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"}
)
_BINARY_PREFIX = "ce_"
_BINARY_SPEC_VERSION = _BINARY_PREFIX + "specversion"
# Structured mode names itself with this media type; the CloudEvents SDK instead puts the
# event's own `datacontenttype` into the `content-type` header (and leaves it out of the JSON).
_STRUCTURED_MEDIA_TYPE = "application/cloudevents"

Headers = Sequence[tuple[str, bytes]]
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


def _compiled(schema: dict[str, Any]) -> Any:
    # Compiled in Rust: several times faster than even generated Python, and hundreds of times
    # faster than the interpreting validator, which is kept for the rare invalid message
    # because it explains the fault better. Times are checked by the same rule as there.
    return jsonschema_rs.validator_for(
        schema, validate_formats=True, formats={"date-time": _is_time}
    )


@cache
def _fast_check(message_type: str) -> Any:
    return _compiled(schema_text(message_type))


@cache
def _fast_event_check(message_type: str) -> Any:
    # The envelope and its type's data in one schema: one call into Rust per message, which
    # converts the document once (checked apart, the data was converted twice).
    return _compiled(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [
                schema_text("cloudevent"),
                {"properties": {"data": schema_text(message_type)}},
            ],
        }
    )


def _is_valid_event(document: object) -> bool:
    """Whether a document is a valid event of a known type, envelope and data alike: the fast
    answer for nearly every message. False says nothing about why; the checks one by one do."""
    if not isinstance(document, dict):
        return False
    message_type = document.get("type")
    # Only a type with a schema of its own: any other string is the checks' to explain.
    if not isinstance(message_type, str) or message_type not in _schema_types():
        return False
    return bool(_fast_event_check(message_type).is_valid(document))


@cache
def _schema_types() -> frozenset[str]:
    return frozenset(known_types())


def known_types() -> list[str]:
    """Every message type that has a schema."""
    files = resources.files("shared") / "schemas"
    return sorted(
        p.name.removesuffix(".schema.json")
        for p in files.iterdir()
        if p.name.endswith(".schema.json") and p.name != "cloudevent.schema.json"
    )


def _check(message_type: str, document: object, prefix: str) -> None:
    if _fast_check(message_type).is_valid(document):
        return
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


def _is_json_media_type(value: str) -> bool:
    if value == CONTENT_TYPE:
        return True  # what nearly every message says: no parsing
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _nul_paths(value: object, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                yield path
            yield from _nul_paths(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{path}[{index}]")


def refuse_nul(document: object) -> None:
    """PostgreSQL's text and jsonb cannot hold U+0000: an event carrying one anywhere could
    never be recorded, so it is refused here, before it reaches the database."""
    for path in _nul_paths(document, "$"):
        raise InvalidMessage("contains U+0000, which the database cannot store", path)


def _may_hold_nul(raw: bytes | None, headers: dict[str, bytes]) -> bool:
    # JSON writes U+0000 only as an escape, so most messages are cleared by a byte search;
    # base64 data is decoded before it can be searched.
    if raw is not None and (b"\\u0000" in raw or b"data_base64" in raw):
        return True
    # Most messages have no header at all: no generator is made for them.
    return bool(headers) and any(b"\x00" in value for value in headers.values())


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None


def _binary_document(raw: bytes | None, headers: dict[str, bytes]) -> dict[str, Any]:
    """Binary mode: attributes from the `ce_*` headers, the value is the data itself."""
    document: dict[str, Any] = {}
    for name, value in headers.items():
        attribute = name.removeprefix(_BINARY_PREFIX) if name.startswith(_BINARY_PREFIX) else None
        if name == "content-type":
            attribute = "datacontenttype"
        if attribute is None:
            continue
        try:
            document[attribute] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidMessage("header is not UTF-8", f"$.{attribute}") from None
    if raw is None:
        raise InvalidMessage("binary-mode event has no data (tombstone)", "$.data")
    document["data"] = _loads(raw)
    return document


def _structured_document(raw: bytes | None, headers: dict[str, bytes]) -> Any:
    if raw is None:
        raise InvalidMessage("message has no value (tombstone)")
    document = _loads(raw)
    if not isinstance(document, dict):
        return document  # the envelope schema names the fault
    if "data" not in document and isinstance(document.get("data_base64"), str):
        try:
            document["data"] = _loads(base64.b64decode(document.pop("data_base64"), validate=True))
        except (binascii.Error, ValueError):
            raise InvalidMessage("not base64", "$.data_base64") from None
    content_type = headers.get("content-type", b"").decode("utf-8", "replace")
    if (
        content_type
        and "datacontenttype" not in document
        and not content_type.lower().startswith(_STRUCTURED_MEDIA_TYPE)
    ):
        document["datacontenttype"] = content_type
    return document


def decode_document(raw: bytes | None, headers: Headers = ()) -> dict[str, Any]:
    """A Kafka message (value and headers) to its validated event as a JSON object, in the
    structured mode's shape, or `InvalidMessage` with the reason. A `ce_specversion` header
    means binary mode; anything else is structured mode. (A consumer of many small events
    reads its fields from here, without building a `CloudEvent` for each.)"""
    by_name = {name.lower(): value for name, value in headers} if headers else {}
    if _BINARY_SPEC_VERSION in by_name:
        document = _binary_document(raw, by_name)
    else:
        document = _structured_document(raw, by_name)
    valid = _is_valid_event(document)
    if not valid:
        _check("cloudevent", document, "$")
    # Optional in CloudEvents 1.0; absent means JSON, and JSON is all we read.
    content_type = document.get("datacontenttype", CONTENT_TYPE)
    if not _is_json_media_type(content_type):
        raise InvalidMessage(f"{content_type!r} is not a JSON media type", "$.datacontenttype")
    if _may_hold_nul(raw, by_name):
        refuse_nul(document)
    if not valid:
        validate_data(document["type"], document["data"])
    return document


def decode(raw: bytes | None, headers: Headers = ()) -> CloudEvent:
    """A Kafka message (value and headers) to a validated event (see `decode_document`)."""
    document = decode_document(raw, headers)
    return CloudEvent(
        id=document["id"],
        source=document["source"],
        type=document["type"],
        time=parse_time(document["time"]),
        data=document["data"],
        subject=document.get("subject"),
        extensions=(
            {}  # the common case, found in C without a loop in Python
            if _ENVELOPE_FIELDS.issuperset(document)
            else {k: v for k, v in document.items() if k not in _ENVELOPE_FIELDS}
        ),
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
