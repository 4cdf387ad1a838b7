"""The fault soak: a seeded workload against the whole system while its parts crash.

    .venv/bin/python -m tests.soak.soak --seed 1            # `make soak SEED=1`
    .venv/bin/python -m tests.soak.soak --seed 1 --short    # what `tests/e2e/test_soak.py` runs

What it does, as a black-box client of the processes (Kafka producer, HTTP API, the ops CLI; SQL
only to read the `dead_letters` table):
- starts the local Stripe server, pricing, the ledger API, consumer and relay, and the payment
  worker, one process each, on free ports, with fresh databases and a topic prefix of its own;
- registers partners: prepaid with auto-purchase, prepaid with a reminder and manual purchases,
  on demand by card (each with a card at the local Stripe server), and one probe partner per
  partition of `mailing.sent` that only the recovery measurements use;
- publishes a seeded plan of `mailing.sent` at a steady rate: mailings whose `sent_at` is out of
  order, redeliveries (the same bytes again), some mailings announced by a hold (a reservation
  through the HTTP API first), and poison (bad JSON, schema violations, unknown partners);
- meanwhile buys credits through the HTTP API in concurrent bursts (sometimes the same
  Idempotency-Key twice at once);
- and injects every fault kind `rounds` times in a seeded order: SIGKILL of the consumer, the
  relay and the payment worker (restarted a moment later), SIGKILL of the Kafka broker, an
  immediate PostgreSQL stop (`pg_ctl stop -m immediate`), a pricing outage. After each fault it
  measures the recovery: from the fault's end until the first probe debit is visible, until a
  probe debit on every partition is (everything published before is then consumed), and until a
  probe purchase went through the payment loop (relay, payment worker, Stripe, results);
- once everything is published it waits until the system has drained, then checks what it
  expects against what the system shows, and exits 1 with the list of failed checks.

Every process it starts is stopped on every path (also on SIGTERM / Ctrl-C), and PostgreSQL and
Kafka are left running. A process that exits when no fault asked for it is restarted (as a
supervisor would) and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx
import stripe
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from payments.migrations import MIGRATIONS_DIR as PAYMENTS_MIGRATIONS
from pricing.migrations import MIGRATIONS_DIR as PRICING_MIGRATIONS
from shared.codec import encode
from shared.kafka_admin import ensure_topics, partitions_of
from tests.e2e.conftest import REPO, ServiceProcess, wait_healthy
from tests.integration.conftest import PRICING_ADMIN_TOKEN, free_port
from tests.integration.databases import fresh_migrated_database
from tests.support.messages import mailing_sent
from tests.support.price_lists import (
    CREDIT_PRICE_LIST,
    MAILING_PRICE_LIST,
    credits_for,
    price_minor,
)
from tests.support.settings import KAFKA

STACK = REPO / "deploy" / "local" / "stack.sh"
OPS = "soak-ops-token-0123456"
STRIPE_KEY = "sk_test_local"
GOOD_CARD = "4242424242424242"
MINIMUM_CHARGE_MINOR = 1000  # EUR 10: on-demand money waits for it, so charges carry amounts
AUTO_CHUNK = 50_000
PROBE_RECIPIENTS = 100
PROBE_CREDITS = 1000
FAULTS = ("consumer", "relay", "payment-worker", "kafka", "postgres", "pricing")
BASELINE = "(no fault)"
Kind = Literal["auto", "manual", "on_demand", "probe"]


# The oracle (what a mailing and credits cost) is tests.support.price_lists.


# --- configuration and plan ------------------------------------------------------------------


@dataclass(frozen=True)
class SoakConfig:
    seed: int
    mailings: int = 20_000
    rate: float = 50.0  # mailings per second: the plan lasts about as long as the faults
    rounds: int = 2  # every fault kind this many times
    partners: int = 12  # besides the probes; a third of each kind
    poison_per_kind: int = 10
    redelivery_share: float = 0.05
    hold_share: float = 0.03
    calm_seconds: float = 4.0  # traffic without a fault before each fault
    kill_outage_seconds: float = 1.0
    kafka_outage_seconds: float = 5.0
    postgres_outage_seconds: float = 3.0
    pricing_outage_seconds: float = 6.0
    purchase_every_seconds: float = 3.0
    recovery_timeout: float = 120.0
    settle_timeout: float = 240.0

    @classmethod
    def short(cls, seed: int) -> SoakConfig:
        """Every fault kind once, fewer mailings: about two minutes on the 2-core machine."""
        return cls(
            seed,
            mailings=1_200,
            rate=15.0,
            rounds=1,
            partners=6,
            poison_per_kind=3,
            calm_seconds=1.0,
            kill_outage_seconds=0.5,
            kafka_outage_seconds=2.0,
            postgres_outage_seconds=1.0,
            pricing_outage_seconds=2.0,
        )


@dataclass
class Partner:
    partner_id: str
    kind: Kind
    grant: int
    token: str = ""
    card: dict[str, str] = field(default_factory=dict)
    trigger: int | None = None
    # What the soak sent: mailing id -> recipients, and holds: reservation id -> mailing id.
    mailings: dict[str, int] = field(default_factory=dict)
    holds: dict[str, tuple[str, int]] = field(default_factory=dict)  # rid -> (mailing, credits)
    # Purchases the API accepted (202): Idempotency-Key -> (purchase id, credits).
    purchases: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def prepaid(self) -> bool:
        return self.kind != "on_demand"

    def billing(self) -> dict[str, Any]:
        if self.kind == "on_demand":
            return {"billing_mode": "on_demand", "payment_method": self.card}
        billing: dict[str, Any] = {"billing_mode": "prepaid", "payment_method": self.card}
        if self.kind == "auto":
            billing["auto_purchase"] = {"credits": AUTO_CHUNK, "trigger_threshold": self.trigger}
        if self.kind == "manual":
            billing["reminder_threshold"] = 50_000
        return billing


@dataclass(frozen=True)
class Mailing:
    partner_id: str
    mailing_id: str
    event_id: str
    customer_id: str
    recipients: int
    sent_at: datetime
    hold: int | None = None  # credits to reserve first

    def value(self, reservation_id: str | None = None) -> bytes:
        return encode(
            mailing_sent(
                self.partner_id,
                self.customer_id,
                self.recipients,
                mailing_id=self.mailing_id,
                event_id=self.event_id,
                sent_at=self.sent_at,
                reservation_id=reservation_id,
            )
        )


@dataclass(frozen=True)
class Item:
    """One thing to publish, `at` seconds after the start."""

    at: float
    kind: Literal["mailing", "redelivery", "poison"]
    key: str
    mailing: Mailing | None = None
    value: bytes = b""


def make_partners(config: SoakConfig, prefix: str, probes: int) -> list[Partner]:
    rng = random.Random(config.seed)
    kinds: list[Kind] = ["auto", "manual", "on_demand"]
    partners = []
    for n in range(config.partners):
        kind = kinds[n % 3]
        grant = {"auto": 20_000, "manual": 200_000, "on_demand": 0}[kind]
        trigger = rng.choice([None, 5_000]) if kind == "auto" else None
        partners.append(Partner(f"{prefix}p{n:02d}-{kind}", kind, grant, trigger=trigger))
    partners += [Partner(f"{prefix}probe{n}", "probe", 10_000_000) for n in range(probes)]
    return partners


def make_plan(config: SoakConfig, prefix: str, partners: list[Partner]) -> list[Item]:
    """The seeded traffic: mailings at `rate`, redeliveries a few seconds later, poison."""
    rng = random.Random(config.seed * 7919 + 1)
    senders = [p for p in partners if p.kind != "probe"]
    # On-demand partners send little (5% of the mailings): every charge is a Stripe payment.
    on_demand = [p for p in senders if p.kind == "on_demand"]
    weights = [
        (0.05 / len(on_demand)) if p.kind == "on_demand" else 0.95 / (len(senders) - len(on_demand))
        for p in senders
    ]
    start = datetime.now(UTC)
    items: list[Item] = []
    for n in range(config.mailings):
        partner = rng.choices(senders, weights)[0]
        recipients = rng.randint(0, 500) if partner.kind == "on_demand" else rng.randint(0, 2000)
        at = n / config.rate
        # Out of order: each sent_at is up to 10 minutes before its place in the stream.
        sent_at = start + timedelta(seconds=at - rng.uniform(0, 600))
        hold = None
        if partner.prepaid and rng.random() < config.hold_share:
            credits = credits_for(recipients)
            hold = max(1, credits + rng.randint(-credits // 2, 100))
        mailing = Mailing(
            partner.partner_id,
            f"{prefix}m{n}",
            f"{prefix}e{n}",
            rng.choice(["c1", "c2", "c3"]),
            recipients,
            sent_at,
            hold,
        )
        partner.mailings[mailing.mailing_id] = recipients
        items.append(Item(at, "mailing", partner.partner_id, mailing, mailing.value()))
        if hold is None and rng.random() < config.redelivery_share:
            later = at + rng.uniform(0.5, 20.0)
            items.append(Item(later, "redelivery", partner.partner_id, mailing, mailing.value()))
    duration = config.mailings / config.rate
    some = senders[0].partner_id
    for n in range(config.poison_per_kind):
        mailing = Mailing(some, f"{prefix}pm{n}", f"{prefix}pe{n}", "c1", 5, start)
        bad_json = b'{"specversion": "1.0", "id": "' + f"{prefix}bad{n}".encode() + b'", oops'
        schema = mailing.value().replace(b'"recipients":5', b'"recipients":"five"')
        assert schema != mailing.value(), "the schema poison must differ from a valid mailing"
        ghost = replace(mailing, partner_id=f"{prefix}ghost{n}", event_id=f"{prefix}ge{n}")
        for key, value in ((some, bad_json), (some, schema), (ghost.partner_id, ghost.value())):
            items.append(Item(rng.uniform(0, duration), "poison", key, value=value))
    items.sort(key=lambda item: item.at)
    return items


# --- processes -------------------------------------------------------------------------------


class System:
    """The processes of the system, each `python -m ...` with the soak's environment; a
    supervisor restarts any that exits without a fault having asked for it."""

    def __init__(self, env: dict[str, str], log_dir: Path, started: float) -> None:
        self.env = env
        self.log_dir = log_dir
        self.started = started
        self.processes: dict[str, ServiceProcess] = {}
        self.down: set[str] = set()  # stopped on purpose (a fault is going on)
        self.unplanned: list[str] = []

    def start(self, name: str, *args: str) -> ServiceProcess:
        process = ServiceProcess(name, list(args), self.env, self.log_dir).start()
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        self.down.add(name)
        self.processes[name].kill()

    async def stop(self, name: str) -> None:
        self.down.add(name)
        await asyncio.to_thread(self.processes[name].stop)

    def restart(self, name: str) -> None:
        self.processes[name].start()
        self.down.discard(name)

    async def supervise(self) -> None:
        while True:
            for name, process in self.processes.items():
                assert process.process is not None
                if name not in self.down and process.process.poll() is not None:
                    at = time.monotonic() - self.started
                    self.unplanned.append(
                        f"{name} exited with code {process.process.returncode} at"
                        f" t+{at:.0f}s (restarted); see {process.log_path}"
                    )
                    print(f"[soak] {self.unplanned[-1]}", flush=True)
                    process.start()
            await asyncio.sleep(0.5)

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.down.add(name)
            with contextlib.suppress(Exception):
                self.processes[name].stop()


async def stack(command: str, log: Path) -> None:
    """deploy/local/stack.sh <command> for the stack of the environment (MAILBILL_* ports)."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            "bash", str(STACK), command, stdout=out, stderr=out, cwd=REPO
        )
        code = await process.wait()
    if code != 0:
        raise SoakError(f"stack.sh {command} exited with {code}; see {log}")


class SoakError(Exception):
    """The soak itself could not go on (as opposed to a failed check)."""


# --- clients ---------------------------------------------------------------------------------


class Publisher:
    """The mailing platform's producer: every message is sent until the broker acknowledged it,
    through broker outages (a send that failed is sent again: the same bytes, so the ledger
    sees a redelivery). Counts the sends that needed more than one try."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.producer: AIOKafkaProducer | None = None
        self.generation = 0
        self.retried_sends = 0
        self._renewing = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    @staticmethod
    def _new() -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=KAFKA,
            enable_idempotence=True,
            acks="all",
            linger_ms=10,
            request_timeout_ms=15_000,
        )

    async def start(self) -> None:
        self.producer = self._new()
        await self.producer.start()

    async def _renew(self, generation: int) -> None:
        """A fresh producer, in case the old one is stuck after the broker came back."""
        async with self._renewing:
            if generation != self.generation:
                return
            fresh = self._new()
            try:
                await asyncio.wait_for(fresh.start(), 20)
            except Exception:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(fresh.stop(), 5)
                return
            old, self.producer = self.producer, fresh
            self.generation += 1
            if old is not None:
                task = asyncio.create_task(_quietly(old.stop(), 10))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def send(self, key: str, value: bytes, partition: int | None = None) -> int:
        """Send until acknowledged; returns the number of tries."""
        tries = 0
        while True:
            tries += 1
            producer, generation = self.producer, self.generation
            assert producer is not None
            try:
                sent = await asyncio.wait_for(
                    producer.send(self.topic, value, key=key.encode(), partition=partition), 30
                )
                await asyncio.wait_for(sent, 30)
                if tries > 1:
                    self.retried_sends += 1
                return tries
            except Exception:
                if tries % 3 == 0:
                    await self._renew(generation)
                await asyncio.sleep(min(2.0, 0.25 * tries))

    async def stop(self) -> None:
        if self.producer is not None:
            await _quietly(self.producer.stop(), 10)
        await asyncio.gather(*self._closing, return_exceptions=True)


async def _quietly(work: Awaitable[Any], timeout: float) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(work, timeout)


async def call(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    token: str = OPS,
    json: Any = None,
    key: str | None = None,
    params: dict[str, Any] | None = None,
    patience: float = 300.0,
) -> httpx.Response:
    """An HTTP call retried (with the same Idempotency-Key) through outages until it gets a
    definitive answer: anything below 500 other than 429."""
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    deadline = time.monotonic() + patience
    tries = 0
    while True:
        tries += 1
        try:
            response = await client.request(method, url, json=json, headers=headers, params=params)
            if response.status_code < 500 and response.status_code != 429:
                return response
            trouble = f"{response.status_code} {response.text[:200]}"
        except httpx.TransportError as exc:
            trouble = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise SoakError(f"{method} {url}: no answer for {patience:.0f}s ({trouble})")
        await asyncio.sleep(min(2.0, 0.2 * tries))


def created(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code not in (200, 201, 202):
        raise SoakError(f"{what}: {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


async def saved_card(client: stripe.StripeClient) -> dict[str, str]:
    """A Stripe customer with a test card that always pays, as a partner portal saves it."""
    customer = await client.v1.customers.create_async({"email": "billing@partner.example"})
    method = await client.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {"number": GOOD_CARD, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        }
    )
    await client.v1.payment_methods.attach_async(method.id, {"customer": customer.id})
    return {"type": "card", "customer": customer.id, "payment_method": method.id}


async def history(
    client: httpx.AsyncClient, partner_id: str, after: int = 0
) -> list[dict[str, Any]]:
    """The partner's events after version `after`, every page."""
    events: list[dict[str, Any]] = []
    while True:
        page = created(
            await call(
                client,
                "GET",
                f"/v1/partners/{partner_id}/events",
                params={"after": after, "limit": 1000},
            ),
            f"history of {partner_id}",
        )
        events += page["events"]
        if page["next_after"] is None:
            return events
        after = page["next_after"]


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Recovery:
    fault: str
    outage: float  # seconds the fault lasted
    first_debit: float | None = None  # fault end -> first probe debit visible
    drained: float | None = None  # fault end -> a probe debit on every partition visible
    payment: float | None = None  # fault end -> the probe purchase credited
    published: float | None = None  # fault end -> the broker acknowledged every probe mailing


def _s(value: float | None) -> str:
    return "timeout" if value is None else f"{value:.1f}s"


@dataclass
class Report:
    config: SoakConfig
    failures: list[str] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    unplanned_exits: list[str] = field(default_factory=list)
    duration: float = 0.0
    log_dir: Path | None = None

    def render(self) -> str:
        c = self.counts
        lines = [
            f"soak seed {self.config.seed}: {c['mailings']:,} mailings"
            f" (+{c['redeliveries']:,} redeliveries, {c['holds']:,} with a hold,"
            f" {c['poison']} poison) for {self.config.partners} partners;"
            f" {c['purchases']:,} purchases over HTTP ({c['purchase_twins']} twin requests);"
            f" {c['sends_retried']:,} sends retried by the producer",
            f"the system recorded: {c['debits']:,} debits, {c['auto_purchases']:,} automatic"
            f" purchases, {c['charges']:,} on-demand charges, {c['stripe_payments']:,} Stripe"
            f" payments, {c['dead_letters']} dead letters",
            "",
            f"{'fault':<16}{'outage':>8}{'published':>11}{'1st debit':>11}{'drained':>10}"
            f"{'payment':>10}",
        ]

        for r in self.recoveries:
            lines.append(
                f"{r.fault:<16}{r.outage:>7.1f}s{_s(r.published):>11}"
                f"{_s(r.first_debit):>11}{_s(r.drained):>10}{_s(r.payment):>10}"
            )
        lines.append(
            "(seconds from the fault's end until the broker took the probe mailings, the first"
            " probe debit showed in the API, a probe debit on every partition did (the backlog"
            " drained), and the probe purchase was paid and credited)"
        )
        for exit_ in self.unplanned_exits:
            lines.append(f"unplanned exit: {exit_}")
        lines.append(f"duration {self.duration:.0f}s; logs in {self.log_dir}")
        if self.failures:
            lines.append(f"FAILED: {len(self.failures)} checks")
            lines += [f"  - {failure}" for failure in self.failures]
        else:
            lines.append("PASSED: every check holds")
        return "\n".join(lines)


class Soak:
    def __init__(self, config: SoakConfig, log_dir: Path) -> None:
        self.config = config
        self.log_dir = log_dir
        self.report = Report(config, log_dir=log_dir)
        self.prefix = f"soak{config.seed}x{uuid.uuid4().hex[:6]}."
        self.started = time.monotonic()
        self.rng = random.Random(config.seed * 31 + 7)  # purchases (timing decides their order)
        self.fault_rng = random.Random(config.seed * 131 + 3)  # the fault order: same per seed
        self.partners: dict[str, Partner] = {}
        self.poison: list[bytes] = []
        self.ambiguous_poison = 0  # poison sends that needed a second try (maybe two copies)
        self.env: dict[str, str] = {}
        self.system: System | None = None
        self.api: httpx.AsyncClient | None = None
        self.publisher: Publisher | None = None
        self.stripe: stripe.StripeClient | None = None
        self.ledger_db = ""
        self.probe_round = 0
        self.probe_versions: dict[str, int] = {}

    def say(self, message: str) -> None:
        print(f"[soak {time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def fail(self, message: str) -> None:
        self.report.failures.append(message)
        self.say(f"CHECK FAILED: {message}")

    # --- setup ---------------------------------------------------------------------------

    async def setup(self) -> None:
        self.say(f"topic prefix {self.prefix!r}; logs in {self.log_dir}")
        pricing_db = await fresh_migrated_database("soak_pricing", PRICING_MIGRATIONS)
        self.ledger_db = await fresh_migrated_database("soak_ledger", LEDGER_MIGRATIONS)
        payments_db = await fresh_migrated_database("soak_payments", PAYMENTS_MIGRATIONS)
        await ensure_topics(KAFKA, prefix=self.prefix)
        ports = {name: free_port() for name in ("pricing", "ledger", "payments", "stripe", "smtp")}
        stripe_url = f"http://127.0.0.1:{ports['stripe']}"
        self.env = {
            "PRICING_DATABASE_URL": pricing_db,
            "PRICING_PORT": str(ports["pricing"]),
            "PRICING_DB_POOL_SIZE": "4",
            "PRICING_ADMIN_TOKEN": PRICING_ADMIN_TOKEN,
            # The workers' status ports are not what the soak watches: no fixed port to collide.
            "LEDGER_CONSUMER_METRICS_PORT": "0",
            "LEDGER_RELAY_METRICS_PORT": "0",
            "PAYMENTS_WORKER_METRICS_PORT": "0",
            "LEDGER_DATABASE_URL": self.ledger_db,
            "LEDGER_PORT": str(ports["ledger"]),
            "LEDGER_PRICING_URL": f"http://127.0.0.1:{ports['pricing']}",
            "LEDGER_KAFKA_BOOTSTRAP_SERVERS": KAFKA,
            "LEDGER_TOPIC_PREFIX": self.prefix,
            "LEDGER_CONSUMER_GROUP": f"{self.prefix}ledger",
            "LEDGER_OPS_TOKEN": OPS,
            "LEDGER_MINIMUM_CHARGE_MINOR": str(MINIMUM_CHARGE_MINOR),
            "LEDGER_RELAY_POLL_SECONDS": "0.05",
            "LEDGER_STRIPE_API_BASE": stripe_url,
            "LEDGER_DB_POOL_SIZE": "5",
            "PAYMENTS_DATABASE_URL": payments_db,
            "PAYMENTS_KAFKA_BOOTSTRAP_SERVERS": KAFKA,
            "PAYMENTS_TOPIC_PREFIX": self.prefix,
            "PAYMENTS_CONSUMER_GROUP": f"{self.prefix}payments",
            "PAYMENTS_NOTIFIER_GROUP": f"{self.prefix}notifier",
            "PAYMENTS_CONSUMER_SESSION_TIMEOUT_MS": "6000",
            "PAYMENTS_PORT": str(ports["payments"]),
            "PAYMENTS_STRIPE_API_BASE": stripe_url,
            "PAYMENTS_SMTP_PORT": str(ports["smtp"]),
            "PAYMENTS_MINIMUM_CHARGE_MINOR": str(MINIMUM_CHARGE_MINOR),
            "PAYMENTS_RETRY_BASE_SECONDS": "0.2",
            "PAYMENTS_RETRY_MAX_SECONDS": "3",
            "PAYMENTS_DRIVER_POLL_SECONDS": "0.1",
            "PAYMENTS_RELAY_POLL_SECONDS": "0.05",
            "PAYMENTS_DB_POOL_SIZE": "4",
            # As in production: JSON lines. (The console renderer draws every unhandled error
            # as a rich traceback with locals, thousands of lines that block the process for
            # seconds on this machine: the recovery times would measure the renderer.)
            "PRICING_LOG_JSON": "true",
            "LEDGER_LOG_JSON": "true",
            "PAYMENTS_LOG_JSON": "true",
        }
        system = self.system = System(self.env, self.log_dir, self.started)
        stripe_server = system.start(
            "stripe", "devtools.stripe_server", "--port", str(ports["stripe"])
        )
        pricing = system.start("pricing", "pricing", "serve")
        ledger = system.start("ledger-api", "ledger", "serve")
        await asyncio.to_thread(wait_healthy, self.env["LEDGER_PRICING_URL"], pricing, 60)
        async with httpx.AsyncClient(base_url=self.env["LEDGER_PRICING_URL"]) as pricing_api:
            for price_list in (MAILING_PRICE_LIST, CREDIT_PRICE_LIST):
                created(
                    await call(
                        pricing_api,
                        "POST",
                        "/v1/price-lists",
                        json=price_list,
                        token=PRICING_ADMIN_TOKEN,
                    ),
                    "",
                )
        await asyncio.to_thread(wait_healthy, f"http://127.0.0.1:{ports['ledger']}", ledger, 60)
        await self._wait_stripe(stripe_url, stripe_server)
        self.stripe = stripe.StripeClient(
            STRIPE_KEY, base_addresses={"api": stripe_url}, http_client=stripe.HTTPXClient()
        )
        self.api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['ledger']}", timeout=20)
        probes = len(await partitions_of(KAFKA, self.prefix + "mailing.sent"))
        partners = make_partners(self.config, self.prefix, probes)
        self.partners = {p.partner_id: p for p in partners}
        for partner in partners:
            await self._register(partner)
        system.start("consumer", "ledger", "consume")
        system.start("relay", "ledger", "relay")
        system.start("payment-worker", "payments", "work")
        self.publisher = Publisher(self.prefix + "mailing.sent")
        await self.publisher.start()
        self.say(f"{len(partners)} partners registered ({probes} probes); processes started")

    async def _wait_stripe(self, url: str, process: ServiceProcess) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(150):
                assert process.process is not None
                if process.process.poll() is not None:
                    raise SoakError(f"the Stripe server exited:\n{process.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    await client.get(f"{url}/v1/customers", auth=(STRIPE_KEY, ""), timeout=2)
                    return
                await asyncio.sleep(0.2)
        raise SoakError(f"the Stripe server does not answer on {url}")

    async def _register(self, partner: Partner) -> None:
        assert self.api is not None and self.stripe is not None
        partner.card = await saved_card(self.stripe)
        body = {
            "partner_id": partner.partner_id,
            "name": partner.partner_id,
            "credit_price_list_id": CREDIT_PRICE_LIST["id"],
            "mailing_price_list_id": MAILING_PRICE_LIST["id"],
            "billing": partner.billing(),
        }
        answer = created(await call(self.api, "POST", "/v1/partners", json=body), "register")
        partner.token = answer["token"]
        for customer in ("c1", "c2", "c3"):
            created(
                await call(
                    self.api,
                    "POST",
                    f"/v1/partners/{partner.partner_id}/customers",
                    json={"customer_id": customer, "name": customer},
                ),
                "attach a customer",
            )
        if partner.grant:
            created(
                await call(
                    self.api,
                    "POST",
                    f"/v1/partners/{partner.partner_id}/credits/grants",
                    json={"credits": partner.grant, "reason": "soak starting balance"},
                ),
                "grant",
            )

    # --- traffic -------------------------------------------------------------------------

    async def publish_plan(self, plan: list[Item]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        slots = asyncio.Semaphore(500)
        tasks: set[asyncio.Task[None]] = set()
        for item in plan:
            delay = start + item.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(self._publish(item))
            task.add_done_callback(lambda _: slots.release())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        self.say(f"published the whole plan ({len(plan):,} messages)")

    async def _publish(self, item: Item) -> None:
        assert self.publisher is not None
        counts = self.report.counts
        value = item.value
        if item.kind == "mailing" and item.mailing is not None and item.mailing.hold is not None:
            reservation_id = await self._hold(item.mailing)
            value = item.mailing.value(reservation_id)
        tries = await self.publisher.send(item.key, value)
        counts["sends_retried"] += tries > 1
        if item.kind == "poison":
            self.poison.append(value)
            self.ambiguous_poison += tries - 1
        counts[
            {"mailing": "mailings", "redelivery": "redeliveries", "poison": "poison"}[item.kind]
        ] += 1

    async def _hold(self, mailing: Mailing) -> str | None:
        """A reservation through the HTTP API (the partner's own token); None when refused."""
        assert self.api is not None and mailing.hold is not None
        partner = self.partners[mailing.partner_id]
        reservation_id = f"hold-{mailing.mailing_id}"
        response = await call(
            self.api,
            "POST",
            f"/v1/partners/{partner.partner_id}/reservations",
            token=partner.token,
            key=reservation_id,
            json={"reservation_id": reservation_id, "credits": mailing.hold},
        )
        if response.status_code == 201:
            partner.holds[reservation_id] = (mailing.mailing_id, mailing.hold)
            self.report.counts["holds"] += 1
            return reservation_id
        if response.status_code != 409:  # 409: not enough credits available, or in debt
            self.fail(f"reservation {reservation_id}: {response.status_code} {response.text}")
        return None

    async def buy(self, partner: Partner, key: str, credits: int) -> str:
        """A manual purchase through the HTTP API; returns the purchase id."""
        assert self.api is not None
        response = await call(
            self.api,
            "POST",
            f"/v1/partners/{partner.partner_id}/purchases",
            token=partner.token,
            key=key,
            json={"credits": credits},
        )
        if response.status_code != 202:
            raise SoakError(f"purchase {key}: {response.status_code} {response.text[:300]}")
        purchase_id: str = response.json()["purchase_id"]
        previous = partner.purchases.setdefault(key, (purchase_id, credits))
        if previous != (purchase_id, credits):
            self.fail(f"purchase {key} answered {purchase_id}, its twin {previous[0]}")
        return purchase_id

    async def purchase_bursts(self, stop: asyncio.Event) -> None:
        """Every few seconds, concurrent purchases for a few prepaid partners, and now and then
        the same request twice at once (a client retrying before the first answer came).
        A burst under way is finished: a purchase the API took must be known to the soak."""
        buyers = [p for p in self.partners.values() if p.kind in ("auto", "manual")]
        burst = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.purchase_every_seconds)
            if stop.is_set():
                return
            burst += 1
            calls = []
            for n, partner in enumerate(self.rng.sample(buyers, min(3, len(buyers)))):
                key = f"{self.prefix}buy-{burst}-{n}"
                # A few package sizes: the same size bought again with a new key is a new buy.
                # Small ones, so that auto-purchase partners still run dry and buy on their own.
                credits = self.rng.choice([1_000, 2_000, 5_000])
                calls.append(self.buy(partner, key, credits))
                self.report.counts["purchases"] += 1
                if self.rng.random() < 0.3:
                    calls.append(self.buy(partner, key, credits))
                    self.report.counts["purchase_twins"] += 1
            await asyncio.gather(*calls)

    # --- faults and recovery ---------------------------------------------------------------

    async def faults(self) -> None:
        config = self.config
        # First the figures of the system without a fault (and everything warm).
        self.report.recoveries.append(await self.measure(BASELINE, 0.0, time.monotonic()))
        for _ in range(config.rounds):
            for fault in self.fault_rng.sample(FAULTS, len(FAULTS)):
                await asyncio.sleep(config.calm_seconds)
                began = time.monotonic()
                await self.inject(fault)
                ended = time.monotonic()
                self.say(f"fault {fault}: over after {ended - began:.1f}s; measuring recovery")
                recovery = await self.measure(fault, ended - began, ended)
                self.report.recoveries.append(recovery)
                self.say(
                    f"fault {fault}: published {_s(recovery.published)}, first debit"
                    f" {_s(recovery.first_debit)}, drained {_s(recovery.drained)}, payment"
                    f" {_s(recovery.payment)}"
                )

    async def inject(self, fault: str) -> None:
        assert self.system is not None
        config, system = self.config, self.system
        stack_log = self.log_dir / "stack.log"
        if fault in ("consumer", "relay", "payment-worker"):
            system.kill(fault)
            await asyncio.sleep(config.kill_outage_seconds)
            system.restart(fault)
        elif fault == "kafka":
            await stack("kill-kafka", stack_log)
            await asyncio.sleep(config.kafka_outage_seconds)
            await stack("up", stack_log)
        elif fault == "postgres":
            await stack("stop-postgres-immediate", stack_log)
            await asyncio.sleep(config.postgres_outage_seconds)
            await stack("up", stack_log)
        elif fault == "pricing":
            await system.stop("pricing")
            await asyncio.sleep(config.pricing_outage_seconds)
            system.restart("pricing")
            process = system.processes["pricing"]
            await asyncio.to_thread(wait_healthy, self.env["LEDGER_PRICING_URL"], process, 60)
        else:
            raise AssertionError(fault)

    async def measure(self, fault: str, outage: float, ended: float) -> Recovery:
        """Probe mailings, one on each partition, and a probe purchase; when do they show?"""
        assert self.api is not None and self.publisher is not None
        self.probe_round += 1
        recovery = Recovery(fault, outage)
        probes = [p for p in self.partners.values() if p.kind == "probe"]
        waiting: dict[str, str] = {}  # mailing id -> probe partner
        sends = []
        for partition, probe in enumerate(probes):
            mailing = Mailing(
                probe.partner_id,
                f"{self.prefix}probe{self.probe_round}-{partition}",
                f"{self.prefix}pe{self.probe_round}-{partition}",
                "c1",
                PROBE_RECIPIENTS,
                datetime.now(UTC),
            )
            probe.mailings[mailing.mailing_id] = PROBE_RECIPIENTS
            waiting[mailing.mailing_id] = probe.partner_id
            sends.append(self.publisher.send(probe.partner_id, mailing.value(), partition))
        buying = asyncio.create_task(
            self.buy(probes[0], f"{self.prefix}probe-buy-{self.probe_round}", PROBE_CREDITS)
        )

        async def acknowledged() -> None:
            await asyncio.gather(*sends)
            recovery.published = time.monotonic() - ended

        sending = asyncio.create_task(acknowledged())
        credited_at: dict[str, float] = {}  # purchase id -> when its success showed
        deadline = ended + self.config.recovery_timeout
        try:
            while time.monotonic() < deadline and (waiting or recovery.payment is None):
                for probe in probes:
                    try:
                        events = await self._new_probe_events(probe.partner_id)
                    except (SoakError, httpx.HTTPError):
                        continue
                    now = time.monotonic() - ended
                    for event in events:
                        payload = event["payload"]
                        if event["type"] == "MailingDebited" and payload["mailing_id"] in waiting:
                            del waiting[payload["mailing_id"]]
                            if recovery.first_debit is None:
                                recovery.first_debit = now
                            if not waiting:
                                recovery.drained = now
                        if event["type"] == "PurchaseSucceeded":
                            credited_at[payload["purchase_id"]] = now
                if buying.done() and recovery.payment is None:
                    recovery.payment = credited_at.get(buying.result())
                await asyncio.sleep(0.3)
        finally:
            await sending
            await buying
        if waiting or recovery.payment is None:
            self.fail(
                f"no recovery within {self.config.recovery_timeout:.0f}s after the {fault} fault:"
                f" {len(waiting)} probe debits missing, probe purchase"
                f" {'credited' if recovery.payment is not None else 'not credited'}"
            )
        return recovery

    async def _new_probe_events(self, partner_id: str) -> list[dict[str, Any]]:
        assert self.api is not None
        after = self.probe_versions.get(partner_id, 0)
        events = await history(self.api, partner_id, after)
        if events:
            self.probe_versions[partner_id] = events[-1]["version"]
        return events

    # --- the end -----------------------------------------------------------------------------

    async def settle(self) -> dict[str, list[dict[str, Any]]]:
        """Wait until every mailing sent is debited and every payment asked for has a result,
        and nothing more happened for a moment; returns every partner's history."""
        assert self.api is not None
        histories: dict[str, list[dict[str, Any]]] = {p: [] for p in self.partners}
        deadline = time.monotonic() + self.config.settle_timeout
        quiet = 0
        missing: list[str] = []
        while time.monotonic() < deadline:
            new = 0
            for partner_id in self.partners:
                after = histories[partner_id][-1]["version"] if histories[partner_id] else 0
                with contextlib.suppress(SoakError, httpx.HTTPError):
                    events = await history(self.api, partner_id, after)
                    histories[partner_id] += events
                    new += len(events)
            missing = [
                f"{p.partner_id}: {what}"
                for p in self.partners.values()
                for what in unfinished(p, histories[p.partner_id])
            ]
            quiet = quiet + 1 if new == 0 else 0
            if not missing and quiet >= 2:
                return histories
            await asyncio.sleep(2.0)
        self.fail(f"not drained after {self.config.settle_timeout:.0f}s: {missing[:5]}")
        return histories

    async def check(self, histories: dict[str, list[dict[str, Any]]]) -> None:
        assert self.api is not None
        counts = self.report.counts
        for partner in self.partners.values():
            balance = created(
                await call(self.api, "GET", f"/v1/partners/{partner.partner_id}/balance"),
                "balance",
            )
            events = histories[partner.partner_id]
            for failure in check_partner(partner, events, balance):
                self.fail(failure)
            counts["debits"] += sum(e["type"] == "MailingDebited" for e in events)
            counts["charges"] += sum(e["type"] == "ChargeRequested" for e in events)
            counts["auto_purchases"] += sum(
                e["type"] == "PurchaseRequested" and e["payload"]["reason"] == "auto"
                for e in events
            )
            for failure in await self.check_gateway(partner, events):
                self.fail(failure)
        for failure in await self.check_dead_letters():
            self.fail(failure)
        # Read-only, so side by side: `replay` rebuilds into a schema of its own.
        await asyncio.gather(self.ops("replay"), self.ops("audit", "verify"), self.ops("reconcile"))

    async def check_gateway(self, partner: Partner, events: list[dict[str, Any]]) -> list[str]:
        """Stripe's own records: one successful PaymentIntent per payment the ledger asked for,
        for the amount asked, and none the ledger does not know."""
        assert self.stripe is not None
        asked = {
            e["payload"].get("purchase_id") or e["payload"]["charge_id"]: e["payload"][
                "amount_minor"
            ]
            for e in events
            if e["type"] in ("PurchaseRequested", "ChargeRequested")
        }
        page = await self.stripe.v1.payment_intents.list_async(
            {"customer": partner.card["customer"], "limit": 100}
        )
        intents = [pi async for pi in page.auto_paging_iter()]
        self.report.counts["stripe_payments"] += len(intents)
        per_request = Counter(pi.metadata["request_id"] for pi in intents)
        failures = [
            f"{partner.partner_id}: Stripe charged {request_id} {n} times"
            for request_id, n in per_request.items()
            if n > 1
        ]
        for pi in intents:
            request_id = pi.metadata["request_id"]
            if request_id not in asked:
                failures.append(
                    f"{partner.partner_id}: Stripe payment {pi.id} for unknown {request_id}"
                )
            elif (pi.amount, pi.status) != (asked[request_id], "succeeded"):
                failures.append(
                    f"{partner.partner_id}: {request_id} at Stripe: {pi.amount} {pi.status},"
                    f" the ledger asked for {asked[request_id]}"
                )
        failures += [
            f"{partner.partner_id}: {request_id} never reached Stripe"
            for request_id in asked
            if request_id not in per_request
        ]
        return failures

    async def check_dead_letters(self) -> list[str]:
        """The dead-letter topic holds exactly the poison sent (at least once each, nothing
        else), and the `dead_letters` table keeps each once."""
        failures = []
        topic = self.prefix + "mailing.sent.dlq"
        consumer = AIOKafkaConsumer(
            bootstrap_servers=KAFKA, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        found: list[Any] = []
        try:
            partitions = [TopicPartition(topic, p) for p in await partitions_of(KAFKA, topic)]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            todo = {tp for tp in partitions if ends[tp] > 0}
            deadline = time.monotonic() + 60
            while todo and time.monotonic() < deadline:
                for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                    found += messages
                    if messages and messages[-1].offset + 1 >= ends[tp]:
                        todo.discard(tp)
        finally:
            await consumer.stop()
        on_topic = Counter(m.value for m in found)
        poison = Counter(self.poison)
        self.report.counts["dead_letters"] = len(found)
        if set(on_topic) != set(poison):
            failures.append(
                f"dead-letter topic: {len(set(poison) - set(on_topic))} poison messages missing,"
                f" {len(set(on_topic) - set(poison))} messages that are no poison"
            )
        if not all(dict(m.headers).get("dlq.reason") for m in found):
            failures.append("dead-letter topic: a message without its dlq.reason header")
        url = self.ledger_db.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch(
                "SELECT message FROM dead_letters WHERE topic = 'mailing.sent'"
            )
        finally:
            await connection.close()
        kept = Counter(bytes(r["message"]) for r in rows)
        extra = sum(kept.values()) - sum(poison.values())
        if set(kept) != set(poison) or not 0 <= extra <= self.ambiguous_poison:
            failures.append(
                f"dead_letters table: {sum(kept.values())} rows for {sum(poison.values())} poison"
                f" messages sent ({self.ambiguous_poison} sends that may have gone twice);"
                f" {len(set(poison) - set(kept))} missing, {len(set(kept) - set(poison))} others"
            )
        return failures

    async def ops(self, *args: str) -> None:
        """`python -m ledger ops ...` on the soak's database; exit 0 expected."""
        log = self.log_dir / f"ops-{'-'.join(args)}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ledger",
                "ops",
                *args,
                stdout=out,
                stderr=out,
                cwd=REPO,
                env={**os.environ, **self.env},
            )
            code = await process.wait()
        output = log.read_text(errors="replace").strip()
        self.say(f"ops {' '.join(args)}: exit {code}: {output.splitlines()[-1] if output else ''}")
        if code != 0:
            self.fail(f"ledger ops {' '.join(args)} exited with {code}:\n{output[-2000:]}")

    # --- orchestration -------------------------------------------------------------------

    async def run(self) -> Report:
        try:
            await self.setup()
            assert self.system is not None
            plan = make_plan(self.config, self.prefix, list(self.partners.values()))
            supervisor = asyncio.create_task(self.system.supervise())
            no_more_buying = asyncio.Event()
            bursts = asyncio.create_task(self.purchase_bursts(no_more_buying))
            try:
                await asyncio.gather(self.publish_plan(plan), self.faults())
                no_more_buying.set()
                await bursts
                self.say("traffic and faults done; waiting for the system to drain")
                histories = await self.settle()
            finally:
                for task in (bursts, supervisor):
                    task.cancel()
                await asyncio.gather(bursts, supervisor, return_exceptions=True)
            self.report.unplanned_exits = list(self.system.unplanned)
            await self.check(histories)
        finally:
            await self.close()
        self.report.duration = time.monotonic() - self.started
        return self.report

    async def close(self) -> None:
        """Stop what the soak started, whatever happened; leave PostgreSQL and Kafka running."""
        if self.publisher is not None:
            await self.publisher.stop()
        if self.api is not None:
            await self.api.aclose()
        if self.system is not None:
            await asyncio.to_thread(self.system.stop_all)
        await stack("up", self.log_dir / "stack.log")


def unfinished(partner: Partner, events: list[dict[str, Any]]) -> list[str]:
    """What the system still owes this partner: mailings not yet debited, payments asked for
    without a result, purchases the API accepted that are not on record."""
    seen = {e["payload"]["mailing_id"] for e in events if e["type"] == "MailingDebited"}
    owed = [f"{len(set(partner.mailings) - seen)} debits"] if set(partner.mailings) - seen else []
    asked = {
        e["payload"].get("purchase_id") or e["payload"]["charge_id"]
        for e in events
        if e["type"] in ("PurchaseRequested", "ChargeRequested")
    }
    answered = {
        e["payload"].get("purchase_id") or e["payload"]["charge_id"]
        for e in events
        if e["type"] in ("PurchaseSucceeded", "PurchaseFailed", "ChargeSucceeded", "ChargeFailed")
    }
    if asked - answered:
        owed.append(f"{len(asked - answered)} payment results")
    accepted = {purchase_id for purchase_id, _ in partner.purchases.values()}
    if accepted - asked:
        owed.append(f"{len(accepted - asked)} accepted purchases not on record")
    return owed


def check_partner(
    partner: Partner, events: list[dict[str, Any]], balance: dict[str, Any]
) -> list[str]:
    """Everything the soak can tell about one partner from what it sent, against its history
    and balance. Returns what does not hold."""
    pid = partner.partner_id
    failures: list[str] = []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event["payload"])

    # Debits: every mailing sent once, at its price; none twice, none lost, none made up.
    debits = by_type.get("MailingDebited", [])
    times = Counter(d["mailing_id"] for d in debits)
    doubled = sorted(m for m, n in times.items() if n > 1)
    lost = sorted(set(partner.mailings) - set(times))
    unknown = sorted(set(times) - set(partner.mailings))
    if doubled:
        failures.append(f"{pid}: {len(doubled)} mailings debited twice or more, e.g. {doubled[0]}")
    if lost:
        failures.append(f"{pid}: {len(lost)} mailings never debited, e.g. {lost[0]}")
    if unknown:
        failures.append(f"{pid}: {len(unknown)} debits of mailings never sent, e.g. {unknown[0]}")
    mispriced = [
        d["mailing_id"]
        for d in debits
        if d["mailing_id"] in partner.mailings
        and d["credits"] != credits_for(partner.mailings[d["mailing_id"]])
    ]
    if mispriced:
        failures.append(f"{pid}: {len(mispriced)} debits at a wrong price, e.g. {mispriced[0]}")
    debited = sum(credits_for(partner.mailings[m]) for m in partner.mailings)

    # Holds: each was captured by its own mailing, up to its amount.
    captured = {d["reservation_id"]: d for d in debits if d.get("reservation_id")}
    for reservation_id, (mailing_id, credits) in partner.holds.items():
        debit = captured.get(reservation_id)
        if debit is None or debit["mailing_id"] != mailing_id:
            failures.append(f"{pid}: hold {reservation_id} not captured by {mailing_id}")
        elif debit["captured_credits"] != min(credits, debit["credits"]):
            failures.append(f"{pid}: hold {reservation_id} captured {debit['captured_credits']}")
    if balance["held"] != 0:
        failures.append(f"{pid}: {balance['held']} credits still held at the end")

    # Purchases: every one asked for paid exactly once, at the price of its credits.
    requested = {p["purchase_id"]: p for p in by_type.get("PurchaseRequested", [])}
    paid = Counter(p["purchase_id"] for p in by_type.get("PurchaseSucceeded", []))
    for purchase_id, request in requested.items():
        if paid[purchase_id] != 1:
            failures.append(f"{pid}: purchase {purchase_id} credited {paid[purchase_id]} times")
        if request["amount_minor"] != price_minor(request["credits"]):
            failures.append(f"{pid}: purchase {purchase_id} priced {request['amount_minor']}")
        if request["reason"] == "auto" and request["credits"] % AUTO_CHUNK:
            failures.append(f"{pid}: automatic purchase {purchase_id} of {request['credits']}")
    if by_type.get("PurchaseFailed"):
        failures.append(f"{pid}: {len(by_type['PurchaseFailed'])} purchases failed")
    ours = {purchase_id for purchase_id, _ in partner.purchases.values()}
    for purchase_id, request in requested.items():
        if request["reason"] == "manual" and purchase_id not in ours:
            failures.append(f"{pid}: manual purchase {purchase_id} the soak did not make")
    for key, (purchase_id, credits) in partner.purchases.items():
        asked = requested.get(purchase_id)
        if asked is None or (asked["credits"], asked["reason"]) != (credits, "manual"):
            failures.append(f"{pid}: purchase {key} ({credits} credits) not recorded as asked")
    bought = sum(credits for _, credits in partner.purchases.values())
    bought += sum(r["credits"] for r in requested.values() if r["reason"] == "auto")

    if partner.prepaid:
        expected = partner.grant + bought - debited
        if balance["balance"] != expected:
            failures.append(
                f"{pid}: balance {balance['balance']}, expected {expected} (granted"
                f" {partner.grant} + bought {bought} - debited {debited})"
            )
        return failures

    # On demand: nothing leaves the balance; the money is charged once, in amounts of at
    # least the minimum, and what was not charged yet is less than the minimum.
    if (balance["balance"], balance["debt"]) != (0, 0):
        failures.append(f"{pid}: on demand, balance {balance['balance']}, debt {balance['debt']}")
    charge_minor = {d["mailing_id"]: d["charge_minor"] for d in debits}
    wrong = [
        m
        for m, minor in charge_minor.items()
        if minor != price_minor(credits_for(partner.mailings.get(m, 0)))
    ]
    if wrong:
        failures.append(f"{pid}: {len(wrong)} mailings with a wrong charge, e.g. {wrong[0]}")
    charged: Counter[str] = Counter()
    for charge in by_type.get("ChargeRequested", []):
        charged.update(charge["mailing_ids"])
        due = sum(charge_minor.get(m, 0) for m in charge["mailing_ids"])
        if charge["amount_minor"] != due or due < MINIMUM_CHARGE_MINOR:
            failures.append(
                f"{pid}: charge {charge['charge_id']} for {charge['amount_minor']}, its"
                f" mailings cost {due}"
            )
    if any(n > 1 for n in charged.values()):
        failures.append(f"{pid}: mailings in more than one charge")
    waiting = sum(minor for m, minor in charge_minor.items() if m not in charged)
    if waiting >= MINIMUM_CHARGE_MINOR:
        failures.append(f"{pid}: {waiting} cents due but never charged")
    settled = Counter(c["charge_id"] for c in by_type.get("ChargeSucceeded", []))
    for charge in by_type.get("ChargeRequested", []):
        if settled[charge["charge_id"]] != 1:
            failures.append(
                f"{pid}: charge {charge['charge_id']} paid {settled[charge['charge_id']]} times"
            )
    if by_type.get("ChargeFailed"):
        failures.append(f"{pid}: {len(by_type['ChargeFailed'])} charges failed")
    return failures


async def run_soak(config: SoakConfig, log_dir: Path) -> Report:
    await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    # The soak's own Kafka clients complain loudly while the broker is down: into a file.
    handler = logging.FileHandler(log_dir / "soak-kafka-clients.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    kafka_logger = logging.getLogger("aiokafka")
    kafka_logger.addHandler(handler)
    kafka_logger.propagate = False
    try:
        return await Soak(config, log_dir).run()
    finally:
        kafka_logger.removeHandler(handler)
        kafka_logger.propagate = True
        handler.close()


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--short", action="store_true", help="every fault once, 1,200 mailings")
    parser.add_argument("--mailings", type=int, help="instead of the default 20,000")
    parser.add_argument("--rounds", type=int, help="times every fault kind is injected")
    parser.add_argument("--log-dir", type=Path, help="default .local/soak/<seed>-<time>")
    args = parser.parse_args(list(argv) if argv is not None else None)
    config = SoakConfig.short(args.seed) if args.short else SoakConfig(args.seed)
    if args.mailings:
        config = replace(config, mailings=args.mailings)
    if args.rounds:
        config = replace(config, rounds=args.rounds)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    log_dir = args.log_dir or REPO / ".local" / "soak" / f"seed{args.seed}-{stamp}"

    async def guarded() -> Report:
        # SIGTERM like Ctrl-C: cancel the run, so that every `finally` stops what it started.
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run_soak(config, log_dir)

    try:
        report = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("[soak] interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    except SoakError as exc:
        print(f"[soak] ERROR: {exc}", file=sys.stderr)
        return 2
    print(report.render(), flush=True)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
