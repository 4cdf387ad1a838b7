"""The persistent map and set behave like an immutable dict and frozenset."""

from __future__ import annotations

from hypothesis import given as for_all
from hypothesis import strategies as st

from ledger.domain.persistent import PersistentMap, PersistentSet

writes = st.lists(st.tuples(st.integers(0, 40), st.integers()), max_size=200)


@for_all(writes=writes)
def test_a_persistent_map_matches_a_dict_and_old_versions_stay_unchanged(
    writes: list[tuple[int, int]],
) -> None:
    expected: dict[int, int] = {}
    current = PersistentMap[int, int]()
    versions = [(current, dict(expected))]
    for key, value in writes:
        current = current.set(key, value)
        expected[key] = value
        versions.append((current, dict(expected)))
    for version, snapshot in versions:
        assert list(version.items()) == list(snapshot.items())  # same order, too
        assert len(version) == len(snapshot)
        assert version == snapshot
        assert all(key in version for key in snapshot)
        assert 41 not in version
        assert version.get(41) is None


@for_all(items=st.lists(st.text(max_size=3), max_size=100))
def test_a_persistent_set_matches_a_frozenset(items: list[str]) -> None:
    current = PersistentSet[str]()
    for item in items:
        current = current.add(item)
    assert set(current) == set(items)
    assert len(current) == len(set(items))
    assert all(item in current for item in items)
    assert "long" not in current
    assert PersistentSet(items) == current
