"""Stop a thread's work at a deadline, wherever it is: ``with deadline(5.0, TooSlow): work()``.

One daemon thread per process watches every armed deadline. When one passes, it raises the
given exception in the thread that armed it (CPython's ``PyThreadState_SetAsyncExc``); the
exception arrives at that thread's next Python-level step, also deep inside a library.
Leaving the block disarms the deadline and withdraws an exception fired but not yet arrived,
so none arrives after the block. The exception should derive from ``BaseException``: code
that catches ``Exception`` to carry on cannot swallow it then.

Arming costs a lock and a heap push (no thread per deadline). An exception that arrives inside a
destructor or a weakref callback is ignored by the interpreter (it says so on stderr), so while
the block still runs the exception is raised again, ``REFIRE`` seconds apart, up to ``FIRES``
times in all. Where the interpreter offers no such call the block runs to its end; callers keep
their own checks between steps for both cases (``lineage.decide.limits`` does).
"""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import itertools
import os
import threading
import time
from typing import Iterator

_RAISE_IN = getattr(getattr(ctypes, "pythonapi", None), "PyThreadState_SetAsyncExc", None)
FIRES = 3
REFIRE = 0.25
_tokens = itertools.count(1)


class _Watcher:
    """The process's watching thread and its armed deadlines."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.condition = threading.Condition()
        self.armed: dict[int, list] = {}  # token -> [thread id, exception type, times fired]
        self.heap: list[tuple[float, int]] = []
        threading.Thread(target=self._run, name="lineage-deadlines", daemon=True).start()

    def arm(self, seconds: float, exception: type[BaseException]) -> int:
        token = next(_tokens)
        with self.condition:
            self.armed[token] = [threading.get_ident(), exception, 0]
            heapq.heappush(self.heap, (time.monotonic() + seconds, token))
            if self.heap[0][1] == token:
                self.condition.notify()
        return token

    def disarm(self, token: int) -> None:
        with self.condition:
            entry = self.armed.pop(token, None)
            if entry is not None and entry[2]:
                _RAISE_IN(ctypes.c_ulong(entry[0]), None)  # withdraw it if it has not arrived yet

    def _run(self) -> None:
        with self.condition:
            while True:
                while self.heap and self.heap[0][1] not in self.armed:
                    heapq.heappop(self.heap)  # disarmed before its time
                now = time.monotonic()
                if self.heap and self.heap[0][0] <= now:
                    _, token = heapq.heappop(self.heap)
                    entry = self.armed[token]
                    entry[2] += 1
                    _RAISE_IN(ctypes.c_ulong(entry[0]), ctypes.py_object(entry[1]))
                    if entry[2] < FIRES:  # still running after this one: it may have been ignored
                        heapq.heappush(self.heap, (now + REFIRE, token))
                    continue
                self.condition.wait(self.heap[0][0] - now if self.heap else None)


_WATCHER: _Watcher | None = None
_WATCHER_LOCK = threading.Lock()


def _watcher() -> _Watcher:
    global _WATCHER
    with _WATCHER_LOCK:
        if _WATCHER is None or _WATCHER.pid != os.getpid():  # threads do not survive fork()
            _WATCHER = _Watcher()
        return _WATCHER


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: globals().__setitem__("_WATCHER_LOCK", threading.Lock()))


@contextlib.contextmanager
def deadline(seconds: float, exception: type[BaseException]) -> Iterator[None]:
    """Raise ``exception`` in this thread if the block is still running after ``seconds``."""
    if _RAISE_IN is None or seconds <= 0:
        yield
        return
    watcher = _watcher()
    token = watcher.arm(seconds, exception)
    try:
        yield
    finally:
        watcher.disarm(token)
