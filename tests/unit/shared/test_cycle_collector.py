"""The consumer's cycle collector: off between its clock's ticks, a full collection when due,
and the collector as it was once the consumer stops."""

import gc
import weakref
from collections.abc import Iterator

import pytest

from shared.messaging.consumer import CycleCollector


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


@pytest.fixture
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


@pytest.mark.usefixtures("collector_on")
def test_collections_wait_for_the_clock_and_the_collector_comes_back_on_stop() -> None:
    clock = Clock()
    collector = CycleCollector(clock, every_seconds=10)
    collector.start()
    assert not gc.isenabled()
    before = full_collections()
    clock.now += 9.9
    collector.collect_when_due()
    assert full_collections() == before
    clock.now += 0.1
    collector.collect_when_due()
    assert full_collections() == before + 1
    clock.now += 5
    collector.collect_when_due()  # the next is due ten seconds after the last one
    assert full_collections() == before + 1
    collector.stop()
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_a_cycle_made_while_it_runs_is_freed_when_the_collection_is_due() -> None:
    clock = Clock()
    collector = CycleCollector(clock, every_seconds=10)
    collector.start()

    class Node:
        partner: "Node | None" = None

    freed: list[str] = []
    a, b = Node(), Node()
    a.partner, b.partner = b, a
    weakref.finalize(a, freed.append, "a")
    del a, b
    collector.collect_when_due()
    assert freed == []  # not due yet, and reference counts alone cannot free a cycle
    clock.now += 10
    collector.collect_when_due()
    assert freed == ["a"]
    collector.stop()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        collector = CycleCollector(Clock())
        collector.start()
        collector.stop()
        assert not gc.isenabled()
    finally:
        gc.enable()
