"""The one mapping between domain events and the rows of the event store.

The domain's events are plain dataclasses; how they are written (type name, schema version,
JSON payload) and how older stored shapes are read back (upcasting) is decided here only.

- The type name is the class name; datetimes travel as ISO 8601 strings, tuples as lists.
- Every row records the schema version of its payload. ``CURRENT_VERSIONS`` names the version
  today's code writes (1 unless listed). A stored row is never rewritten: on load, the
  ``UPCASTERS`` registered for its type turn its payload into the next version's, one step at a
  time, until it has today's shape. See docs/event-versioning.md.
- A few fields of frequent events are left out while they hold their usual value
  (``_OMITTED_AT``), to keep the events table small; reading puts the value back.
- For the same reason a debit's ``sent_at`` (whole seconds) is stored relative to the row's
  ``recorded_at``: the text of the seconds between them, ``"0"`` for a debit recorded within
  the second it was sent (``_BEFORE_RECORDED``). An ISO time would cost 24 bytes of every
  debit; so ``to_row`` and ``from_row`` take the row's ``recorded_at``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Union

from ledger.domain import Event, MailingDebited

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
"""A value that ``json.dumps`` writes and ``json.loads`` reads back unchanged."""

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

EVENT_TYPES: Mapping[str, type[Event]] = types.MappingProxyType(
    {cls.__name__: cls for cls in typing.get_args(Event)}
)
"""Type name (as stored) -> event class."""

# --- versions and upcasters ------------------------------------------------------------------

CURRENT_VERSIONS: Mapping[str, int] = types.MappingProxyType(
    {"MailingDebited": 3, "BillingSettingsChanged": 2, "CreditsReserved": 2}
)
"""The schema version today's code writes, for the types that have more than version 1."""


def _mailing_debited_v1_to_v2(payload: Payload) -> Payload:
    # v2 keeps what identifies the price (list, version, recipients, credits); the quote's
    # breakdown lives in `debit_quotes`, once per distinct quote.
    return {key: value for key, value in payload.items() if key != "quote"}


def _mailing_debited_v2_to_v3(payload: Payload) -> Payload:
    # v3 records when the mailing went out (usage counts on that day). Earlier debits did not:
    # `None` says "not recorded", and readers take the time the event was recorded instead.
    return {**payload, "sent_at": None}


def _billing_settings_changed_v1_to_v2(payload: Payload) -> Payload:
    # v2 adds the balance alert levels; settings saved before them had none.
    return {**payload, "reminder_thresholds": []}


def _credits_reserved_v1_to_v2(payload: Payload) -> Payload:
    # v2 names the customer whose budget a hold counts against; earlier holds named none.
    return {**payload, "customer_id": None}


UPCASTERS: Mapping[tuple[str, int], Upcaster] = types.MappingProxyType(
    {
        ("MailingDebited", 1): _mailing_debited_v1_to_v2,
        ("MailingDebited", 2): _mailing_debited_v2_to_v3,
        ("BillingSettingsChanged", 1): _billing_settings_changed_v1_to_v2,
        ("CreditsReserved", 1): _credits_reserved_v1_to_v2,
    }
)
"""(type name, version) -> a function that turns that version's payload into the next one's."""


def current_version(type_name: str) -> int:
    return CURRENT_VERSIONS.get(type_name, 1)


def upcast(type_name: str, schema_version: int, payload: Mapping[str, Any]) -> Payload:
    """A stored payload in the shape of today's version of its type."""
    target = current_version(type_name)
    if schema_version > target:
        raise ValueError(f"{type_name} v{schema_version} is newer than this code (v{target})")
    upcasted = dict(payload)
    for version in range(schema_version, target):
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise ValueError(f"no upcaster for {type_name} v{version} -> v{version + 1}")
        upcasted = step(upcasted)
    return upcasted


# --- fields <-> JSON ---------------------------------------------------------------------------

# Fields written only when they differ from the value given here: most debits use no hold and
# are prepaid, and millions of them are stored.
_OMITTED_AT: Mapping[type[Event], Mapping[str, object]] = {
    MailingDebited: {
        "reservation_id": None,
        "captured_credits": 0,
        "released_credits": 0,
        "charge_minor": None,
    },
}


def _encode(value: object) -> JsonValue:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _encode(item) for key, item in value.items()}
    raise TypeError(f"cannot encode {type(value).__name__} in an event payload")


def _options(hint: object) -> tuple[object, ...]:
    return typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else ()


def _decoder(hint: object) -> Callable[[JsonValue], object]:
    """How to turn a payload value back into the field's type (most fields are already fine)."""
    if hint is datetime or datetime in _options(hint):
        return lambda value: (
            value
            if value is None or isinstance(value, datetime)
            else datetime.fromisoformat(str(value))
        )
    if hint is date:
        return lambda value: date.fromisoformat(str(value))
    if typing.get_origin(hint) is tuple:
        return lambda value: tuple(value) if isinstance(value, list) else value
    return lambda value: value


def _encoder(hint: object) -> Callable[[Any], JsonValue] | None:
    """How to make a field's value JSON-safe, decided once per field rather than per value:
    None for scalars, which pass as they are (writing a busy partner's debits stays cheap)."""
    options = _options(hint)
    plain = {str, int, bool, type(None)}
    if hint in plain or (options and set(options) <= plain):
        return None
    return _encode


_DECODERS: Mapping[type[Event], Mapping[str, Callable[[JsonValue], object]]] = {
    cls: {name: _decoder(hint) for name, hint in typing.get_type_hints(cls).items()}
    for cls in EVENT_TYPES.values()
}

_PLAIN = _decoder(str)

# Per type: every field, and only the fields whose stored value needs turning back (times,
# tuples); decoding a row then copies the payload and fixes those few.
_FIELDS: Mapping[type[Event], frozenset[str]] = {
    cls: frozenset(decoders) for cls, decoders in _DECODERS.items()
}
_SPECIAL: Mapping[type[Event], tuple[tuple[str, Callable[[JsonValue], object]], ...]] = {
    cls: tuple(
        (name, decode)
        for name, decode in decoders.items()
        if decode.__code__ is not _PLAIN.__code__
    )
    for cls, decoders in _DECODERS.items()
}

# Per type and field: its encoder (None: as it is), whether it is left out at its usual value,
# and that value.
_Plan = tuple[tuple[str, Callable[[Any], JsonValue] | None, bool, object], ...]


def _plan(cls: type[Event], as_is: tuple[str, ...] = ()) -> _Plan:
    omitted = _OMITTED_AT.get(cls, {})
    return tuple(
        (name, None if name in as_is else _encoder(hint), name in omitted, omitted.get(name))
        for name, hint in typing.get_type_hints(cls).items()
    )


_ENCODERS: Mapping[type[Event], _Plan] = {cls: _plan(cls) for cls in EVENT_TYPES.values()}


def _payload(event: Event, plan: _Plan) -> Payload:
    payload: Payload = {}
    for name, encode, omittable, usual in plan:
        value = getattr(event, name)
        if omittable and value == usual:
            continue
        payload[name] = value if encode is None else encode(value)
    return payload


def event_to_dict(event: Event) -> tuple[str, Payload]:
    """The event's type name and its JSON-safe payload in today's shape."""
    cls = type(event)
    return cls.__name__, _payload(event, _ENCODERS[cls])


def event_from_dict(type_name: str, payload: Mapping[str, Any]) -> Event:
    """Rebuild an event from a payload in today's shape; ``ValueError`` if it does not fit."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise ValueError(f"unknown event type {type_name!r}")
    fields = _FIELDS[cls]
    omitted = _OMITTED_AT.get(cls, {})
    if payload.keys() != fields:
        unexpected = set(payload) - fields
        missing = fields - set(payload) - set(omitted)
        if unexpected or missing:
            raise ValueError(
                f"{type_name} payload does not fit: missing {sorted(missing)}, "
                f"unexpected {sorted(unexpected)}"
            )
    # Any: the payload's shape was checked above; the values are the stored ones.
    values: dict[str, Any] = {**omitted, **payload}
    for name, decode in _SPECIAL[cls]:
        if name in payload:
            values[name] = decode(payload[name])
    return cls(**values)


# --- rows ---------------------------------------------------------------------------------------


# Times stored as the whole seconds before the row's `recorded_at` (as text: jsonb aligns
# numbers, which costs 4 bytes more): debits are most of the table and keep to a byte budget
# (test_ledger_event_size.py), and a debit is recorded within seconds of its mailing.
_BEFORE_RECORDED: Mapping[str, tuple[str, ...]] = {"MailingDebited": ("sent_at",)}
_SECOND = timedelta(seconds=1)
# A row's encoders leave those times as they are: `to_row` replaces them, so rendering them as
# ISO text first would be wasted.
_ROW_ENCODERS: Mapping[type[Event], _Plan] = {
    cls: _plan(cls, _BEFORE_RECORDED.get(name, ())) for name, cls in EVENT_TYPES.items()
}


@functools.lru_cache(maxsize=16)
def _whole_second(at: datetime) -> datetime:
    # A batch's rows share one `recorded_at`: asked once per row, computed once per batch.
    return at.replace(microsecond=0)


def _needs(recorded_at: datetime | None, type_name: str) -> datetime:
    if recorded_at is None:
        raise ValueError(f"a {type_name} row needs its recorded_at (times are stored relative)")
    return _whole_second(recorded_at)


def to_row(event: Event, recorded_at: datetime | None = None) -> tuple[str, int, Payload]:
    """The event's stored type name, schema version and JSON payload (a row recorded at
    ``recorded_at``, needed by the types that store times relative to it)."""
    type_name = type(event).__name__
    payload = _payload(event, _ROW_ENCODERS[type(event)])
    for name in _BEFORE_RECORDED.get(type_name, ()):
        value = getattr(event, name)
        if value is not None:
            if value.microsecond:
                raise ValueError(f"{type_name}.{name} is kept in whole seconds: {value}")
            payload[name] = str((_needs(recorded_at, type_name) - value) // _SECOND)
    return type_name, current_version(type_name), payload


def from_row(
    type_name: str,
    schema_version: int,
    payload: Mapping[str, Any],
    recorded_at: datetime | None = None,
) -> Event:
    """The event a stored row holds, in today's shape (older versions are upcast)."""
    upcasted = upcast(type_name, schema_version, payload)
    for name in _BEFORE_RECORDED.get(type_name, ()):
        value = upcasted.get(name)
        if value is not None:
            if not isinstance(value, str) or not value.lstrip("-").isdigit():
                raise ValueError(f"{type_name}.{name} must be seconds as text: {value!r}")
            upcasted[name] = _needs(recorded_at, type_name) - int(value) * _SECOND
    return event_from_dict(type_name, upcasted)


# --- the hash chain -----------------------------------------------------------------------------

# What PostgreSQL's jsonb writes for a string's special characters (escape_json): the short
# escapes, every other control character as \u00xx, everything else as it is.
_JSONB_ESCAPES = {
    **{chr(code): f"\\u{code:04x}" for code in range(0x20)},
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    '"': '\\"',
    "\\": "\\\\",
}
# The characters `_JSONB_ESCAPES` rewrites; searched for in C, most strings having none.
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def _jsonb_string(text: str) -> str:
    # Nearly every string needs no escape: all of `_NEEDS_ESCAPE` is unprintable or a quote or
    # a backslash, and these three checks in C cost less than the regex search.
    if text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    if _NEEDS_ESCAPE.search(text) is None:
        return f'"{text}"'
    return '"' + "".join(_JSONB_ESCAPES.get(char, char) for char in text) + '"'


def _jsonb_key(key: str) -> tuple[int, bytes]:
    # jsonb keeps an object's keys shortest first, then in byte order.
    raw = key.encode()
    return len(raw), raw


@functools.lru_cache(maxsize=4096)
def _jsonb_keys(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    # An object's keys in jsonb's order, each with its rendering up to the value. Events of one
    # type carry the same few key sets, so this is done once per key set, not once per event.
    return tuple((key, _jsonb_string(key) + ": ") for key in sorted(keys, key=_jsonb_key))


def jsonb_text(value: object) -> str:
    """The text PostgreSQL renders for ``value`` stored as jsonb (``payload::text``), which the
    hash chain covers. Floats are refused (their rendering is numeric's, not Python's)."""
    kind = type(value)
    # Exact types first: every payload and metadata is a dict of strings and ints.
    if kind is dict:
        return _jsonb_object(value)  # type: ignore[arg-type]
    if kind is str:
        return _jsonb_string(value)  # type: ignore[arg-type]
    if kind is int:
        return str(value)
    if isinstance(value, str):
        return _jsonb_string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return _jsonb_object(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(item) for item in value) + "]"
    raise TypeError(f"no exact jsonb rendering for {type(value).__name__}")


def _jsonb_object(value: dict[str, object]) -> str:
    members = []
    for name, key in _jsonb_keys(tuple(value)):
        item = value[name]
        kind = type(item)
        if kind is str:
            members.append(key + _jsonb_string(item))  # type: ignore[arg-type]
        elif kind is int:
            members.append(key + str(item))
        else:
            members.append(key + jsonb_text(item))
    return "{" + ", ".join(members) + "}"


def chain_hash(
    previous: bytes | None,
    originator_id: str,
    originator_version: int,
    type_name: str,
    payload: Payload,
    metadata: Mapping[str, Any],
    recorded_at: datetime,
) -> bytes:
    """The event's link in its stream's chain, exactly as the database's ``event_hash`` computes
    it (``ops audit verify`` recomputes it there): the writer hashes a batch in one pass instead
    of a row trigger looking up each previous hash. ``TypeError`` when a value has no exact
    rendering; the row is then written without a hash and the trigger computes it."""
    return chain_link(
        previous,
        originator_id,
        originator_version,
        type_name,
        jsonb_text(payload),
        jsonb_text(dict(metadata)),
        recorded_at,
    )


def chain_link(
    previous: bytes | None,
    originator_id: str,
    originator_version: int,
    type_name: str,
    payload_text: str,
    metadata_text: str,
    recorded_at: datetime,
) -> bytes:
    """``chain_hash`` of a payload and metadata rendered already (``jsonb_text``): the writer
    stores the very texts it hashed, rendering each once."""
    text = "|".join(
        (
            previous.hex() if previous is not None else "",
            originator_id,
            str(originator_version),
            type_name,
            payload_text,
            metadata_text,
            _hashed_time(recorded_at),
        )
    )
    return hashlib.sha256(text.encode()).digest()


@functools.lru_cache(maxsize=64)
def _hashed_time(recorded_at: datetime) -> str:
    # The events of a batch share their recorded_at: rendered once per batch, not per event.
    utc = recorded_at.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond:06d}"
    )
