"""The ledger's records of reservations, purchases and charges, kept in memory for the tests.

The account's state keeps only open items; the service layer keeps a table of records beside
the events and hands a closed item's record to the commands (``recorded=``). These helpers
keep the same records by the same rule (``record_change``), so a test can say
``recorded=purchase_record(records_of(history), "pur-1")``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.domain import (
    Charge,
    Event,
    Purchase,
    Record,
    RecordKind,
    Reservation,
    record_change,
)

RecordKey = tuple[RecordKind, str]
Records = dict[RecordKey, Record]


def keep_records(records: Records, events: Iterable[Event]) -> Records:
    """Change ``records`` in place as ``events`` say (the read model's rule); returns them."""
    for event in events:
        change = record_change(event)
        if change is not None:
            key: RecordKey = (change.kind, change.record_id)
            records[key] = change.applied_to(records.get(key))
    return records


def records_of(events: Iterable[Event]) -> Records:
    """The records a stream of events leaves: ``{(kind, id): record}``."""
    return keep_records({}, events)


def reservation_record(records: Records, reservation_id: str) -> Reservation | None:
    record = records.get(("reservation", reservation_id))
    assert record is None or isinstance(record, Reservation), record
    return record


def purchase_record(records: Records, purchase_id: str) -> Purchase | None:
    record = records.get(("purchase", purchase_id))
    assert record is None or isinstance(record, Purchase), record
    return record


def charge_record(records: Records, charge_id: str) -> Charge | None:
    record = records.get(("charge", charge_id))
    assert record is None or isinstance(record, Charge), record
    return record


def status_of(records: Records, kind: RecordKind, record_id: str) -> str:
    """The recorded status of one item; a missing record fails the test."""
    return records[(kind, record_id)].status
