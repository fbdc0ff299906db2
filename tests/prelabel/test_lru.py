"""labeler.prelabel.lru: the bounded, thread-safe map the interactive caches share."""

from __future__ import annotations

import threading

from labeler.prelabel.lru import Lru


def test_the_least_recently_used_goes_first():
    cache: Lru[int] = Lru(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)


def test_threads_never_push_it_past_its_size():
    cache: Lru[int] = Lru(8)

    def fill(offset: int) -> None:
        for i in range(500):
            cache.put((offset, i), i)
            cache.get((offset, i - 1))

    threads = [threading.Thread(target=fill, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 8


def test_clear_empties_it_and_it_fills_again():
    cache: Lru[int] = Lru(4)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.clear()
    assert (len(cache), cache.get("a")) == (0, None)
    cache.put("a", 3)
    assert cache.get("a") == 3
