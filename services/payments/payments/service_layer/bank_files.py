"""The bank's answers about SEPA debits collected by file (pain.002, camt.054/053).

A booked collection succeeded, a reject failed, a return after booking is `returned` (before
booking, `failed`: see `domain.outcomes.transition`). Reading the same file again changes
nothing, since every answer goes through `record_outcome`.
"""

from collections.abc import Sequence
from datetime import datetime

from payments.domain.outcomes import AttemptStatus
from payments.domain.sepa import BankEntry, outcome_of_entry
from payments.service_layer.outcomes import record_outcome
from payments.service_layer.ports import UnitOfWorkFactory


async def apply_bank_entries(
    uow: UnitOfWorkFactory, entries: Sequence[BankEntry], now: datetime
) -> list[tuple[str, AttemptStatus]]:
    """Apply a bank file's entries in one transaction; (request id, new status) per change."""
    changes: list[tuple[str, AttemptStatus]] = []
    async with uow() as work:
        for entry in entries:
            for request_id in await work.bank_collections.requests_for(entry):
                status = await record_outcome(work, request_id, outcome_of_entry(entry), now)
                if status is not None:
                    changes.append((request_id, status))
    return changes
