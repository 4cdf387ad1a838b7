"""The CloudEvents 1.0 envelope every message travels in (we publish structured JSON mode; the
codec also reads binary mode)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One message. `id` with `source` identifies it: a redelivery carries the same id."""

    id: str
    source: str
    type: str
    time: datetime
    data: dict[str, Any]
    subject: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def new(
        type: str,
        source: str,
        data: dict[str, Any],
        *,
        subject: str | None = None,
        id: str | None = None,
        time: datetime | None = None,
    ) -> "CloudEvent":
        """A fresh event; pass `id` when it must be deterministic (from a stream position)."""
        return CloudEvent(
            id=id or str(uuid4()),
            source=source,
            type=type,
            time=time or datetime.now(UTC),
            data=data,
            subject=subject,
        )
