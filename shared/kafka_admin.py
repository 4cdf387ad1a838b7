"""Create the system's Kafka topics (idempotent): `python -m shared.kafka_admin ensure-topics`."""

import asyncio

import typer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic_settings import BaseSettings

from shared.topics import ALL_TOPICS, Topic

cli = typer.Typer(help="Kafka administration for the local stack and the tests.")


class KafkaAdminSettings(BaseSettings):
    """Where the broker is, for topic administration (`KAFKA_BOOTSTRAP_SERVERS`)."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = ""


async def ensure_topics(
    bootstrap_servers: str,
    topics: tuple[Topic, ...] = ALL_TOPICS,
    replication: int = 1,
    prefix: str = "",
) -> list[str]:
    """Create the topics (named `prefix` + name) that do not exist yet; returns those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if prefix + t.name not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(prefix + t.name, t.partitions, replication) for t in missing]
            )
        return [prefix + t.name for t in missing]
    finally:
        await admin.close()


async def delete_topics(bootstrap_servers: str, names: list[str]) -> None:
    """Delete these topics (those that exist): a benchmark's or a test's own, when it ends. A
    broker loads every partition it holds when it starts, so left-over topics make every later
    restart slower."""
    if not names:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        gone = [name for name in names if name in existing]
        if gone:
            await admin.delete_topics(gone)
    finally:
        await admin.close()


async def partitions_of(bootstrap_servers: str, topic: str) -> list[int]:
    """The partition numbers of a topic (empty when it does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for p in description.get("partitions", []))


@cli.command("ensure-topics")
def ensure_topics_command() -> None:
    """Create every topic of `shared.topics` that is missing."""
    settings = KafkaAdminSettings()
    created = asyncio.run(
        ensure_topics(settings.kafka_bootstrap_servers, prefix=settings.kafka_topic_prefix)
    )
    print(f"topics created: {', '.join(created)}" if created else "topics: all present")


@cli.command("list")
def list_command() -> None:
    """List the topics and what they carry."""
    for topic in ALL_TOPICS:
        print(f"{topic.name:28} {', '.join(topic.message_types) or '(dead letters)'}")


if __name__ == "__main__":
    cli()
