"""The workers' runtime: their loop is uvloop's, and a SIGTERM lets the loop finish."""

import asyncio
import os
import signal

import uvloop

from shared.messaging.runtime import run_until_signal


def test_a_worker_runs_on_uvloop_and_stops_on_sigterm() -> None:
    seen: list[type[asyncio.AbstractEventLoop]] = []

    async def worker(stop: asyncio.Event) -> None:
        seen.append(type(asyncio.get_running_loop()))
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), timeout=5)

    run_until_signal(worker)

    assert seen == [uvloop.Loop]
