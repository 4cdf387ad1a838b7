"""Back-off for a gateway that could not answer."""

import pytest

from payments.domain.retry import backoff_seconds


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(t, 2.0, 60.0) for t in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert backoff_seconds(10_000, 2.0, 600.0) == 600.0


def test_backoff_needs_a_try() -> None:
    with pytest.raises(ValueError, match="at least one try"):
        backoff_seconds(0, 2.0, 60.0)
