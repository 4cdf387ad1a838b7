"""Snapshots of account states, so loading an account reads one row and the few events after it.

A snapshot is a cache of ``replay(events[:version])``: it is written in the same transaction as
the events that produce it (whenever a stream passes a multiple of the snapshot interval), and
deleting every snapshot changes no answer, only the time it takes. Each row records the state's
``schema_version``; a row of another version is ignored (the stream is folded from the nearest
usable snapshot, or from its start), so changing ``PartnerAccount`` needs no data migration:
raise ``STATE_SCHEMA_VERSION`` and ``ops replay --rebuild-snapshots`` writes new ones.
"""

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, cast

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.domain import (
    Charge,
    Contract,
    CustomerBudget,
    PartnerAccount,
    Purchase,
    Reservation,
)
from ledger.service_layer.ports import Snapshot

# 2: resale contracts and the statements issued (`contracts`, `statements_through`).
# 3: balance alert levels, customer budgets, the customer a hold names.
# 4: which alerts fired (`reminder_fired`, `thresholds_fired`): only those send a recovery.
STATE_SCHEMA_VERSION = 4


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def state_to_json(state: PartnerAccount) -> dict[str, Any]:
    """The state as a JSON object (every field, by name)."""
    return {
        "partner_id": state.partner_id,
        "name": state.name,
        "locale": state.locale,
        "billing_mode": state.billing_mode,
        "currency": state.currency,
        "credit_price_list_id": state.credit_price_list_id,
        "mailing_price_list_id": state.mailing_price_list_id,
        "customers": dict(state.customers),
        "balance": state.balance,
        "holds": {
            rid: {
                "credits": h.credits,
                "expires_at": _time(h.expires_at),
                "mailing_id": h.mailing_id,
                "customer_id": h.customer_id,
            }
            for rid, h in state.holds.items()
        },
        "held": state.held,
        "debt_credits": state.debt_credits,
        "debt_minor": state.debt_minor,
        "reminder_threshold": state.reminder_threshold,
        "reminder_armed": state.reminder_armed,
        "reminder_fired": state.reminder_fired,
        "reminder_thresholds": list(state.reminder_thresholds),
        "thresholds_below": list(state.thresholds_below),
        "thresholds_fired": list(state.thresholds_fired),
        "auto_purchase_credits": state.auto_purchase_credits,
        "auto_purchase_trigger": state.auto_purchase_trigger,
        "auto_purchase_failures": state.auto_purchase_failures,
        "auto_purchase_suspended": state.auto_purchase_suspended,
        "auto_purchase_retry_not_before": _time(state.auto_purchase_retry_not_before),
        "purchases_in_flight": {
            pid: {"credits": p.credits, "amount_minor": p.amount_minor, "reason": p.reason}
            for pid, p in state.purchases_in_flight.items()
        },
        "uncharged_credits": state.uncharged_credits,
        "uncharged_minor": state.uncharged_minor,
        "uncharged_mailing_ids": list(state.uncharged_mailing_ids),
        "charges_in_flight": {
            cid: {"credits": c.credits, "amount_minor": c.amount_minor}
            for cid, c in state.charges_in_flight.items()
        },
        "payment_method": dict(state.payment_method) if state.payment_method else None,
        "contracts": {
            cid: {
                "price_list_id": c.price_list_id,
                "plan_variant_id": c.plan_variant_id,
                "starts_on": c.starts_on.isoformat(),
                "billing_anchor": c.billing_anchor.isoformat(),
                "billing_period": c.billing_period,
                "booked": dict(c.booked),
                "first_starts_on": c.first_starts_on.isoformat(),
            }
            for cid, c in state.contracts.items()
        },
        "statements_through": {cid: d.isoformat() for cid, d in state.statements_through.items()},
        "budgets": {
            cid: {
                "monthly_credits": b.monthly_credits,
                "alert_percents": list(b.alert_percents),
                "month": b.month,
                "used": b.used,
                "alerted": list(b.alerted),
            }
            for cid, b in state.budgets.items()
        },
        "version": state.version,
    }


def state_from_json(data: Mapping[str, Any]) -> PartnerAccount:
    """The inverse of ``state_to_json``."""
    holds = {
        rid: Reservation(
            credits=h["credits"],
            expires_at=cast(datetime, _parse_time(h["expires_at"])),
            mailing_id=h["mailing_id"],
            customer_id=h["customer_id"],
        )
        for rid, h in data["holds"].items()
    }
    purchases = {
        pid: Purchase(credits=p["credits"], amount_minor=p["amount_minor"], reason=p["reason"])
        for pid, p in data["purchases_in_flight"].items()
    }
    charges = {
        cid: Charge(credits=c["credits"], amount_minor=c["amount_minor"])
        for cid, c in data["charges_in_flight"].items()
    }
    contracts = {
        cid: Contract(
            price_list_id=c["price_list_id"],
            plan_variant_id=c["plan_variant_id"],
            starts_on=date.fromisoformat(c["starts_on"]),
            billing_anchor=date.fromisoformat(c["billing_anchor"]),
            billing_period=c["billing_period"],
            booked=dict(c["booked"]),
            first_starts_on=date.fromisoformat(c["first_starts_on"]),
        )
        for cid, c in data["contracts"].items()
    }
    return PartnerAccount(
        partner_id=data["partner_id"],
        name=data["name"],
        locale=data["locale"],
        billing_mode=data["billing_mode"],
        currency=data["currency"],
        credit_price_list_id=data["credit_price_list_id"],
        mailing_price_list_id=data["mailing_price_list_id"],
        customers=dict(data["customers"]),
        balance=data["balance"],
        holds=holds,
        held=data["held"],
        debt_credits=data["debt_credits"],
        debt_minor=data["debt_minor"],
        reminder_threshold=data["reminder_threshold"],
        reminder_armed=data["reminder_armed"],
        reminder_fired=data["reminder_fired"],
        reminder_thresholds=tuple(data["reminder_thresholds"]),
        thresholds_below=tuple(data["thresholds_below"]),
        thresholds_fired=tuple(data["thresholds_fired"]),
        auto_purchase_credits=data["auto_purchase_credits"],
        auto_purchase_trigger=data["auto_purchase_trigger"],
        auto_purchase_failures=data["auto_purchase_failures"],
        auto_purchase_suspended=data["auto_purchase_suspended"],
        auto_purchase_retry_not_before=_parse_time(data["auto_purchase_retry_not_before"]),
        purchases_in_flight=purchases,
        uncharged_credits=data["uncharged_credits"],
        uncharged_minor=data["uncharged_minor"],
        uncharged_mailing_ids=tuple(data["uncharged_mailing_ids"]),
        charges_in_flight=charges,
        payment_method=data["payment_method"],
        contracts=contracts,
        statements_through={
            cid: date.fromisoformat(d) for cid, d in data["statements_through"].items()
        },
        budgets={
            cid: CustomerBudget(
                monthly_credits=b["monthly_credits"],
                alert_percents=tuple(b["alert_percents"]),
                month=b["month"],
                used=b["used"],
                alerted=tuple(b["alerted"]),
            )
            for cid, b in data["budgets"].items()
        },
        version=data["version"],
    )


_LATEST = text(
    """
    SELECT s.partner_id, s.state::text, s.recorded_at
    FROM unnest(CAST(:ids AS text[]), CAST(:after AS integer[])) AS p(id, after)
    CROSS JOIN LATERAL (
        SELECT partner_id, state, recorded_at FROM snapshots
        WHERE partner_id = p.id AND schema_version = :schema AND version > p.after
        ORDER BY version DESC LIMIT 1
    ) s
    """
)

_LATEST_AT = text(
    """
    SELECT state::text, recorded_at FROM snapshots
    WHERE partner_id = :id AND schema_version = :schema AND recorded_at <= :at
    ORDER BY recorded_at DESC, version DESC LIMIT 1
    """
)

_SAVE = text(
    """
    INSERT INTO snapshots (partner_id, version, schema_version, state, recorded_at)
    SELECT id, version, :schema, state::jsonb, at
    FROM unnest(CAST(:ids AS text[]), CAST(:versions AS integer[]), CAST(:states AS text[]),
                CAST(:times AS timestamptz[])) AS t(id, version, state, at)
    ON CONFLICT (partner_id, version) DO NOTHING
    """
)


class PostgresSnapshots:
    """Reads and writes snapshots inside the caller's transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def latest(self, after_versions: Mapping[str, int]) -> dict[str, PartnerAccount]:
        """The newest usable snapshot of each account, where one is newer than the version
        given (the version of a state the caller holds already; 0 for none)."""
        if not after_versions:
            return {}
        rows = await self._connection.execute(
            _LATEST,
            {
                "ids": list(after_versions),
                "after": list(after_versions.values()),
                "schema": STATE_SCHEMA_VERSION,
            },
        )
        return {row[0]: state_from_json(orjson.loads(row[1])) for row in rows}

    async def latest_at(self, partner_id: str, at: datetime) -> Snapshot | None:
        """The newest usable snapshot whose last event was recorded at or before ``at``."""
        row = (
            await self._connection.execute(
                _LATEST_AT, {"id": partner_id, "schema": STATE_SCHEMA_VERSION, "at": at}
            )
        ).first()
        if row is None:
            return None
        return Snapshot(state_from_json(orjson.loads(row[0])), row[1])

    async def save(self, snapshots: Iterable[Snapshot]) -> None:
        snapshots = list(snapshots)
        if not snapshots:
            return
        await self._connection.execute(
            _SAVE,
            {
                "schema": STATE_SCHEMA_VERSION,
                "ids": [s.state.partner_id for s in snapshots],
                "versions": [s.state.version for s in snapshots],
                "states": [orjson.dumps(state_to_json(s.state)).decode() for s in snapshots],
                "times": [s.recorded_at for s in snapshots],
            },
        )
