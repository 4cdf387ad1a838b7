"""Pricing benchmark (`make bench-pricing`): prints each figure with its target and PASS/MISS.

1. In-process evaluations/s of every price model with 10 tiers (target: graduated >= 200,000).
2. ``POST /v1/evaluate`` requests/s through a real uvicorn server beside a trivial FastAPI
   endpoint (``GET /bench/ping``) on the same server, measured in the same run, interleaved
   (target: evaluate >= 60% of ping).
3. Batch quotes: items/s of ``quote_batch`` in-process (on a real database session) and of
   ``POST /v1/quotes/batch`` over HTTP (target: >= 100,000 items/s in-process).

The server runs in a subprocess (this file with ``serve``), so client and server do not share
a CPU. The HTTP load comes from a few keep-alive connections speaking raw HTTP/1.1: an httpx
client spends more CPU per request than the server does, so it would measure itself. The
batch over HTTP uses httpx (10,000 items per request amortise the client). The bench creates
its own database, ``pricing_bench_<pid>``, on the local PostgreSQL (``make up``).

The figures (with request latencies p50/p99/max) go to ``bench/results/pricing-<date>.json``
and the charts to ``.png`` beside it (``bench/report.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is bench/pricing.py: its directory, first on sys.path, would shadow the pricing
# package. The repository root takes its place (for tests.integration.databases).
_HERE = Path(__file__).resolve()
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE.parent]
sys.path.insert(0, str(_HERE.parents[1]))

import asyncio
import gc
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

import asyncpg
import httpx
import orjson
import uvicorn

from bench.report import BarChart, latency_chart, throughput_chart, write_results
from pricing.api.app import create_app
from pricing.bootstrap import PricingContainer, bootstrap
from pricing.domain import PriceModel, evaluate, parse_price_model
from pricing.migrations import MIGRATIONS_DIR
from pricing.settings import PricingSettings
from tests.integration.databases import database_url, fresh_migrated_database
from tests.support.price_lists import (
    CREDIT_PRICE_LIST,
    MAILING_PRICE_LIST,
    NEW_MAILING_CREDITS_VERSION,
    price_minor,
)

# One database per run, dropped at the end: two runs at once must not drop each other's.
DATABASE = f"pricing_bench_{os.getpid()}"
TARGET_GRADUATED = 200_000
TARGET_EVALUATE_RATIO = 0.60
TARGET_BATCH = 100_000
BATCH_ITEMS = 10_000

# --- 1. the engine ------------------------------------------------------------------------


def _tiers(extra: dict[str, str]) -> list[dict[str, Any]]:
    tiers: list[dict[str, Any]] = [{"up_to": str(1000 * (i + 1)), **extra} for i in range(9)]
    return [*tiers, {"up_to": None, **extra}]


PRICES: dict[str, dict[str, Any]] = {
    "flat": {"model": "flat", "unit_price": "0.0125"},
    "volume": {"model": "volume", "tiers": _tiers({"unit_price": "0.0125", "flat_fee": "5"})},
    "graduated": {
        "model": "graduated",
        "tiers": _tiers({"unit_price": "0.0125", "flat_fee": "5"}),
    },
    "bucket": {
        "model": "bucket",
        "tiers": [
            *_tiers({"bucket_price": "12.5", "bucket_size": "250"})[:-1],
            {"up_to": None, "unit_price": "0.0125"},
        ],
    },
    "discount_volume": {
        "model": "discount",
        "base_unit_price": "0.0125",
        "mode": "volume",
        "tiers": _tiers({"discount_percent": "2.5"}),
    },
    "discount_graduated": {
        "model": "discount",
        "base_unit_price": "0.0125",
        "mode": "graduated",
        "tiers": _tiers({"discount_percent": "2.5"}),
    },
    "package": {"model": "package", "package_size": "1000", "package_price": "9"},
    "free": {"model": "free"},
}
QUANTITY = "5432.5"  # in the middle of the 10 tiers: 5 full tiers and a partial one


def _rate(run: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``run``, best of three timed slices of ``seconds / 3``."""
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            for _ in range(500):
                run()
            count += 500
        best = max(best, count / elapsed)
    return best


def bench_engine() -> list[tuple[str, float, str, bool | None]]:
    """Evaluations/s of each model; only graduated has a target."""
    quantity = Decimal(QUANTITY)
    figures: list[tuple[str, float, str, bool | None]] = []
    for name, document in PRICES.items():
        model: PriceModel = parse_price_model(document)
        rate = _rate(partial(evaluate, model, quantity, "EUR"), 1.2)
        if name == "graduated":
            figures.append((name, rate, f">= {TARGET_GRADUATED:,}", rate >= TARGET_GRADUATED))
        else:
            figures.append((name, rate, "-", None))
    return figures


# --- the server -----------------------------------------------------------------------------


def serve(port: int, database_url: str) -> None:
    """The pricing app plus the trivial ``GET /bench/ping``, on uvicorn as in production."""
    # A 10,000-item batch is about 1.1 MB, over the default body limit of 1 MiB (the ledger
    # sends at most LEDGER_CONSUMER_BATCH_SIZE = 1,000 items per request).
    app = create_app(PricingSettings(database_url=database_url, max_body_bytes=8 * 1024 * 1024))

    @app.get("/bench/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _start_server(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "serve", str(port), database_url],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(200):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return process, base
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    process.terminate()
    raise RuntimeError("the bench server did not start")


# --- 2. requests per second -----------------------------------------------------------------


def _request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _worker(
    port: int, requests: Sequence[bytes], first: int, count: int, latencies: list[float]
) -> None:
    """Send ``count`` requests one after the other on one connection, cycling ``requests``;
    each one's time from sending to its whole answer goes to ``latencies`` (seconds)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for number in range(first, first + count):
            sent = time.perf_counter()
            writer.write(requests[number % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer: {head[:80]!r}")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - sent)
    finally:
        writer.close()
        await writer.wait_closed()


async def _requests_per_second(
    port: int,
    requests: Sequence[bytes],
    total: int,
    connections: int = 4,
    latencies: list[float] | None = None,
) -> float:
    each = total // connections
    kept = [] if latencies is None else latencies
    start = time.perf_counter()
    await asyncio.gather(
        *(_worker(port, requests, n * each, each, kept) for n in range(connections))
    )
    return each * connections / (time.perf_counter() - start)


def percentiles_ms(latencies: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of latencies in seconds, in milliseconds."""
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "p50": round(cuts[49] * 1000, 3),
        "p99": round(cuts[98] * 1000, 3),
        "max": round(max(latencies) * 1000, 3),
        "n": len(latencies),
    }


def _evaluate_requests(distinct_models: int, count: int) -> list[bytes]:
    """``count`` evaluate requests of the 10-tier graduated model, quantities all different.

    ``distinct_models`` > 1 varies the last tier's unit price, so that many requests carry
    a model the server has not parsed yet (its cache holds 1,024).
    """
    requests = []
    for number in range(count):
        tiers = PRICES["graduated"]["tiers"]
        if distinct_models > 1:
            last = {**tiers[-1], "unit_price": f"0.01{number % distinct_models:06d}"}
            tiers = [*tiers[:-1], last]
        body = {
            "price": {"model": "graduated", "tiers": tiers},
            "quantity": f"{5000 + number}.5",
            "currency": "EUR",
        }
        requests.append(_request("POST", "/v1/evaluate", orjson.dumps(body)))
    return requests


@dataclass(frozen=True)
class HttpFigures:
    """Median requests/s of each kind, and each request's latency (seconds) over all rounds."""

    ping: float
    evaluate: float
    new_model: float
    latencies: dict[str, list[float]]


async def bench_http_evaluate(port: int) -> HttpFigures:
    """Median requests/s of ping, of evaluate (one model, quantities vary) and of evaluate
    with a model never seen before in each request, in interleaved rounds."""
    ping = [_request("GET", "/bench/ping")]
    same_model = _evaluate_requests(1, 2000)
    new_models = _evaluate_requests(1_000_000, 2000 * 6)
    for requests in (ping, same_model):  # warm up both paths
        await _requests_per_second(port, requests, 400)
    pings, evaluations, cold = [], [], []
    latencies: dict[str, list[float]] = {"ping": [], "evaluate": [], "new_model": []}
    for round_ in range(5):
        pings.append(await _requests_per_second(port, ping, 2000, latencies=latencies["ping"]))
        evaluations.append(
            await _requests_per_second(port, same_model, 2000, latencies=latencies["evaluate"])
        )
        cold.append(
            await _requests_per_second(
                port, new_models[round_ * 2000 :], 2000, latencies=latencies["new_model"]
            )
        )
    return HttpFigures(
        statistics.median(pings), statistics.median(evaluations), statistics.median(cold), latencies
    )


# --- 3. batch quotes ------------------------------------------------------------------------

# The canonical credit lists (tests/support), under the bench's own ids.
MAILING_LIST_ID, CREDIT_LIST_ID = "bench-mailing-credits", "bench-credit-prices"
PRICE_LISTS: list[dict[str, Any]] = [
    {**MAILING_PRICE_LIST, "id": MAILING_LIST_ID},
    {**CREDIT_PRICE_LIST, "id": CREDIT_LIST_ID},
]


def batch_items() -> list[dict[str, str]]:
    """What the ledger sends: mostly mailings, some credit prices, across a price change."""
    items = []
    for index in range(BATCH_ITEMS):
        year = 2029 if index % 2 else 2030  # half before, half after the switch
        at = f"{year}-06-{1 + index % 28:02d}T{index % 24:02d}:{index % 60:02d}:00Z"
        if index % 5 == 4:
            items.append(
                {
                    "price_list_id": CREDIT_LIST_ID,
                    "component": "credits",
                    "quantity": str(500 + index * 7),
                    "at": at,
                }
            )
        else:
            items.append(
                {
                    "price_list_id": MAILING_LIST_ID,
                    "component": "recipients",
                    "quantity": str(1 + index * 3),
                    "at": at,
                }
            )
    return items


async def _seed(container: PricingContainer) -> None:
    async with container.sessionmaker() as session, session.begin():
        service = container.service(session)
        for price_list in PRICE_LISTS:
            await service.create_price_list(price_list)
        # 1.00 credit per recipient from 2030 on
        await service.add_version(MAILING_LIST_ID, NEW_MAILING_CREDITS_VERSION)


async def bench_batch_in_process(container: PricingContainer, body: dict[str, Any]) -> float:
    """Items/s of the service call on a real session, response serialised: the best of 7
    rounds (as timeit: on a shared machine other work only ever slows a round down)."""
    rates = []
    for _ in range(8):
        start = time.perf_counter()
        async with container.sessionmaker() as session, session.begin():
            result = await container.service(session).quote_batch(body)
        orjson.dumps(result)
        rates.append(BATCH_ITEMS / (time.perf_counter() - start))
    _check(result)
    return max(rates[1:])  # the first one fills the version cache


async def bench_batch_http(base: str, body: dict[str, Any]) -> float:
    """Items/s of ``POST /v1/quotes/batch``, four requests in flight, median of 4 rounds."""
    payload = orjson.dumps(body)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def post() -> bytes:
            response = await client.post("/v1/quotes/batch", content=payload, headers=headers)
            response.raise_for_status()
            return response.content

        _check(orjson.loads(await post()))
        rates = []
        for _ in range(4):
            start = time.perf_counter()
            await asyncio.gather(post(), post(), post(), post())
            rates.append(4 * BATCH_ITEMS / (time.perf_counter() - start))
    return statistics.median(rates)


def _check(result: dict[str, Any]) -> None:
    """The answers are right, not just fast: spot checks against hand-computed prices."""
    items = result["items"]
    assert len(items) == BATCH_ITEMS, len(items)
    assert items[0].get("amount_minor") == 1, items[0]  # 1 recipient x 1.00 (2030: version 2)
    assert (items[1]["price_list_version"], items[1]["amount"]) == (1, "4"), items[1]  # 4 x 1.05
    # 528 credits x 0.01 EUR (the first tier), the oracle from the canonical tiers
    assert (items[4]["amount"], items[4]["amount_minor"]) == ("5.28", price_minor(528)), items[4]
    assert not any("error" in item for item in items)


# --- report -------------------------------------------------------------------------------


def _line(label: str, value: str, target: str, passed: bool | None) -> None:
    verdict = "" if passed is None else ("PASS" if passed else "MISS")
    print(f"  {label:44s} {value:>16s}   target {target:>14s}   {verdict}", flush=True)


async def main() -> None:
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    print("pricing benchmark")
    print("1. engine, in-process, 10 tiers, q = 5432.5 (evaluations/s)")
    for name, rate, target, passed in bench_engine():
        _line(name, f"{rate:,.0f}", target, passed)
        figures[f"engine_{name}_per_s"] = round(rate)

    url = await fresh_migrated_database(DATABASE, MIGRATIONS_DIR)
    try:
        await _run_on(url, figures)
    finally:
        admin = await asyncpg.connect(database_url("postgres", "postgresql"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        finally:
            await admin.close()
    figures["seconds"] = round(time.perf_counter() - started, 1)
    figures["targets"] = {
        "engine_graduated_per_s": TARGET_GRADUATED,
        "evaluate_vs_ping": TARGET_EVALUATE_RATIO,
        "batch_in_process_items_per_s": TARGET_BATCH,
    }
    paths = write_results("pricing", figures, charts(figures))
    print(f"  results: {paths.json}")
    print(f"  chart:   {paths.png}")
    print(f"done in {figures['seconds']:.0f} s")


async def _run_on(database_url: str, figures: dict[str, Any]) -> None:
    container = bootstrap(PricingSettings(database_url=database_url))
    await _seed(container)
    process, base = await _start_server(database_url)
    try:
        port = int(base.rsplit(":", 1)[1])
        print("2. HTTP through uvicorn, 4 keep-alive connections (requests/s, median of 5)")
        http = await bench_http_evaluate(port)
        ratio, cold_ratio = http.evaluate / http.ping, http.new_model / http.ping
        target = f">= {TARGET_EVALUATE_RATIO:.0%}"
        _line("GET /bench/ping (trivial FastAPI endpoint)", f"{http.ping:,.0f}", "-", None)
        _line("POST /v1/evaluate (graduated, 10 tiers)", f"{http.evaluate:,.0f}", "-", None)
        _line("evaluate / ping", f"{ratio:.0%}", target, ratio >= TARGET_EVALUATE_RATIO)
        _line("POST /v1/evaluate, a new model each time", f"{http.new_model:,.0f}", "-", None)
        _line("new-model evaluate / ping", f"{cold_ratio:.0%}", "-", None)
        latency = {name: percentiles_ms(values) for name, values in http.latencies.items()}
        for name, cut in latency.items():
            _line(
                f"{name} latency p50 / p99 / max (ms)",
                f"{cut['p50']:.2f} / {cut['p99']:.2f} / {cut['max']:.1f}",
                "-",
                None,
            )
        figures.update(
            http_ping_per_s=round(http.ping),
            http_evaluate_per_s=round(http.evaluate),
            http_evaluate_new_model_per_s=round(http.new_model),
            evaluate_vs_ping=round(ratio, 3),
            new_model_vs_ping=round(cold_ratio, 3),
            http_latency_ms=latency,
        )

        print(f"3. batch quotes, {BATCH_ITEMS:,} items per batch (items/s)")
        body = {"items": batch_items()}
        gc.freeze()  # as the server does at startup: the bench's own heap is not the subject
        in_process = await bench_batch_in_process(container, body)
        passed = in_process >= TARGET_BATCH
        _line("quote_batch, in-process", f"{in_process:,.0f}", f">= {TARGET_BATCH:,}", passed)
        over_http = await bench_batch_http(base, body)
        _line("POST /v1/quotes/batch over HTTP", f"{over_http:,.0f}", "-", None)
        figures.update(
            batch_in_process_items_per_s=round(in_process),
            batch_http_items_per_s=round(over_http),
        )
    finally:
        process.terminate()
        process.wait(10)
        await container.close()


def charts(figures: dict[str, Any]) -> list[BarChart]:
    """Evaluations/s of each model; requests/s beside the trivial endpoint (the raw limit of
    the same server); batch items/s; request latencies."""
    models = {name: figures.get(f"engine_{name}_per_s") for name in PRICES}
    ping = figures.get("http_ping_per_s")
    result = [
        throughput_chart(
            "Engine, in-process, 10 tiers",
            "evaluations/s",
            models,
            targets={f"graduated target {TARGET_GRADUATED:,}": TARGET_GRADUATED},
        ),
        throughput_chart(
            "HTTP, 4 keep-alive connections, beside a trivial endpoint on the same server",
            "requests/s",
            {
                "POST /v1/evaluate": figures.get("http_evaluate_per_s"),
                "evaluate, new model": figures.get("http_evaluate_new_model_per_s"),
            },
            limits={"GET /bench/ping": ping},
            targets={f"{TARGET_EVALUATE_RATIO:.0%} of ping": TARGET_EVALUATE_RATIO * ping}
            if ping
            else None,
        ),
        throughput_chart(
            f"Batch quotes, {BATCH_ITEMS:,} items per batch",
            "items/s",
            {
                "in-process": figures.get("batch_in_process_items_per_s"),
                "over HTTP": figures.get("batch_http_items_per_s"),
            },
            targets={f"target {TARGET_BATCH:,}": TARGET_BATCH},
        ),
    ]
    if figures.get("http_latency_ms"):
        result.append(
            latency_chart("HTTP request latency, 4 connections", figures["http_latency_ms"])
        )
    return result


def _cli(argv: Sequence[str]) -> None:
    if len(argv) == 3 and argv[0] == "serve":
        serve(int(argv[1]), argv[2])
    else:
        asyncio.run(main())


if __name__ == "__main__":
    _cli(sys.argv[1:])
