"""A consumer's watch with several lanes: `/healthz` must see a stuck lane even while another
lane keeps finishing batches."""

import time

from shared.messaging.health import BatchWatch, WorkerHealth


def test_the_oldest_open_lane_decides_how_long_the_batch_is_open() -> None:
    watch = BatchWatch("ledger.mailing.sent")
    watch.begin(0)
    first = watch.started
    assert first is not None
    watch.begin(1)
    watch.done(1)  # lane 1 finishes batch after batch ...
    watch.begin(1)
    watch.done(1)
    assert watch.started == first  # ... lane 0's batch is still open since it began
    assert watch.open_for(first + 100) == 100

    health = WorkerHealth([watch], stuck_after_seconds=50)
    watch._open[0] = time.monotonic() - 60  # lane 0 began a minute ago
    assert health.problems() == ["consumer ledger.mailing.sent: batch open for 60 s"]

    watch.done(0)
    assert watch.started is None and watch.open_for(time.monotonic()) == 0.0
    assert health.problems() == []


def test_nothing_to_read_is_up_to_date_only_when_no_lane_has_a_batch_open() -> None:
    watch = BatchWatch("ledger.mailing.sent", finished=0.0)
    watch.begin(1)
    watch.caught_up()
    assert watch.finished == 0.0  # a batch is still running: not "just committed"
    watch.done(1)
    assert watch.finished > 0.0
    watch.finished = 0.0
    watch.caught_up()  # no batch open now: up to date
    assert watch.finished > 0.0
