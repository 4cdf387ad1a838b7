"""Long-running loops: stop cleanly on SIGINT/SIGTERM, and pause without missing a stop."""

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

import uvloop


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)`; SIGINT/SIGTERM set `stop`, so loops finish their batch and return."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    # uvloop: its transports and loop run in C, and asyncpg is built for it; a worker spends a
    # good share of each batch writing statements to PostgreSQL's socket.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop_runner:
        loop_runner.run(runner())


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def wait_for_work(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Return when `wake` is set (new work was recorded), `stop` is set, or after `seconds`."""
    waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(sleep_or_stop(stop, seconds))]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
