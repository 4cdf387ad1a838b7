"""Request bodies: exact decimals, no duplicate keys, a 422 problem for anything unreadable."""

from decimal import Decimal

import pytest

from pricing.api.bodies import decode_json
from shared.problems import Problem


def field_of(raw: bytes) -> str:
    with pytest.raises(Problem) as caught:
        decode_json(raw)
    assert caught.value.status == 422
    assert caught.value.errors is not None
    [error] = caught.value.errors
    return str(error["field"])


def test_numbers_become_decimals_and_integers_stay_integers() -> None:
    document = decode_json(b'{"a": 0.1, "b": 10, "c": 1e-7, "d": [2.50]}')

    assert document == {"a": Decimal("0.1"), "b": 10, "c": Decimal("1e-7"), "d": [Decimal("2.50")]}
    assert isinstance(document, dict)
    assert str(document["d"][0]) == "2.50"  # the text's own digits, trailing zero included


def test_nan_and_infinity_become_decimals_for_the_domain_to_refuse_with_their_path() -> None:
    document = decode_json(b'{"a": NaN, "b": -Infinity}')

    assert isinstance(document, dict)
    assert document["a"].is_nan() and document["b"] == Decimal("-Infinity")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"a": 1, "a": 2}', "$.a"),
        (b'{"a": {"b": 1, "c": {"d": 1, "d": 1}}}', "$.a.c.d"),
        (b'{"a": [{"x": 1}, {"x": 1, "x": 2}]}', "$.a[1].x"),
        (b'{"odd key": 1, "odd key": 2}', '$["odd key"]'),
        # The first duplicate in document order: the inner one comes before the outer one.
        (b'{"a": {"b": 1, "b": 2}, "a": 3}', "$.a.b"),
    ],
)
def test_duplicate_keys_are_refused_at_the_repeated_member(raw: bytes, field: str) -> None:
    assert field_of(raw) == field


@pytest.mark.parametrize(
    "raw", [b"", b"   ", b"{", b"\xc3\x28", b"[1] [2]", b"[" * 50_000, b"1" * 5000]
)
def test_unreadable_bodies_are_refused_as_a_whole(raw: bytes) -> None:
    assert field_of(raw) == "$"
