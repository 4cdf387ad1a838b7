"""What a worker process shows the outside: `/metrics` (Prometheus text) and `/healthz`.

Each loop of a worker (a consumer, a relay) keeps a `BatchWatch`: when its current batch began
(running or being retried) and when it last finished one. `/healthz` answers 503 once a batch
has been open longer than the limit: a worker stuck on one batch looks alive from outside
(its process runs, its Kafka session is kept) while nothing moves.

The server is a few lines on asyncio's own streams, in the worker's event loop: it reads the
watches directly, and adds no framework with signal handlers of its own to the worker.
"""

import asyncio
import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.messaging.outbox import Outbox
from shared.messaging.runtime import sleep_or_stop

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class BatchWatch:
    """How one loop's batches are going. `loop` names it in metrics, e.g. `ledger.mailing.sent`.

    A consumer may apply batches in several lanes at once (`run_consumer`): each lane's open
    batch is kept, and the oldest decides how long "the" batch has been open.
    """

    loop: str
    kind: str = "consumer"  # or "relay"
    finished: float = field(default_factory=time.monotonic)  # last batch done (or nothing to do)
    _open: dict[int, float] = field(default_factory=dict)  # lane -> monotonic time it began

    @property
    def started(self) -> float | None:
        """When the oldest open batch began; None when none is open."""
        return min(self._open.values(), default=None)

    def begin(self, lane: int = 0) -> None:
        self._open.setdefault(lane, time.monotonic())

    def done(self, lane: int = 0) -> None:
        self._open.pop(lane, None)
        self.finished = time.monotonic()

    def caught_up(self) -> None:
        """Nothing new to read: up to date, unless a batch is still open."""
        if not self._open:
            self.finished = time.monotonic()

    def open_for(self, now: float) -> float:
        """Seconds the oldest open batch has been running or retried; 0 when none is open."""
        started = self.started
        return 0.0 if started is None else now - started


_WATCHES: dict[int, BatchWatch] = {}


@contextlib.contextmanager
def watching(*watches: BatchWatch) -> Iterator[None]:
    """Report the watches in `/metrics` while the loops run."""
    for watch in watches:
        _WATCHES[id(watch)] = watch
    try:
        yield
    finally:
        for watch in watches:
            _WATCHES.pop(id(watch), None)


class _WatchCollector(Collector):
    """Ages are read at scrape time, so they grow while a loop is stuck."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        now = time.monotonic()
        since = GaugeMetricFamily(
            "consumer_seconds_since_last_commit",
            "Seconds since the consumer last committed a batch (or found nothing to read)",
            labels=["loop"],
        )
        open_for = GaugeMetricFamily(
            "worker_batch_open_seconds",
            "Seconds the current batch has been running or retried (0: none open)",
            labels=["loop", "kind"],
        )
        for watch in list(_WATCHES.values()):
            if watch.kind == "consumer":
                since.add_metric([watch.loop], now - watch.finished)
            open_for.add_metric([watch.loop, watch.kind], watch.open_for(now))
        yield since
        yield open_for


REGISTRY.register(_WatchCollector())

OUTBOX_AGE = Gauge(
    "outbox_oldest_unpublished_age_seconds",
    "Age of the oldest outbox message not yet published (0: none waiting)",
)


async def track_outbox_age(engine: AsyncEngine, stop: asyncio.Event, every_seconds: float) -> None:
    """Keep `outbox_oldest_unpublished_age_seconds` current until `stop`."""
    while not stop.is_set():
        try:
            async with engine.connect() as connection:
                OUTBOX_AGE.set(await Outbox(connection).oldest_unpublished_age_seconds())
        except Exception as exc:
            log.warning("outbox age not measured", error=str(exc))
        await sleep_or_stop(stop, every_seconds)


@dataclass
class WorkerHealth:
    """The process's loops; unhealthy when one has had a batch open too long."""

    watches: list[BatchWatch]
    stuck_after_seconds: float

    def problems(self) -> list[str]:
        now = time.monotonic()
        return [
            f"{w.kind} {w.loop}: batch open for {w.open_for(now):.0f} s"
            for w in self.watches
            if w.open_for(now) > self.stuck_after_seconds
        ]


async def _answer(
    health: WorkerHealth, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        request_line = await asyncio.wait_for(reader.readline(), timeout=5)
        while (await asyncio.wait_for(reader.readline(), timeout=5)).strip():
            pass  # headers: nothing in them matters here
        parts = request_line.decode("latin-1").split()
        path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
        if path == "/metrics":
            status, content_type, body = "200 OK", CONTENT_TYPE_LATEST, generate_latest()
        elif path == "/healthz":
            problems = health.problems()
            status = "503 Service Unavailable" if problems else "200 OK"
            content_type = "application/json"
            body = orjson.dumps(
                {"status": "stuck", "problems": problems} if problems else {"status": "ok"}
            )
        else:
            status, content_type, body = "404 Not Found", "text/plain", b"not found\n"
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve_worker_status(
    health: WorkerHealth, host: str, port: int, stop: asyncio.Event
) -> None:
    """Serve `/metrics` and `/healthz` on host:port until `stop`; port 0 serves nothing."""
    if port == 0:
        return
    server = await asyncio.start_server(
        lambda reader, writer: _answer(health, reader, writer), host, port
    )
    log.info("worker status served", host=host, port=port)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
