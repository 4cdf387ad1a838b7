"""Read models kept in step with the events, in the same transaction.

Every row here is a function of the events alone (`projection_rows`), so ops can rebuild the
tables from the event store and compare.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.domain import Event, MailingDebited, PartnerAccount


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What one command or batch did to one account: the events with their versions."""

    before: PartnerAccount | None
    events: Sequence[tuple[int, Event]]
    states: Sequence[PartnerAccount]  # the state after each event
    times: Sequence[datetime]  # when each event was recorded

    @property
    def after(self) -> PartnerAccount:
        return self.states[-1]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    partner_id: str
    version: int
    type: str
    credits_delta: int
    balance_after: int
    mailing_id: str | None
    occurred_at: datetime


def history_rows(change: AccountChange) -> list[HistoryRow]:
    rows = []
    balance = change.before.balance if change.before else 0
    for (version, event), state, at in zip(change.events, change.states, change.times, strict=True):
        rows.append(
            HistoryRow(
                partner_id=state.partner_id,
                version=version,
                type=type(event).__name__,
                credits_delta=state.balance - balance,
                balance_after=state.balance,
                mailing_id=event.mailing_id if isinstance(event, MailingDebited) else None,
                occurred_at=at,
            )
        )
        balance = state.balance
    return rows


_HISTORY = text(
    """
    INSERT INTO partner_history
        (partner_id, version, type, credits_delta, balance_after, mailing_id, occurred_at)
    SELECT * FROM unnest(CAST(:partners AS text[]), CAST(:versions AS integer[]),
        CAST(:types AS text[]), CAST(:deltas AS bigint[]), CAST(:balances AS bigint[]),
        CAST(:mailings AS text[]), CAST(:times AS timestamptz[]))
    """
)

_BALANCES = text(
    """
    INSERT INTO partner_balances
        (partner_id, balance, held, debt_credits, debt_minor, version, updated_at)
    SELECT * FROM unnest(CAST(:partners AS text[]), CAST(:balances AS bigint[]),
        CAST(:held AS bigint[]), CAST(:debt_credits AS bigint[]), CAST(:debt_minor AS bigint[]),
        CAST(:versions AS integer[]), CAST(:times AS timestamptz[]))
    ON CONFLICT (partner_id) DO UPDATE SET
        balance = EXCLUDED.balance, held = EXCLUDED.held,
        debt_credits = EXCLUDED.debt_credits, debt_minor = EXCLUDED.debt_minor,
        version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
    """
)

_RESERVATIONS = text(
    """
    INSERT INTO reservations (partner_id, reservation_id, credits, status, expires_at)
    SELECT * FROM unnest(CAST(:partners AS text[]), CAST(:ids AS text[]),
        CAST(:credits AS bigint[]), CAST(:statuses AS text[]), CAST(:expires AS timestamptz[]))
    ON CONFLICT (partner_id, reservation_id) DO UPDATE SET
        credits = EXCLUDED.credits, status = EXCLUDED.status, expires_at = EXCLUDED.expires_at
    """
)

_MAILINGS_SEEN = text(
    "SELECT partner_id, mailing_id FROM partner_history"
    " WHERE mailing_id = ANY(CAST(:mailings AS text[])) AND mailing_id IS NOT NULL"
)


class Projections:
    """Writes the read models. Table names are unqualified, so a replay can point the
    connection's `search_path` at a fresh schema and rebuild beside the live tables."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def record(self, changes: Iterable[AccountChange]) -> None:
        changes = [c for c in changes if c.events]
        if not changes:
            return
        rows = [row for change in changes for row in history_rows(change)]
        await self._connection.execute(
            _HISTORY,
            {
                "partners": [r.partner_id for r in rows],
                "versions": [r.version for r in rows],
                "types": [r.type for r in rows],
                "deltas": [r.credits_delta for r in rows],
                "balances": [r.balance_after for r in rows],
                "mailings": [r.mailing_id for r in rows],
                "times": [r.occurred_at for r in rows],
            },
        )
        finals = {c.after.partner_id: (c.after, c.times[-1]) for c in changes}
        await self._connection.execute(
            _BALANCES,
            {
                "partners": list(finals),
                "balances": [s.balance for s, _ in finals.values()],
                "held": [s.held for s, _ in finals.values()],
                "debt_credits": [s.debt_credits for s, _ in finals.values()],
                "debt_minor": [s.debt_minor for s, _ in finals.values()],
                "versions": [s.version for s, _ in finals.values()],
                "times": [t for _, t in finals.values()],
            },
        )
        touched = [
            (partner_id, rid, finals[partner_id][0].reservations[rid])
            for partner_id, rid in _reservations_touched(changes)
        ]
        if touched:
            await self._connection.execute(
                _RESERVATIONS,
                {
                    "partners": [p for p, _, _ in touched],
                    "ids": [rid for _, rid, _ in touched],
                    "credits": [r.credits for _, _, r in touched],
                    "statuses": [r.status for _, _, r in touched],
                    "expires": [r.expires_at for _, _, r in touched],
                },
            )

    async def mailings_already_debited(
        self, pairs: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which (partner, mailing) pairs have a debit already."""
        if not pairs:
            return set()
        wanted = set(pairs)
        result = await self._connection.execute(
            _MAILINGS_SEEN, {"mailings": list({m for _, m in pairs})}
        )
        return {(row[0], row[1]) for row in result} & wanted


def _reservations_touched(changes: Sequence[AccountChange]) -> set[tuple[str, str]]:
    return {
        (change.after.partner_id, rid)
        for change in changes
        for _, event in change.events
        if (rid := getattr(event, "reservation_id", None)) is not None
        and rid in change.after.reservations
    }
