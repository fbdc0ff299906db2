"""A small thread-safe LRU map: what the interactive paths keep between requests.

Matchers (template banks), profile rows of an image's boxes: each costs milliseconds to
build and is asked for again by the next request on the same image, from any of the
server's threads, so it lives in one of these, bounded by entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Lru(Generic[V]):
    """At most ``size`` entries; the least recently used goes first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value under ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> V:
        """Store ``value`` under ``key``, dropping the oldest past ``size``; returns it."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Drop every entry (a benchmark's cold start)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
