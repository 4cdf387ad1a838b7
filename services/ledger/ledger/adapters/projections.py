"""Read models kept in step with the events, in the same transaction.

Every row here is a function of the events alone, so ops can rebuild the tables from the event
store and compare (`ledger.adapters.rebuild`). Table names are unqualified, so a replay can point
the connection's `search_path` at a fresh schema and rebuild beside the live tables.
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.adapters.budgets import record_budgets
from ledger.domain import (
    ContractChanged,
    CustomerAttached,
    CustomerBudgetSet,
    Event,
    MailingDebited,
    PartnerAccount,
    Purchase,
    Record,
    RecordKind,
    Reservation,
    StatementIssued,
    record_change,
)
from ledger.service_layer.ports import AccountChange


def _profile(state: PartnerAccount | None) -> tuple[Any, ...] | None:
    """What the `partners` table shows of a state (None before registration)."""
    if state is None:
        return None
    return (
        state.name,
        state.locale,
        state.currency,
        state.credit_price_list_id,
        state.mailing_price_list_id,
        state.billing_mode,
        state.reminder_threshold,
        state.auto_purchase_credits,
        state.auto_purchase_trigger,
        state.auto_purchase_suspended,
        orjson.dumps(dict(state.payment_method)).decode() if state.payment_method else None,
        "{" + ",".join(map(str, state.reminder_thresholds)) + "}",
    )


Applied = tuple[PartnerAccount, Event, datetime]
"""An event with the state it left and the time it was recorded."""


def _by_type(changes: Sequence[AccountChange]) -> dict[type[Event], list[Applied]]:
    """The changes' events by type, in one pass: each read model then looks only at the events
    it keeps, where a batch is nearly all debits."""
    found: dict[type[Event], list[Applied]] = {}
    for change in changes:
        for (_, event), state, at in zip(change.events, change.states, change.times, strict=True):
            kind = type(event)
            if kind in found:
                found[kind].append((state, event, at))
            else:
                found[kind] = [(state, event, at)]
    return found


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

_PARTNERS = text(
    """
    INSERT INTO partners
        (partner_id, name, locale, currency, credit_price_list_id, mailing_price_list_id,
         billing_mode, reminder_threshold, auto_purchase_credits, auto_purchase_trigger,
         auto_purchase_suspended, payment_method, reminder_thresholds)
    SELECT id, name, locale, currency, credit_list, mailing_list, mode, threshold, chunk,
           trigger_at, suspended, method::jsonb, levels::bigint[]
    FROM unnest(CAST(:ids AS text[]), CAST(:names AS text[]), CAST(:locales AS text[]),
        CAST(:currencies AS text[]), CAST(:credit_lists AS text[]),
        CAST(:mailing_lists AS text[]), CAST(:modes AS text[]),
        CAST(:thresholds AS bigint[]), CAST(:chunks AS bigint[]), CAST(:triggers AS bigint[]),
        CAST(:suspended AS boolean[]), CAST(:methods AS text[]), CAST(:levels AS text[]))
        AS t(id, name, locale, currency, credit_list, mailing_list, mode, threshold, chunk,
             trigger_at, suspended, method, levels)
    ON CONFLICT (partner_id) DO UPDATE SET
        name = EXCLUDED.name, locale = EXCLUDED.locale, currency = EXCLUDED.currency,
        credit_price_list_id = EXCLUDED.credit_price_list_id,
        mailing_price_list_id = EXCLUDED.mailing_price_list_id,
        billing_mode = EXCLUDED.billing_mode, reminder_threshold = EXCLUDED.reminder_threshold,
        auto_purchase_credits = EXCLUDED.auto_purchase_credits,
        auto_purchase_trigger = EXCLUDED.auto_purchase_trigger,
        auto_purchase_suspended = EXCLUDED.auto_purchase_suspended,
        payment_method = EXCLUDED.payment_method,
        reminder_thresholds = EXCLUDED.reminder_thresholds
    """
)

_CUSTOMERS = text(
    """
    INSERT INTO customers (partner_id, customer_id, name, attached_at)
    SELECT * FROM unnest(CAST(:partners AS text[]), CAST(:ids AS text[]),
        CAST(:names AS text[]), CAST(:times AS timestamptz[]))
    """
)

_USAGE = text(
    """
    INSERT INTO customer_usage_daily AS u
        (partner_id, customer_id, day, mailings, recipients, credits)
    SELECT * FROM unnest(CAST(:partners AS text[]), CAST(:customers AS text[]),
        CAST(:days AS date[]), CAST(:mailings AS bigint[]), CAST(:recipients AS bigint[]),
        CAST(:credits AS bigint[]))
    ON CONFLICT (partner_id, customer_id, day) DO UPDATE SET
        mailings = u.mailings + EXCLUDED.mailings,
        recipients = u.recipients + EXCLUDED.recipients,
        credits = u.credits + EXCLUDED.credits
    """
)

_CONTRACTS = text(
    """
    INSERT INTO customer_contracts
        (partner_id, customer_id, starts_on, price_list_id, plan_variant_id, billing_anchor,
         billing_period, booked, first_starts_on, changed_at)
    SELECT p, c, s, l, v, a, b, booked::jsonb, f, t
    FROM unnest(CAST(:partners AS text[]), CAST(:customers AS text[]),
        CAST(:starts AS date[]), CAST(:lists AS text[]), CAST(:variants AS text[]),
        CAST(:anchors AS date[]), CAST(:periods AS text[]), CAST(:booked AS text[]),
        CAST(:firsts AS date[]), CAST(:times AS timestamptz[]))
        AS x(p, c, s, l, v, a, b, booked, f, t)
    ON CONFLICT (partner_id, customer_id, starts_on) DO UPDATE SET
        price_list_id = EXCLUDED.price_list_id, plan_variant_id = EXCLUDED.plan_variant_id,
        billing_anchor = EXCLUDED.billing_anchor, billing_period = EXCLUDED.billing_period,
        booked = EXCLUDED.booked, first_starts_on = EXCLUDED.first_starts_on,
        changed_at = EXCLUDED.changed_at
    """
)

_STATEMENTS = text(
    """
    INSERT INTO statements
        (partner_id, customer_id, period_start, period_end, price_list_id, price_list_version,
         plan_variant_id, currency, total, total_minor, mailings, recipients, credits, quote,
         issued_at)
    SELECT p, c, s, e, l, lv, v, cur, tot, tm, m, r, cr, q::jsonb, t
    FROM unnest(CAST(:partners AS text[]), CAST(:customers AS text[]),
        CAST(:starts AS date[]), CAST(:ends AS date[]), CAST(:lists AS text[]),
        CAST(:list_versions AS integer[]), CAST(:variants AS text[]),
        CAST(:currencies AS text[]), CAST(:totals AS text[]), CAST(:totals_minor AS bigint[]),
        CAST(:mailings AS bigint[]), CAST(:recipients AS bigint[]), CAST(:credits AS bigint[]),
        CAST(:quotes AS text[]), CAST(:times AS timestamptz[]))
        AS x(p, c, s, e, l, lv, v, cur, tot, tm, m, r, cr, q, t)
    """
)


def usage_day(event: MailingDebited, recorded_at: datetime) -> date:
    """The UTC day a debit's usage counts on: when the mailing went out, so a late event
    lands on its own day. Debits stored before MailingDebited v3 did not record `sent_at`;
    they count on the day they were recorded."""
    return (event.sent_at or recorded_at).astimezone(UTC).date()


_OPEN = {
    "reservation": text(
        """
        INSERT INTO reservations (partner_id, reservation_id, credits, status, expires_at,
                                  mailing_id, customer_id)
        SELECT * FROM unnest(CAST(:partners AS text[]), CAST(:ids AS text[]),
            CAST(:credits AS bigint[]), CAST(:statuses AS text[]),
            CAST(:expires AS timestamptz[]), CAST(:mailings AS text[]),
            CAST(:customers AS text[]))
        """
    ),
    "purchase": text(
        """
        INSERT INTO purchases (partner_id, purchase_id, credits, amount_minor, reason, status)
        SELECT * FROM unnest(CAST(:partners AS text[]), CAST(:ids AS text[]),
            CAST(:credits AS bigint[]), CAST(:amounts AS bigint[]), CAST(:reasons AS text[]),
            CAST(:statuses AS text[]))
        """
    ),
    "charge": text(
        """
        INSERT INTO charges (partner_id, charge_id, credits, amount_minor, status)
        SELECT * FROM unnest(CAST(:partners AS text[]), CAST(:ids AS text[]),
            CAST(:credits AS bigint[]), CAST(:amounts AS bigint[]), CAST(:statuses AS text[]))
        """
    ),
}

_TABLES: dict[RecordKind, tuple[str, str]] = {
    "reservation": ("reservations", "reservation_id"),
    "purchase": ("purchases", "purchase_id"),
    "charge": ("charges", "charge_id"),
}


def _status_update(kind: RecordKind) -> Any:
    table, key = _TABLES[kind]
    return text(
        f"""
        UPDATE {table} t SET status = u.status
        FROM unnest(CAST(:partners AS text[]), CAST(:ids AS text[]), CAST(:statuses AS text[]))
            AS u(partner_id, id, status)
        WHERE t.partner_id = u.partner_id AND t.{key} = u.id
        """
    )


_STATUS = {kind: _status_update(kind) for kind in _TABLES}

# The debits' mailing ids, by the unique index `events_mailing_debited` (migration 0012): the
# expression and the condition are the index's own, so the planner uses it.
_MAILINGS_SEEN = text(
    "SELECT originator_id, payload ->> 'mailing_id' FROM events"
    " WHERE type = 'MailingDebited'"
    " AND (payload ->> 'mailing_id') = ANY(CAST(:mailings AS text[]))"
)


class PostgresProjections:
    """Writes the read models."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def record(self, changes: Iterable[AccountChange]) -> None:
        changes = [c for c in changes if c.events]
        if not changes:
            return
        found = _by_type(changes)
        await self._balances(changes)
        await self._partners(changes)
        await self._customers(found.get(CustomerAttached, []))
        await self._records(changes)
        await self._usage(found.get(MailingDebited, []))
        await self._contracts(found.get(ContractChanged, []))
        await self._statements(found.get(StatementIssued, []))
        await record_budgets(self._connection, found.get(CustomerBudgetSet, []))

    async def _usage(self, debits: Sequence[Applied]) -> None:
        # Summed per day here first: a batch holds many debits of one customer and day, and
        # one upsert may touch a row only once.
        days: dict[tuple[str, str, date], list[int]] = {}
        for state, event, at in debits:
            assert isinstance(event, MailingDebited)
            key = (state.partner_id, event.customer_id, usage_day(event, at))
            sums = days.setdefault(key, [0, 0, 0])
            sums[0] += 1
            sums[1] += event.recipients
            sums[2] += event.credits
        if not days:
            return
        await self._connection.execute(
            _USAGE,
            {
                "partners": [k[0] for k in days],
                "customers": [k[1] for k in days],
                "days": [k[2] for k in days],
                "mailings": [v[0] for v in days.values()],
                "recipients": [v[1] for v in days.values()],
                "credits": [v[2] for v in days.values()],
            },
        )

    async def _contracts(self, changed: Sequence[Applied]) -> None:
        rows: dict[tuple[str, str, date], tuple[ContractChanged, date, datetime]] = {}
        for state, event, at in changed:
            assert isinstance(event, ContractChanged)
            first = state.contracts[event.customer_id].first_starts_on
            key = (state.partner_id, event.customer_id, event.starts_on)
            rows[key] = (event, first, at)  # the last change of a day wins
        if not rows:
            return
        await self._connection.execute(
            _CONTRACTS,
            {
                "partners": [k[0] for k in rows],
                "customers": [k[1] for k in rows],
                "starts": [k[2] for k in rows],
                "lists": [e.price_list_id for e, _, _ in rows.values()],
                "variants": [e.plan_variant_id for e, _, _ in rows.values()],
                "anchors": [e.billing_anchor for e, _, _ in rows.values()],
                "periods": [e.billing_period for e, _, _ in rows.values()],
                "booked": [orjson.dumps(dict(e.booked)).decode() for e, _, _ in rows.values()],
                "firsts": [f for _, f, _ in rows.values()],
                "times": [t for _, _, t in rows.values()],
            },
        )

    async def _statements(self, issued: Sequence[Applied]) -> None:
        rows = [
            (state.partner_id, event, at)
            for state, event, at in issued
            if isinstance(event, StatementIssued)
        ]
        if not rows:
            return
        await self._connection.execute(
            _STATEMENTS,
            {
                "partners": [p for p, _, _ in rows],
                "customers": [e.customer_id for _, e, _ in rows],
                "starts": [e.period_start for _, e, _ in rows],
                "ends": [e.period_end for _, e, _ in rows],
                "lists": [e.price_list_id for _, e, _ in rows],
                "list_versions": [e.price_list_version for _, e, _ in rows],
                "variants": [e.plan_variant_id for _, e, _ in rows],
                "currencies": [e.currency for _, e, _ in rows],
                "totals": [e.total for _, e, _ in rows],
                "totals_minor": [e.total_minor for _, e, _ in rows],
                "mailings": [e.mailings for _, e, _ in rows],
                "recipients": [e.recipients for _, e, _ in rows],
                "credits": [e.credits for _, e, _ in rows],
                "quotes": [orjson.dumps(dict(e.quote)).decode() for _, e, _ in rows],
                "times": [t for _, _, t in rows],
            },
        )

    async def _balances(self, changes: Sequence[AccountChange]) -> None:
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

    async def _partners(self, changes: Sequence[AccountChange]) -> None:
        # Most batches only debit: the partner's profile row is written when it changed.
        rows = [
            (c.after, profile)
            for c in changes
            if (profile := _profile(c.after)) != _profile(c.before)
        ]
        if not rows:
            return
        columns = list(zip(*(profile for _, profile in rows), strict=True))
        await self._connection.execute(
            _PARTNERS,
            {
                "ids": [state.partner_id for state, _ in rows],
                "names": columns[0],
                "locales": columns[1],
                "currencies": columns[2],
                "credit_lists": columns[3],
                "mailing_lists": columns[4],
                "modes": columns[5],
                "thresholds": columns[6],
                "chunks": columns[7],
                "triggers": columns[8],
                "suspended": columns[9],
                "methods": columns[10],
                "levels": columns[11],
            },
        )

    async def _customers(self, attached: Sequence[Applied]) -> None:
        rows = [
            (state.partner_id, event.customer_id, event.name, at)
            for state, event, at in attached
            if isinstance(event, CustomerAttached)
        ]
        if rows:
            partners, ids, names, times = zip(*rows, strict=True)
            await self._connection.execute(
                _CUSTOMERS, {"partners": partners, "ids": ids, "names": names, "times": times}
            )

    async def _records(self, changes: Sequence[AccountChange]) -> None:
        """Records opened in these changes are inserted as they stand at the end; records
        opened earlier get their new status."""
        opened: dict[tuple[RecordKind, str, str], Record] = {}
        statuses: dict[tuple[RecordKind, str, str], str] = {}
        for change in changes:
            partner_id = change.after.partner_id
            for _, event in change.events:
                found = record_change(event)
                if found is None:
                    continue
                key = (found.kind, partner_id, found.record_id)
                if key in opened or found.opened is not None:
                    opened[key] = found.applied_to(opened.get(key))
                else:
                    statuses[key] = found.status
        for kind in _TABLES:
            await self._insert(kind, [(k[1], k[2], r) for k, r in opened.items() if k[0] == kind])
            updates = [(k[1], k[2], s) for k, s in statuses.items() if k[0] == kind]
            if updates:
                partners, ids, states = zip(*updates, strict=True)
                await self._connection.execute(
                    _STATUS[kind], {"partners": partners, "ids": ids, "statuses": states}
                )

    async def _insert(self, kind: RecordKind, rows: list[tuple[str, str, Record]]) -> None:
        if not rows:
            return
        values: dict[str, Any] = {
            "partners": [p for p, _, _ in rows],
            "ids": [i for _, i, _ in rows],
            "credits": [r.credits for _, _, r in rows],
            "statuses": [r.status for _, _, r in rows],
        }
        if kind == "reservation":
            holds = [r for _, _, r in rows if isinstance(r, Reservation)]
            values["expires"] = [h.expires_at for h in holds]
            values["mailings"] = [h.mailing_id for h in holds]
            values["customers"] = [h.customer_id for h in holds]
        else:
            values["amounts"] = [r.amount_minor for _, _, r in rows]  # type: ignore[union-attr]
            if kind == "purchase":
                values["reasons"] = [r.reason for _, _, r in rows if isinstance(r, Purchase)]
        await self._connection.execute(_OPEN[kind], values)

    async def mailings_already_debited(
        self, pairs: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        if not pairs:
            return set()
        wanted = set(pairs)
        result = await self._connection.execute(
            _MAILINGS_SEEN, {"mailings": list({m for _, m in pairs})}
        )
        return {(row[0], row[1]) for row in result} & wanted
