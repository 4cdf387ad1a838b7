"""Replay and audit-verify benchmark: `ops replay` and `ops audit verify` over a large history.

Builds a fresh database (`ledger_bench_replay`) with --events events for --partners partners,
made by the domain's own commands (registrations, customers, billing settings, grants, holds,
debits with quotes, expiries, releases), written as the ledger writes them: event rows through
`stored_events.to_row` (the database chains the hashes), read models through
`PostgresProjections`, snapshots through `PostgresSnapshots`. Then it times the code behind
`python -m ledger ops replay` (rebuild + compare, snapshots included) and
`python -m ledger ops audit verify`, and prints events/s for each.

Target: >= 30,000 events/s for both. Needs `make up`.
Usage: .venv/bin/python bench/replay.py [--events N] [--partners N] [--keep]
"""

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson

REPO = Path(__file__).resolve().parents[1]
# Run as a script, this folder would come first on the path, and bench/pricing.py would hide
# the pricing package.
sys.path[0] = str(REPO)

from ledger.adapters.audit import broken_links
from ledger.adapters.event_store import EVENT_COLUMNS
from ledger.adapters.projections import PostgresProjections
from ledger.adapters.rebuild import compare, rebuild
from ledger.adapters.snapshots import PostgresSnapshots
from ledger.adapters.stored_events import to_row
from ledger.domain import (
    Event,
    PartnerAccount,
    apply,
    attach_customer,
    change_billing,
    debit_mailing,
    grant_credits,
    register_partner,
    release,
    reserve,
)
from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from ledger.service_layer.ports import AccountChange, Snapshot
from shared.database import create_engine
from tests.integration.databases import fresh_migrated_database

INTERVAL = 100


def partner_history(
    partner_id: str, events: int, start: datetime, rng: random.Random
) -> list[tuple[Event, datetime]]:
    """About `events` events of one partner, each command at its own (increasing) time."""
    out: list[tuple[Event, datetime]] = []
    state: PartnerAccount | None = None
    now = start

    def do(new: list[Event]) -> None:
        nonlocal state, now
        for event in new:
            state = apply(state, event)
            out.append((event, now))
        now += timedelta(milliseconds=rng.randint(1, 5000))

    do(
        register_partner(
            state,
            partner_id=partner_id,
            name=f"Agency {partner_id}",
            locale="de",
            billing_mode="prepaid",
            currency="EUR",
            credit_price_list_id="credits-eur",
            mailing_price_list_id="mailings-standard",
        )
    )
    for n in range(1, 4):
        do(attach_customer(state, customer_id=f"c{n}", name=f"Customer {n}"))
    do(
        change_billing(
            state,
            billing_mode="prepaid",
            reminder_threshold=5000,
            auto_purchase_credits=None,
            auto_purchase_trigger=None,
            payment_method={"type": "card", "id": f"pm_{partner_id}"},
        )
    )
    do(grant_credits(state, credits=1_000_000, reason="opening", actor="ops"))
    mailing = 0
    while len(out) < events:
        assert state is not None
        mailing += 1
        roll = rng.random()
        recipients = rng.randint(10, 5000)
        credits = (recipients * 105 + 99) // 100
        if roll < 0.05:
            do(
                grant_credits(
                    state, credits=rng.randint(1000, 500_000), reason="top up", actor="ops"
                )
            )
        elif roll < 0.10 and state.available > 10_000:
            rid = f"hold-{mailing}"
            do(reserve(state, reservation_id=rid, credits=credits, ttl_seconds=3600, now=now))
            if rng.random() < 0.3:
                do(release(state, reservation_id=rid))
            else:
                do(
                    debit_mailing(
                        state,
                        mailing_id=f"m-{partner_id}-{mailing}",
                        customer_id=f"c{rng.randint(1, 3)}",
                        recipients=recipients,
                        credits=credits,
                        price_list_id="mailings-standard",
                        price_list_version=1,
                        now=now,
                        reservation_id=rid,
                    ).events
                )
        else:
            do(
                debit_mailing(
                    state,
                    mailing_id=f"m-{partner_id}-{mailing}",
                    customer_id=f"c{rng.randint(1, 3)}",
                    recipients=recipients,
                    credits=credits,
                    price_list_id="mailings-standard",
                    price_list_version=1,
                    now=now,
                ).events
            )
    return out


async def build(url: str, events: int, partners: int) -> int:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    per_partner = max(10, events // partners)
    raw = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    engine = create_engine(url)
    total = 0
    try:
        chunk: list[tuple[str, list[tuple[Event, datetime]]]] = []

        async def flush() -> None:
            rows = []
            changes = []
            snapshots = []
            for partner_id, history in chunk:
                state: PartnerAccount | None = None
                states = []
                for version, (event, at) in enumerate(history, start=1):
                    type_name, schema_version, payload = to_row(event, at)
                    rows.append(
                        (
                            partner_id,
                            version,
                            type_name,
                            schema_version,
                            orjson.dumps(payload).decode(),
                            orjson.dumps(
                                {"actor": "bench", "correlation_id": f"c{version}"}
                            ).decode(),
                            at,
                        )
                    )
                    state = apply(state, event)
                    states.append(state)
                    if version % INTERVAL == 0:
                        snapshots.append(Snapshot(state, at))
                changes.append(
                    AccountChange(
                        None,
                        list(enumerate((e for e, _ in history), start=1)),
                        states,
                        [at for _, at in history],
                    )
                )
            # The hash chain trigger fires for COPY too, so the hashes are the ledger's own.
            await raw.copy_records_to_table(
                "events",
                records=rows,
                columns=[column for column in EVENT_COLUMNS if column != "hash"],
            )
            async with engine.begin() as connection:
                await PostgresProjections(connection).record(changes)
                await PostgresSnapshots(connection).save(snapshots)
            chunk.clear()

        for p in range(partners):
            history = partner_history(f"partner-{p:05d}", per_partner, start, rng)
            chunk.append((f"partner-{p:05d}", history))
            total += len(history)
            if len(chunk) >= 50:
                await flush()
        if chunk:
            await flush()
        await raw.execute("ANALYZE")
    finally:
        await raw.close()
        await engine.dispose()
    return total


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partners", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="Reuse the database of a last run")
    args = parser.parse_args()
    from tests.integration.databases import database_url

    url = database_url("ledger_bench_replay")
    if not args.keep:
        url = await fresh_migrated_database("ledger_bench_replay", LEDGER_MIGRATIONS)
        began = time.perf_counter()
        built = await build(url, args.events, args.partners)
        print(f"built {built:,} events in {time.perf_counter() - began:.1f} s  ({url})")
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            from sqlalchemy import text

            count = (await connection.execute(text("SELECT count(*) FROM events"))).scalar_one()
        began = time.perf_counter()
        partners = await rebuild(engine, "replay_bench", snapshot_interval=INTERVAL)
        rebuilt = time.perf_counter() - began
        drift = await compare(engine, "replay_bench")
        replayed = time.perf_counter() - began
        began = time.perf_counter()
        broken = await broken_links(engine)
        verified = time.perf_counter() - began
    finally:
        await engine.dispose()
    assert not drift, drift[:5]
    assert not broken, broken[:5]
    print(f"{count:,} events, {partners:,} partners")
    print(
        f"  ops replay       {count / replayed:>10,.0f} events/s"
        f"  ({replayed:.2f} s; rebuild {rebuilt:.2f} s, compare {replayed - rebuilt:.2f} s)"
    )
    print(f"  ops audit verify {count / verified:>10,.0f} events/s  ({verified:.2f} s)")


if __name__ == "__main__":
    asyncio.run(main())
