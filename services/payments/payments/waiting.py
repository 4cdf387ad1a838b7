"""Pauses of the long-running loops that end early when there is something to do or stop."""

import asyncio
import contextlib


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
