"""Wait until a Kafka broker really accepts work.

Used by deploy/local/stack.sh after starting the broker; run with the project's venv:

    .venv/bin/python deploy/local/wait_kafka.py --bootstrap 127.0.0.1:9092 --timeout 90 [--pid N]

"Ready" means two things, checked in this order, retried until the deadline:
  1. a metadata request succeeds and lists at least one broker (the KRaft broker has registered
     with its controller and opened its client listener);
  2. a FindCoordinator request for a probe group succeeds. The first such request makes the
     broker create __consumer_offsets; answering it means consumer groups can commit offsets,
     so the first test that uses a group does not pay for that (or time out on it).

Exits 0 when ready; 1 with a message on stderr on timeout, or as soon as the broker process
given with --pid is gone (no point waiting 90 s for a JVM that crashed at start).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient

PROBE_GROUP = "mailbill-stack-readiness-probe"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed child that nobody reaped is a zombie: kill(0) succeeds but it will never serve.
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


async def _probe(bootstrap: str, attempt_timeout: float) -> str:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="mailbill-wait-kafka",
        request_timeout_ms=int(attempt_timeout * 1000),
    )
    try:
        await asyncio.wait_for(admin.start(), attempt_timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), attempt_timeout)
        brokers = cluster.get("brokers") or []
        if not brokers:
            raise RuntimeError("metadata lists no broker yet")
        coordinator = await asyncio.wait_for(admin.find_coordinator(PROBE_GROUP), attempt_timeout)
        return (
            f"{len(brokers)} broker(s), cluster {cluster.get('cluster_id')}, "
            f"group coordinator {coordinator}"
        )
    finally:
        # Closing a half-started client may fail; that says nothing about the broker.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(admin.close(), attempt_timeout)


async def wait(bootstrap: str, limit_s: float, pid: int | None, quiet: bool) -> int:
    deadline = time.monotonic() + limit_s
    last_error = "no attempt made"
    attempt = 0
    while True:
        attempt += 1
        if pid is not None and not _process_alive(pid):
            print(f"wait_kafka: broker process {pid} exited before becoming ready", file=sys.stderr)
            return 1
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            summary = await _probe(bootstrap, attempt_timeout=min(10.0, max(1.0, remaining)))
        except Exception as exc:  # any failure means "not ready yet"
            last_error = f"{type(exc).__name__}: {exc}".strip()
        else:
            if not quiet:
                print(f"wait_kafka: {bootstrap} ready after {attempt} attempt(s): {summary}")
            return 0
        await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    print(
        f"wait_kafka: Kafka at {bootstrap} not ready after {limit_s:.0f}s "
        f"({attempt} attempts); last error: {last_error}",
        file=sys.stderr,
    )
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="host:port of the broker (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)",
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds (default 90)")
    parser.add_argument("--pid", type=int, default=None, help="give up early if this pid dies")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    # aiokafka logs every refused connection at ERROR while the broker is still starting.
    logging.basicConfig(level=logging.CRITICAL)
    return asyncio.run(wait(args.bootstrap, args.timeout, args.pid, args.quiet))


if __name__ == "__main__":
    sys.exit(main())
