"""Handing work to a background thread in batches: `put` returns at once, and one thread per
process passes what has gathered to `send` in one list (at most `limit` items), so a burst costs
a few sends instead of one each, and the caller never waits for one.

Every such per-process buffer (these batchers, keys.metrics' stores) is kept with
`keep_per_process`: a forked child starts it empty, and `flush_all` (at exit; a Celery pool
child, which skips atexit, on worker_process_shutdown) sends what it holds."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Protocol

logger = logging.getLogger(__name__)


class BackgroundBatcher:
    """Items put by any thread of this process go to `send` in order, in lists of at most
    `limit`: whatever arrived while the last list was being sent goes in the next, and a list
    waits `linger` seconds after its first item for more (a burst leaves together). A forked
    child starts empty (the parent's items stay the parent's); what is left when the process
    exits normally is sent then (`flush`). A `send` that raises loses its list (logged)."""

    def __init__(
        self, send: Callable[[list], None], *, name: str, limit: int = 100, linger: float = 0
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._send, self._name, self._limit, self._linger = send, name, limit, linger
        self.reset_after_fork()
        keep_per_process(self)

    def put(self, item) -> None:
        with self._changed:
            self._items.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def flush(self) -> None:
        """Send what is waiting, in the calling thread, once a send under way has ended
        (returns when what waited is sent)."""
        with self._changed:
            while self._sending:
                self._changed.wait()
            items, self._items = self._items, []
            self._sending = bool(items)
        try:
            for start in range(0, len(items), self._limit):
                self._send_safely(items[start : start + self._limit])
        finally:
            self._done_sending()

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._sending or not self._items:
                    self._changed.wait()
                if self._linger > 0:
                    self._changed.wait_for(lambda: len(self._items) >= self._limit, self._linger)
                items = self._items[: self._limit]
                del self._items[: self._limit]
                self._sending = True
            try:
                self._send_safely(items)
            finally:
                self._done_sending()

    def _send_safely(self, items: list) -> None:
        try:
            self._send(items)
        except Exception:  # the thread must live on; the list is lost, as the docstring says
            logger.exception("batching.send_failed", extra={"batcher": self._name})

    def _done_sending(self) -> None:
        with self._changed:
            self._sending = False
            self._changed.notify_all()

    def reset_after_fork(self) -> None:
        """Nothing waiting and no thread yet (in a forked child, the parent's thread is gone)."""
        self._changed = threading.Condition()
        self._items: list = []
        self._sending = False
        self._thread: threading.Thread | None = None


class BackgroundRunner:
    """Calls run one at a time, in order, on one thread of this process: `submit` returns a
    Future at once, or, with `depth`, once fewer than `depth` calls are waiting or running (the
    caller is held back instead of piling work up). A forked child starts with no thread and
    nothing waiting; `flush` (at exit too) returns once every call submitted so far has ended.
    A call that raises leaves its error in its Future (a caller that never reads it logs its
    own failures) and the next call runs."""

    def __init__(self, *, name: str, depth: int | None = None) -> None:
        if depth is not None and depth < 1:
            raise ValueError("depth must be at least 1")
        self._name, self._depth = name, depth
        self.reset_after_fork()
        keep_per_process(self)

    def submit(self, call: Callable, *args) -> Future:
        if self._places is not None:
            self._places.acquire()
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
            future = self._executor.submit(self._run, call, args)
            self._pending.add(future)
        future.add_done_callback(self._ended)
        return future

    def _ended(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run(self, call: Callable, args: tuple):
        try:
            return call(*args)
        finally:
            if self._places is not None:
                self._places.release()

    def flush(self) -> None:
        """Wait until every call submitted so far has ended."""
        with self._lock:
            pending = list(self._pending)
        wait(pending)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future] = set()
        self._places = threading.Semaphore(self._depth) if self._depth is not None else None


class ProcessBuffer(Protocol):
    """What `keep_per_process` keeps: a buffer this process fills and sends on its own."""

    def reset_after_fork(self) -> None: ...

    def flush(self) -> None: ...


_BUFFERS: weakref.WeakSet[ProcessBuffer] = weakref.WeakSet()


def keep_per_process(buffer: ProcessBuffer) -> None:
    """A forked child empties `buffer` (the parent's items stay the parent's); `flush_all`
    sends what it holds."""
    _BUFFERS.add(buffer)


def _reset_after_fork() -> None:
    for buffer in list(_BUFFERS):
        buffer.reset_after_fork()


def flush_all() -> None:
    """Send what every buffer of this process holds (a process about to exit): the runners'
    calls first, since what they do may fill the other buffers (a record's notifications)."""
    buffers = list(_BUFFERS)
    for buffer in sorted(buffers, key=lambda b: not isinstance(b, BackgroundRunner)):
        buffer.flush()


os.register_at_fork(after_in_child=_reset_after_fork)
atexit.register(flush_all)
