"""Overlap reading, scoring and writing of a batch run, one chunk apart.

Parsing CSV and formatting it again take longer than the model itself (see
benchmarks/results/batch.md); pandas' parser and Arrow's writers spend that time in C
without holding the interpreter, so a second core can do them while this thread scores.
Each stage is at most one chunk ahead of the next, so memory stays a few chunks whatever
the file's size, and an error in any stage stops the run with that error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_DONE = object()
_POLL_SECONDS = 0.1


class _Failed:
    """An exception raised in the reading thread, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(chunks: Iterable[Any]) -> Iterator[Any]:
    """Iterate ``chunks`` in a background thread, at most one chunk ahead of the caller."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            put(_Failed(error))

    worker = threading.Thread(target=produce, name="batch-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()  # the consumer stopped early (an error): let the reader end
        worker.join()


class WriteBehind:
    """Run write jobs in one background thread, in order, at most one job behind.

    ``submit`` waits for the previous job first, so its error surfaces at the next
    submit or at ``finish`` and no more than two chunks wait in memory.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-writer")
        self._pending: Future[None] | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job`` after waiting for the one before it."""
        self.finish()
        self._pending = self._executor.submit(job)

    def finish(self) -> None:
        """Wait for the last job; re-raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if error is None:
                self.finish()
        finally:
            self._executor.shutdown(wait=True)
