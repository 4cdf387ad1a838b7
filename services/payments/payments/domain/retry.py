"""When to try a gateway again after it could not answer (network error, 5xx, rate limit)."""


def backoff_seconds(tries: int, base_seconds: float, max_seconds: float) -> float:
    """Exponential back-off: base, 2x base, 4x base, ... capped at `max_seconds`. `tries` is the
    number of calls made so far (at least 1)."""
    if tries < 1:
        raise ValueError("back-off needs at least one try")
    return float(min(max_seconds, base_seconds * 2 ** min(tries - 1, 30)))
