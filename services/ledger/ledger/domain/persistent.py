"""Immutable map and set that share structure between versions.

The account keeps every mailing, reservation, purchase and charge it has seen (for duplicate
checks and late payment results). With plain ``dict``/``frozenset`` each event would copy all
of them, which makes a replay quadratic in the length of the stream. Here the entries live in
a few levels whose sizes roughly halve from the oldest to the newest, like a binary counter:
adding merges only the small newest levels, so an update costs O(log n) amortised and a
lookup checks O(log n) levels. Nothing is ever mutated after it is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Set
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class PersistentMap(Mapping[K, V]):
    """A read-only mapping; ``set`` returns a new map and leaves this one as it was.

    Iteration follows first insertion, as a ``dict`` does; equality is ``Mapping`` equality,
    so a ``PersistentMap`` equals a ``dict`` with the same items.
    """

    __slots__ = ("_levels", "_size")

    _levels: tuple[dict[K, V], ...]
    _size: int

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        first = dict(items)
        self._levels = (first,) if first else ()
        self._size = len(first)

    def __getitem__(self, key: K) -> V:
        for level in reversed(self._levels):
            if key in level:
                return level[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return any(key in level for level in self._levels)

    def __iter__(self) -> Iterator[K]:
        return iter(self._merged())

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"PersistentMap({self._merged()!r})"

    def _merged(self) -> dict[K, V]:
        return {key: value for level in self._levels for key, value in level.items()}

    def set(self, key: K, value: V) -> PersistentMap[K, V]:
        """A new map with ``key`` bound to ``value``."""
        size = self._size if key in self else self._size + 1
        newest: dict[K, V] = {key: value}
        levels = list(self._levels)
        while levels and len(levels[-1]) <= len(newest):
            newest = {**levels.pop(), **newest}
        new = PersistentMap[K, V]()
        new._levels = (*levels, newest)
        new._size = size
        return new


class PersistentSet(Set[T]):
    """A read-only set; ``add`` returns a new set. Equal to a ``frozenset`` with the same items."""

    __slots__ = ("_items",)

    _items: PersistentMap[T, None]

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items = PersistentMap((item, None) for item in items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"PersistentSet({list(self._items)!r})"

    def add(self, item: T) -> PersistentSet[T]:
        """A new set that also holds ``item``."""
        new = PersistentSet[T]()
        new._items = self._items.set(item, None)
        return new
