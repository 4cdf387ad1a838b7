"""The whole ledger flow with real processes: pricing, ledger API, consumer and relay.

10,000 `mailing.sent` events for 20 partners, 5% of them delivered twice, plus poison messages;
then a consumer is killed with SIGKILL in the middle of its work and restarted.
"""

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from pricing.migrations import MIGRATIONS_DIR as PRICING_MIGRATIONS
from shared.codec import encode
from shared.kafka_admin import ensure_topics
from tests.e2e.conftest import Processes, wait_healthy
from tests.integration.conftest import free_port
from tests.integration.databases import fresh_migrated_database
from tests.support.clients import create_price_lists_now
from tests.support.messages import mailing_sent
from tests.support.price_lists import CREDIT_PRICE_LIST, MAILING_PRICE_LIST, credits_for
from tests.support.settings import KAFKA, system_env

OPS = "e2e-ops-token-0123"
PRICING_ADMIN = "e2e-pricing-admin-token"
GRANT = 100_000
THRESHOLD = 20_000
AUTO_CHUNK = 50_000
MINIMUM_CHARGE_MINOR = 50


class System(Processes):
    """The processes of one ledger: its API's URL and its topics' prefix."""

    def __init__(self, env: dict[str, str], log_dir: Path, ledger_url: str, prefix: str) -> None:
        super().__init__(env, log_dir)
        self.ledger_url = ledger_url
        self.prefix = prefix

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.ledger_url, headers={"Authorization": f"Bearer {OPS}"}, timeout=30
        )


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    """Pricing and the ledger API running; consumer and relay are started by each test."""
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    pricing_db = asyncio.run(fresh_migrated_database("pricing_e2e", PRICING_MIGRATIONS))
    ledger_db = asyncio.run(fresh_migrated_database("ledger_e2e", LEDGER_MIGRATIONS))
    asyncio.run(ensure_topics(KAFKA, prefix=prefix))
    pricing_port, ledger_port = free_port(), free_port()
    env = system_env(
        prefix=prefix,
        ops_token=OPS,
        pricing_admin_token=PRICING_ADMIN,
        pricing_db=pricing_db,
        pricing_port=pricing_port,
        ledger_db=ledger_db,
        ledger_port=ledger_port,
    )
    env["LEDGER_MINIMUM_CHARGE_MINOR"] = str(MINIMUM_CHARGE_MINOR)
    with System(env, tmp_path, f"http://127.0.0.1:{ledger_port}", prefix) as running:
        pricing = running.start("pricing", "pricing", "serve")
        pricing_url = f"http://127.0.0.1:{pricing_port}"
        wait_healthy(pricing_url, pricing)
        create_price_lists_now(pricing_url, PRICING_ADMIN)
        ledger = running.start("ledger-api", "ledger", "serve")
        wait_healthy(running.ledger_url, ledger)
        yield running


@dataclass
class PartnerPlan:
    partner_id: str
    kind: str  # "reminder", "auto_purchase" or "on_demand"

    def billing(self) -> dict[str, Any]:
        card = {"type": "card", "customer": f"cus_{self.partner_id}", "payment_method": "pm_1"}
        if self.kind == "on_demand":
            return {"billing_mode": "on_demand", "payment_method": card}
        billing: dict[str, Any] = {"billing_mode": "prepaid", "reminder_threshold": THRESHOLD}
        if self.kind == "auto_purchase":
            billing |= {"auto_purchase": {"credits": AUTO_CHUNK}, "payment_method": card}
        return billing


def register(system: System, plans: list[PartnerPlan]) -> None:
    with system.api() as api:
        for plan in plans:
            body = {
                "partner_id": plan.partner_id,
                "name": plan.partner_id,
                "credit_price_list_id": CREDIT_PRICE_LIST["id"],
                "mailing_price_list_id": MAILING_PRICE_LIST["id"],
                "billing": plan.billing(),
            }
            assert api.post("/v1/partners", json=body).status_code == 201
            for customer in ("c1", "c2", "c3"):
                added = api.post(
                    f"/v1/partners/{plan.partner_id}/customers",
                    json={"customer_id": customer, "name": customer},
                )
                assert added.status_code == 201
            if plan.kind != "on_demand":
                granted = api.post(
                    f"/v1/partners/{plan.partner_id}/credits/grants",
                    json={"credits": GRANT, "reason": "starting balance"},
                )
                assert granted.status_code == 201


@dataclass
class Traffic:
    """What was published, and what the ledger must make of it."""

    messages: list[tuple[str, bytes]]  # (key, value) in publishing order
    recipients: dict[str, list[int]]  # per partner, unique mailings in order
    poison: list[bytes]


def make_traffic(plans: list[PartnerPlan], events: int, seed: int) -> Traffic:
    rng = random.Random(seed)
    messages: list[tuple[str, bytes]] = []
    recipients: dict[str, list[int]] = {p.partner_id: [] for p in plans}
    sent: list[tuple[str, bytes]] = []
    for _ in range(events):
        plan = rng.choice(plans)
        count = rng.randint(0, 400)
        value = encode(mailing_sent(plan.partner_id, rng.choice(["c1", "c2", "c3"]), count))
        recipients[plan.partner_id].append(count)
        messages.append((plan.partner_id, value))
        sent.append((plan.partner_id, value))
        if rng.random() < 0.05:  # a redelivery of something already sent
            messages.append(rng.choice(sent))
    some = plans[0].partner_id
    poison = [b"{oops" + str(n).encode() for n in range(10)]
    poison += [
        encode(mailing_sent(some, "c1", 5)).replace(b'"recipients":5', b'"recipients":"five"')
        for _ in range(10)
    ]
    poison += [encode(mailing_sent(f"ghost-{n}", "c1", 5)) for n in range(10)]
    poison += [encode(mailing_sent(some, "nobody", 5)) for _ in range(10)]
    for value in poison:
        messages.insert(rng.randrange(len(messages)), (some, value))
    return Traffic(messages, recipients, poison)


async def publish(prefix: str, messages: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        pending = [
            await producer.send(prefix + "mailing.sent", value=value, key=key.encode())
            for key, value in messages
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def read_all(topic: str, expected: int, timeout: float = 60.0) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(found) < expected and loop.time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                found += batch
        # A little longer: more than expected must show up as a failure, not be missed.
        for batch in (await consumer.getmany(timeout_ms=1500)).values():
            found += batch
    finally:
        await consumer.stop()
    return found


def wait_until_settled(system: System, expected_debits: int, timeout: float = 120.0) -> None:
    """Until the ledger holds as many debits as unique mailings were sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in system.processes:
            assert process.process is not None
            if process.process.returncode is None and process.process.poll() is not None:
                raise AssertionError(f"{process.name} died:\n{process.log_tail()}")
        if _debit_count(system) >= expected_debits:
            return
        time.sleep(0.5)
    raise AssertionError(f"not settled: {_debit_count(system)} of {expected_debits} debits")


def _debit_count(system: System) -> int:
    async def count() -> int:
        url = system.env["LEDGER_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")
        connection = await asyncpg.connect(url)
        try:
            value: int = await connection.fetchval(
                "SELECT count(*) FROM events WHERE type = 'MailingDebited'"
            )
            return value
        finally:
            await connection.close()

    return asyncio.run(count())


def history(api: httpx.Client, partner_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = api.get(f"/v1/partners/{partner_id}/events", params={"after": after, "limit": 1000})
        body = page.json()
        events += body["events"]
        if body["next_after"] is None:
            return events
        after = body["next_after"]


def downward_crossings(start: int, debits: list[int], threshold: int) -> int:
    crossings, balance = 0, start
    for credits in debits:
        if balance >= threshold > balance - credits:
            crossings += 1
        balance -= credits
    return crossings


def test_ten_thousand_mailings_for_twenty_partners(system: System) -> None:
    kinds = ["reminder"] * 8 + ["auto_purchase"] * 6 + ["on_demand"] * 6
    plans = [PartnerPlan(f"{system.prefix}p{n:02d}", kind) for n, kind in enumerate(kinds)]
    register(system, plans)
    traffic = make_traffic(plans, 10_000, seed=7)
    asyncio.run(publish(system.prefix, traffic.messages))
    system.start("consumer", "ledger", "consume")
    system.start("relay", "ledger", "relay")
    unique_mailings = sum(len(r) for r in traffic.recipients.values())
    wait_until_settled(system, unique_mailings)

    expected_reminders = 0
    expected_charges: Counter[str] = Counter()
    with system.api() as api:
        for plan in plans:
            debits = [credits_for(r) for r in traffic.recipients[plan.partner_id]]
            events = history(api, plan.partner_id)
            types = Counter(e["type"] for e in events)
            balance = api.get(f"/v1/partners/{plan.partner_id}/balance").json()
            assert types["MailingDebited"] == len(debits)
            if plan.kind == "on_demand":
                assert balance["balance"] == 0
                charges = [e["payload"] for e in events if e["type"] == "ChargeRequested"]
                waiting = 0
                expected_amounts = []
                for credits in debits:  # 1 credit = EUR 0.01 in the first tier
                    waiting += credits
                    if waiting >= MINIMUM_CHARGE_MINOR:
                        expected_amounts.append(waiting)
                        waiting = 0
                assert [c["amount_minor"] for c in charges] == expected_amounts
                expected_charges[plan.partner_id] = len(expected_amounts)
                continue
            assert balance["balance"] == GRANT - sum(debits), plan.partner_id
            crossings = downward_crossings(GRANT, debits, THRESHOLD)
            assert types["LowBalanceReached"] == crossings, plan.partner_id
            expected_reminders += crossings
            if plan.kind == "auto_purchase":
                # Requested once, right after the first debit that used the balance up; no
                # payment worker runs here, so it stays in flight and is not asked again.
                used_up = next(i for i in range(len(debits)) if GRANT - sum(debits[: i + 1]) <= 0)
                assert types["PurchaseRequested"] == 1
                order = [
                    e["type"]
                    for e in events
                    if e["type"] in {"MailingDebited", "PurchaseRequested"}
                ]
                assert order.index("PurchaseRequested") == used_up + 1
            else:
                assert types["PurchaseRequested"] == 0

    dead = asyncio.run(read_all(system.prefix + "mailing.sent.dlq", len(traffic.poison)))
    assert sorted(m.value for m in dead) == sorted(traffic.poison)
    assert all(dict(m.headers)["dlq.reason"] for m in dead)
    notices = asyncio.run(read_all(system.prefix + "ledger.notifications", expected_reminders))
    assert len(notices) == expected_reminders
    requests = asyncio.run(
        read_all(system.prefix + "ledger.payment-requests", 6 + sum(expected_charges.values()))
    )
    kinds_out = Counter(orjson.loads(m.value)["type"] for m in requests)
    assert kinds_out == {
        "ledger.purchase_requested": 6,
        "ledger.charge_requested": sum(expected_charges.values()),
    }


def test_a_consumer_killed_mid_batch_loses_and_doubles_nothing(system: System) -> None:
    plans = [PartnerPlan(f"{system.prefix}k{n}", "reminder") for n in range(5)]
    register(system, plans)
    traffic = make_traffic(plans, 6_000, seed=11)
    asyncio.run(publish(system.prefix, traffic.messages))
    unique_mailings = sum(len(r) for r in traffic.recipients.values())

    # Batches far smaller than the default, so the 6,000 mailings take many commits and the
    # kill lands between them, whatever the lanes do meanwhile.
    consumer = system.start(
        "consumer", "ledger", "consume", env={"LEDGER_CONSUMER_BATCH_SIZE": "300"}
    )
    deadline = time.monotonic() + 60
    while _debit_count(system) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    consumer.kill()
    killed_at = _debit_count(system)
    assert 0 < killed_at < unique_mailings, "the kill must land in the middle of the work"

    system.start("consumer-again", "ledger", "consume")
    wait_until_settled(system, unique_mailings)
    with system.api() as api:
        for plan in plans:
            debits = [credits_for(r) for r in traffic.recipients[plan.partner_id]]
            balance = api.get(f"/v1/partners/{plan.partner_id}/balance").json()
            assert balance["balance"] == GRANT - sum(debits)
    assert _debit_count(system) == unique_mailings


def test_two_consumers_share_the_partitions_and_survive_losing_one(system: System) -> None:
    plans = [PartnerPlan(f"{system.prefix}s{n}", "reminder") for n in range(8)]
    register(system, plans)
    traffic = make_traffic(plans, 6_000, seed=5)
    asyncio.run(publish(system.prefix, traffic.messages))
    unique_mailings = sum(len(r) for r in traffic.recipients.values())

    first = system.start("consumer-1", "ledger", "consume")
    system.start("consumer-2", "ledger", "consume")
    deadline = time.monotonic() + 60
    while _debit_count(system) < unique_mailings // 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.kill()  # its partitions move to the other consumer of the group
    wait_until_settled(system, unique_mailings)

    with system.api() as api:
        for plan in plans:
            debits = [credits_for(r) for r in traffic.recipients[plan.partner_id]]
            balance = api.get(f"/v1/partners/{plan.partner_id}/balance").json()
            assert balance["balance"] == GRANT - sum(debits)
    assert _debit_count(system) == unique_mailings
