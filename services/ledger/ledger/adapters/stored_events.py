"""The one mapping between domain events and the rows of the event store.

The domain's events are plain dataclasses; how they are written (type name, schema version,
JSON payload) and how older stored shapes are read back (upcasting) is decided here only.
"""

from collections.abc import Mapping
from typing import Any

from ledger.domain import Event, event_from_dict, event_to_dict


def to_row(event: Event) -> tuple[str, int, dict[str, Any]]:
    """The event's stored type name, schema version and JSON payload."""
    type_name, payload = event_to_dict(event)
    return type_name, 1, payload


def from_row(type_name: str, schema_version: int, payload: Mapping[str, Any]) -> Event:
    """The event a stored row holds, in today's shape (older versions are upcast)."""
    return event_from_dict(type_name, payload)
