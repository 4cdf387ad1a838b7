"""`python -m ledger ops ...`: the ops tool: replay, export, verify, reingest, balance, reconcile,
dead-letter, statements, prune-inbox.

Every command works on the database (and broker) named by the LEDGER_* settings.
"""

import asyncio
import csv
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ledger.adapters.account_consumers import AccountConsumer
from ledger.adapters.audit import audit_trail, broken_links
from ledger.adapters.inbox import InboxSummary, prune_inbox
from ledger.adapters.inbox import summarize as summarize_inbox
from ledger.adapters.rebuild import (
    compare,
    count_events,
    missing_snapshots,
    needs_backfill,
    rebuild,
    rebuild_in_place,
    replace_snapshots,
)
from ledger.adapters.views.recorded_payments import ledger_payments
from ledger.bootstrap import bootstrap
from ledger.entrypoints import group_for
from ledger.reconcile import Mismatch, gateway_payments
from ledger.reconcile import compare as compare_payments
from ledger.service_layer.commands import read_account
from ledger.settings import LedgerSettings
from ledger.statement_run import RunResult, parse_month, run_statements
from shared.codec import parse_time
from shared.kafka_admin import partitions_of
from shared.messaging.consumer import apply_batch_until_done, dead_letter_message
from shared.messaging.inbox import DeadLetter, Inbox, IncomingRecord
from shared.messaging.outbox import Outbox

ops = typer.Typer(help="Audit and repair tools for ops.", no_args_is_help=True)
audit = typer.Typer(help="Export and verify the event history.", no_args_is_help=True)
ops.add_typer(audit, name="audit")
console = Console(stderr=True)


def _time(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r}: {exc}") from None


def _run(main: Any) -> Any:
    return asyncio.run(main)


class _RateColumn(ProgressColumn):
    """Events per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None and task.elapsed:  # rich's estimate needs two samples
            speed = task.completed / task.elapsed
        shown = "-" if speed is None else f"{speed:,.0f}"
        return Text(f"{shown} events/s", style="progress.data.speed")


def event_progress() -> Progress:
    """A progress bar over events: done/total, rate, time spent and left."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


@ops.command()
def replay(
    schema: str = typer.Option("replay_check", help="Schema for the rebuilt tables"),
    rebuild_snapshots: bool = typer.Option(
        False,
        "--rebuild-snapshots",
        help="Then replace the live snapshots (a cache) with the rebuilt ones, in one transaction",
    ),
) -> None:
    """Rebuild every projection and snapshot from the events into fresh tables and compare
    with the live ones. Publishes nothing, charges nothing. Exit code 1 on any drift (drifted
    snapshots do not count when --rebuild-snapshots replaced them)."""

    async def main() -> int:
        settings = LedgerSettings()
        container = bootstrap(settings)
        interval = settings.snapshot_interval
        try:
            total = await count_events(container.engine)
            began = time.perf_counter()
            with event_progress() as progress:
                task = progress.add_task("replaying events", total=total)
                partners = await rebuild(
                    container.engine,
                    schema,
                    interval,
                    on_progress=lambda done: progress.advance(task, done),
                )
            spent = time.perf_counter() - began
            drift = await compare(container.engine, schema)
            missing = await missing_snapshots(container.engine, schema)
            replaced = None
            if rebuild_snapshots:
                replaced = await replace_snapshots(container.engine, schema, interval)
        finally:
            await container.close()
        console.print(
            f"rebuilt {partners} partner streams ({total} events, {total / max(spent, 1e-9):,.0f}"
            f" events/s) into schema {schema!r}"
        )
        if missing:
            console.print(f"{missing} snapshots were missing from the live cache")
        if replaced is not None:
            console.print(f"[green]replaced the live snapshots with {replaced} rebuilt ones[/]")
            drift = [d for d in drift if d.table != "snapshots"]
        if not drift:
            console.print("[green]no drift: the live projections equal the rebuilt ones[/]")
            return 0
        table = Table("table", "key", "live", "rebuilt", title=f"{len(drift)} rows differ")
        for d in drift:
            table.add_row(d.table, d.key, d.live or "(missing)", d.rebuilt or "(missing)")
        Console().print(table)
        return 1

    raise typer.Exit(_run(main()))


# A debit of schema version 1 holds its quote; later ones name it (price list, version and
# recipients, the component `mailing_sent` prices), and it is kept once in `debit_quotes`.
def backfill_read_models(settings: LedgerSettings) -> None:
    """After `migrate`: fill the read models and snapshots from the events when a database
    written before they existed has events but no partner rows; says what it did."""

    async def main() -> None:
        container = bootstrap(settings)
        try:
            if not await needs_backfill(container.engine):
                return
            total = await count_events(container.engine)
            console.print(f"events but no read models: rebuilding them from {total} events")
            with event_progress() as progress:
                task = progress.add_task("rebuilding read models", total=total)
                partners = await rebuild_in_place(
                    container.engine,
                    settings.snapshot_interval,
                    lambda done: progress.advance(task, done),
                )
            console.print(
                f"[green]rebuilt the read models and snapshots of {partners} partners"
                " from their events[/]"
            )
        finally:
            await container.close()

    _run(main())


@audit.command("export")
def audit_export(
    partner: str = typer.Option(..., help="Partner id"),
    since: str = typer.Option("1970-01-01T00:00:00Z", "--from", help="From (inclusive)"),
    until: str = typer.Option("9999-12-31T00:00:00Z", "--to", help="To (exclusive)"),
    format: str = typer.Option("json", help="json (lines) or csv"),
) -> None:
    """Every event of a partner with its metadata, the price list version and quote behind
    each debit, and the running balance; to standard output."""
    if format not in {"json", "csv"}:
        raise typer.BadParameter("json or csv", param_hint="--format")
    start, end = _time(since), _time(until)

    async def main() -> list[dict[str, Any]]:
        container = bootstrap(LedgerSettings())
        try:
            return await audit_trail(container.engine, partner, start, end)
        finally:
            await container.close()

    records = _run(main())
    if format == "json":
        for record in records:
            sys.stdout.write(orjson.dumps(record).decode() + "\n")
        return
    writer = csv.writer(sys.stdout)
    columns = ["global_position", "version", "type", "recorded_at", "credits_delta"]
    columns += ["balance_after", "price_list_id", "price_list_version", "quote"]
    columns += ["schema_version", "payload", "metadata", "hash"]
    writer.writerow(columns)
    for record in records:
        writer.writerow(
            [
                orjson.dumps(record[c]).decode() if isinstance(record[c], dict) else record[c]
                for c in columns
            ]
        )


@audit.command("verify")
def audit_verify() -> None:
    """Recompute every stream's hash chain; name the first broken link. Exit 1 if any."""

    async def main() -> tuple[list[tuple[str, int, int]], int, float]:
        container = bootstrap(LedgerSettings())
        try:
            total = await count_events(container.engine)
            began = time.perf_counter()
            with event_progress() as progress:
                task = progress.add_task("verifying hash chains", total=total)
                broken = await broken_links(
                    container.engine, lambda done: progress.advance(task, done)
                )
            return broken, total, time.perf_counter() - began
        finally:
            await container.close()

    broken, total, spent = _run(main())
    console.print(f"checked {total} events ({total / max(spent, 1e-9):,.0f} events/s)")
    if not broken:
        console.print("[green]every hash chain is intact[/]")
        return
    for partner, version, position in broken:
        console.print(
            f"[red]broken chain[/]: partner {partner!r}, first bad event at version {version}"
            f" (global position {position})"
        )
    raise typer.Exit(1)


async def reingest_topic(
    settings: LedgerSettings,
    handler: AccountConsumer,
    since: datetime,
    batch_size: int = 1000,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Read a topic again from a time on and let every message through the normal path:
    what was recorded already changes nothing, what is missing is recorded.
    `on_progress(done, total)` follows the work."""
    container = bootstrap(settings)
    topic = settings.topic_prefix + handler.topic
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    seen = 0
    try:
        numbers = await partitions_of(settings.kafka_bootstrap_servers, topic)
        if not numbers:
            raise typer.BadParameter(f"topic {topic!r} does not exist", param_hint="--topic")
        partitions = [TopicPartition(topic, p) for p in numbers]
        consumer.assign(partitions)
        starts = await consumer.offsets_for_times(
            {tp: int(since.timestamp() * 1000) for tp in partitions}
        )
        ends = await consumer.end_offsets(partitions)
        todo = {}
        for tp in partitions:
            found = starts.get(tp)
            if found is None:
                continue
            consumer.seek(tp, found.offset)
            todo[tp] = ends[tp]
        total = sum(ends[tp] - starts[tp].offset for tp in todo)
        # A group of its own: the stored offsets of the live consumers are not moved.
        subscription = handler.subscription(
            f"reingest-{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"
        )
        while todo:
            fetched = await consumer.getmany(*todo, timeout_ms=1000, max_records=batch_size)
            records = []
            for tp, messages in fetched.items():
                for m in messages:
                    if m.offset < todo[tp]:
                        records.append(
                            IncomingRecord(
                                handler.topic,
                                tp.partition,
                                m.offset,
                                m.key,
                                m.value,
                                tuple(m.headers),
                            )
                        )
                if messages and messages[-1].offset + 1 >= todo[tp]:
                    del todo[tp]
            if records:
                await apply_batch_until_done(container.engine, subscription, records)
                seen += len(records)
            if on_progress is not None:
                on_progress(seen, total)
    finally:
        await consumer.stop()
        await container.close()
    return seen


@ops.command()
def reingest(
    topic: str = typer.Option("mailing.sent", help="mailing.sent or payments.results"),
    since: str = typer.Option(..., help="Read from this time on (RFC 3339)"),
) -> None:
    """Read a topic again from a time on; recorded events change nothing, missing ones are
    recorded."""
    settings = LedgerSettings()
    container = bootstrap(settings)
    handlers = {
        h.topic: h for h in (container.mailing_sent_consumer(), container.payment_result_consumer())
    }
    if topic not in handlers:
        raise typer.BadParameter(f"one of {sorted(handlers)}", param_hint="--topic")
    with Progress(console=console) as progress:
        task = progress.add_task(f"reading {topic} again", total=None)
        count = _run(
            reingest_topic(
                settings,
                handlers[topic],
                _time(since),
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        )
    _run(container.close())
    console.print(f"read {count} messages of {topic} again")


@ops.command()
def balance(
    partner: str = typer.Option(..., help="Partner id"),
    as_of: str | None = typer.Option(None, help="The balance as it stood then (RFC 3339)"),
) -> None:
    """A partner's balance now or at a past time, folded from its events."""

    async def main() -> Any:
        container = bootstrap(LedgerSettings())
        try:
            return await read_account(
                container.unit_of_work, partner, _time(as_of) if as_of else None
            )
        finally:
            await container.close()

    state = _run(main())
    if state is None:
        console.print(f"no partner {partner!r} (at that time)")
        raise typer.Exit(1)
    print(
        orjson.dumps(
            {
                "partner_id": partner,
                "as_of": as_of,
                "balance": state.balance,
                "held": state.held,
                "available": state.available,
                "debt": state.debt_credits,
                "version": state.version,
            }
        ).decode()
    )


@ops.command()
def reconcile() -> None:
    """Payments the ledger recorded against the gateway's own records (Stripe); lists what is
    missing or different on either side. Exit code 1 when anything is."""

    async def main() -> list[Mismatch]:
        container = bootstrap(LedgerSettings())
        try:
            return compare_payments(
                await ledger_payments(container.engine), await gateway_payments(container.stripe())
            )
        finally:
            await container.close()

    mismatches = _run(main())
    if not mismatches:
        console.print("[green]the ledger and the gateway agree on every payment[/]")
        return
    table = Table("request", "partner", "problem", title=f"{len(mismatches)} payments differ")
    for m in mismatches:
        table.add_row(m.request_id, m.partner_id, m.problem)
    Console().print(table)
    raise typer.Exit(1)


class NotSetAside(Exception):
    """The message cannot be dead-lettered by hand; `str()` says why."""


async def _read_one(settings: LedgerSettings, topic: str, partition: int, offset: int) -> Any:
    """The message at topic/partition/offset, read straight from the broker."""
    tp = TopicPartition(settings.topic_prefix + topic, partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        if partition not in await partitions_of(settings.kafka_bootstrap_servers, tp.topic):
            raise NotSetAside(f"{tp.topic} has no partition {partition}")
        consumer.assign([tp])
        first = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if not first <= offset < end:
            raise NotSetAside(
                f"no message at offset {offset} (the partition holds {first}..{end - 1})"
            )
        consumer.seek(tp, offset)
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            for message in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if message.offset == offset:
                    return message
                if message.offset > offset:
                    raise NotSetAside(f"no message at offset {offset} (a transaction marker?)")
        raise NotSetAside(f"offset {offset} could not be read within 30 s")
    finally:
        await consumer.stop()


async def dead_letter_by_hand(
    settings: LedgerSettings,
    handler: AccountConsumer,
    partition: int,
    offset: int,
    reason: str,
) -> DeadLetter:
    """Set one message the consumer has not reached yet aside: kept in `dead_letters` (marked
    `by_hand`, so the consumer skips it) and queued for the dead-letter topic, in one
    transaction under the lock of the partition's stored offset, so the consumer cannot apply
    it meanwhile. A message already applied or already a dead letter is refused."""
    message = await _read_one(settings, handler.topic, partition, offset)
    letter = DeadLetter(
        handler.topic,
        partition,
        offset,
        message.key,
        message.value,
        reason,
        tuple(message.headers),
        by_hand=True,
    )
    container = bootstrap(settings)
    try:
        async with container.engine.begin() as connection:
            inbox = Inbox(connection, group_for(settings, handler.topic))
            stored = await inbox.lock_offsets(handler.topic, {partition})
            if stored.get(partition, 0) > offset:
                raise NotSetAside(
                    f"the consumer is past it already (next offset {stored[partition]}):"
                    " it was applied or dead-lettered"
                )
            if not await inbox.record_dead_letters([letter]):
                raise NotSetAside("it is a dead letter already")
            await Outbox(connection).write([dead_letter_message(letter, handler.dead_letter_topic)])
    finally:
        await container.close()
    return letter


@ops.command("dead-letter")
def dead_letter(
    topic: str = typer.Option(..., help="mailing.sent or payments.results"),
    partition: int = typer.Option(..., help="Kafka partition"),
    offset: int = typer.Option(..., help="Offset of the message in the partition"),
    reason: str = typer.Option(..., help="Why it is set aside (kept with it)"),
) -> None:
    """Dead-letter one message by hand, for a fault nobody foresaw: it is kept in the
    dead_letters table, published to the dead-letter topic, and never applied by the consumer.
    Exit code 1 when it was applied already or cannot be read."""
    if not reason.strip():
        raise typer.BadParameter("say why", param_hint="--reason")
    settings = LedgerSettings()

    async def main() -> DeadLetter:
        container = bootstrap(settings)
        handlers = {
            h.topic: h
            for h in (container.mailing_sent_consumer(), container.payment_result_consumer())
        }
        await container.close()
        if topic not in handlers:
            raise typer.BadParameter(f"one of {sorted(handlers)}", param_hint="--topic")
        return await dead_letter_by_hand(settings, handlers[topic], partition, offset, reason)

    try:
        letter = _run(main())
    except NotSetAside as exc:
        console.print(f"[red]not set aside[/]: {topic}/{partition}/{offset}: {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"dead-lettered {letter.topic}/{letter.partition}/{letter.offset}"
        f" (queued for the dead-letter topic): {letter.reason}"
    )


@ops.command()
def statements(
    period: str = typer.Option(..., "--period", help="The month, YYYY-MM"),
) -> None:
    """Issue the month's statements of every contracted customer: each billing period that
    starts in the month and has ended is priced, recorded once and published as
    `ledger.statement_issued`. A second run issues nothing new. Exit code 1 when a statement
    could not be issued."""
    try:
        parse_month(period)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None

    async def main() -> RunResult:
        container = bootstrap(LedgerSettings())
        try:
            with Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                task = progress.add_task(f"statements {period}", total=None)
                return await run_statements(
                    container,
                    period,
                    on_start=lambda total: progress.update(task, total=total),
                    on_progress=lambda: progress.advance(task),
                )
        finally:
            await container.close()

    result = _run(main())
    table = Table("partner", "customer", "period start", title=f"statements of {period}")
    for partner_id, customer_id, start in result.issued:
        table.add_row(partner_id, customer_id, start.isoformat())
    if result.issued:
        Console().print(table)
    console.print(
        f"issued {len(result.issued)}, issued before {result.already},"
        f" not ended yet {result.not_ended}, failed {len(result.failed)}"
    )
    for partner_id, customer_id, why in result.failed:
        console.print(f"[red]{partner_id}/{customer_id}: {why}[/]")
    if result.failed:
        raise typer.Exit(1)


@ops.command("prune-inbox")
def prune_inbox_command(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only count the ids older than the window; delete nothing"
    ),
    batch_size: int | None = typer.Option(
        None, min=1, help="Ids per transaction (default LEDGER_INBOX_PRUNE_BATCH_SIZE)"
    ),
) -> None:
    """Delete the inbox's event ids received longer ago than LEDGER_INBOX_DEDUP_WINDOW, a batch
    per short transaction (ingest goes on meanwhile). The consumer process does the same every
    LEDGER_INBOX_PRUNE_EVERY_SECONDS; this is for a first large prune, or to look (--dry-run)."""
    settings = LedgerSettings()
    size = batch_size or settings.inbox_prune_batch_size
    window = settings.inbox_dedup_window

    async def main() -> tuple[InboxSummary, int | None]:
        container = bootstrap(settings)
        try:
            summary = await summarize_inbox(container.engine, window)
            if dry_run:
                return summary, None
            with Progress(console=console) as progress:
                task = progress.add_task("pruning the inbox", total=summary.older_than_window)
                deleted = await prune_inbox(
                    container.engine,
                    window,
                    size,
                    on_batch=lambda done: progress.advance(task, done),
                )
            return summary, deleted
        finally:
            await container.close()

    summary, deleted = _run(main())
    oldest = summary.oldest.isoformat() if summary.oldest else "-"
    print(
        f"inbox: {summary.ids} ids, oldest received {oldest}; window {window}:"
        f" {summary.older_than_window} received before {summary.cutoff.isoformat()}"
    )
    if deleted is None:
        print("dry run: nothing deleted")
    else:
        print(f"deleted {deleted} ids in batches of {size}")
