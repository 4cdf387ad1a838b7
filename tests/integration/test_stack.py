"""The local stack (deploy/local/stack.sh) gives a real Kafka that does what the ledger relies on.

Assumes the stack is up (`make up` / `bash deploy/local/stack.sh up`). Broker address from
KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092), state dir from MAILBILL_STATE_DIR (default
<repo>/.local).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("MAILBILL_STATE_DIR", REPO / ".local"))
STEP_TIMEOUT = 15.0  # seconds for any single step; the whole test takes ~1-2 s when healthy


async def _start(client: AIOKafkaAdminClient | AIOKafkaProducer | AIOKafkaConsumer) -> None:
    try:
        await asyncio.wait_for(client.start(), STEP_TIMEOUT)
    except Exception as exc:
        pytest.fail(
            f"cannot reach Kafka at {BOOTSTRAP} ({type(exc).__name__}: {exc}); "
            "is the local stack up? run: bash deploy/local/stack.sh up"
        )


async def _consume(consumer: AIOKafkaConsumer, count: int) -> list[tuple[int, bytes]]:
    """(offset, value) of exactly `count` records, in order; fails after STEP_TIMEOUT."""
    got: list[tuple[int, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT
    while len(got) < count:
        if loop.time() > deadline:
            pytest.fail(f"received {len(got)} of {count} records within {STEP_TIMEOUT}s: {got}")
        batches = await consumer.getmany(timeout_ms=500, max_records=count - len(got))
        for records in batches.values():
            got.extend((r.offset, r.value) for r in records)
    return got


@pytest.mark.asyncio
async def test_group_consumer_resumes_after_committed_offset() -> None:
    run = uuid.uuid4().hex[:12]
    topic = f"test-stack-{run}"
    group = f"test-stack-group-{run}"
    tp = TopicPartition(topic, 0)

    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=10_000)
    await _start(admin)
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True)
    consumers: list[AIOKafkaConsumer] = []

    def new_consumer() -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=BOOTSTRAP,
            group_id=group,
            enable_auto_commit=False,
            # "earliest": if the commit were lost, the second consumer would re-read
            # everything from offset 0 and the assertions below would say so.
            auto_offset_reset="earliest",
        )
        consumers.append(consumer)
        return consumer

    try:
        # One partition, so offsets and order are those of the single log.
        await asyncio.wait_for(
            admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]),
            STEP_TIMEOUT,
        )
        await _start(producer)

        before = [f"before-{i}".encode() for i in range(5)]
        for value in before:
            await asyncio.wait_for(producer.send_and_wait(topic, value, key=b"k"), STEP_TIMEOUT)

        first = new_consumer()
        await _start(first)
        got = await _consume(first, len(before))
        assert got == list(enumerate(before))
        await asyncio.wait_for(first.commit(), STEP_TIMEOUT)
        assert await first.committed(tp) == len(before)
        await first.stop()  # leaves the group, so the next member is assigned at once

        after = [f"after-{i}".encode() for i in range(3)]
        for value in after:
            await asyncio.wait_for(producer.send_and_wait(topic, value, key=b"k"), STEP_TIMEOUT)

        second = new_consumer()
        await _start(second)
        got = await _consume(second, len(after))
        assert got == [(len(before) + i, v) for i, v in enumerate(after)]
        # Nothing else is pending for the group (no replay of the committed records).
        extra = await second.getmany(timeout_ms=300)
        assert not any(extra.values()), extra
    finally:
        for consumer in consumers:
            await consumer.stop()
        await producer.stop()
        try:
            await asyncio.wait_for(admin.delete_topics([topic]), STEP_TIMEOUT)
        finally:
            await admin.close()


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _broker_pids() -> list[int]:
    """Pid from the stack's pid file if it names a live process, else every kafka.Kafka JVM."""
    pid_file = STATE_DIR / "kafka.pid"
    if pid_file.is_file():
        pid = int(pid_file.read_text().strip())
        if Path(f"/proc/{pid}").exists():
            return [pid]
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if "kafka.Kafka" in _cmdline(int(entry.name)):
                    pids.append(int(entry.name))
            except OSError:  # the process exited meanwhile, or is not ours to read
                continue
    return pids


def test_broker_is_a_kafka_jvm() -> None:
    pids = _broker_pids()
    assert pids, f"no kafka.Kafka process found (pid file {STATE_DIR / 'kafka.pid'}, /proc)"
    port = BOOTSTRAP.rsplit(":", 1)[1]
    serving = []
    for pid in pids:
        args = _cmdline(pid)
        assert Path(args[0]).name == "java", args
        assert Path(os.readlink(f"/proc/{pid}/exe")).name == "java"
        main_at = args.index("kafka.Kafka")  # the main class, not just some argument
        assert "-cp" in args[:main_at] or "-classpath" in args[:main_at], args
        config = Path(args[main_at + 1])
        listeners = [
            line for line in config.read_text().splitlines() if line.startswith("listeners=")
        ]
        if any(f":{port}," in line or line.endswith(f":{port}") for line in listeners):
            serving.append(pid)
    assert serving, f"none of the kafka.Kafka JVMs {pids} is configured to listen on {BOOTSTRAP}"
