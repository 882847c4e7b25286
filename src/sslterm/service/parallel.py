"""Several load balancers at once: at most ``workers`` threads, and no new one started after a failure.

A command that changes many load balancers (a certificate served by a fleet) waits mostly on them: a cloud
call, a Rackspace load balancer ``PENDING_UPDATE`` for seconds. So they are observed and changed side by
side; each provider keeps its account's rate limits itself (the Rackspace pacer is shared by every thread,
botocore backs off on throttling). Once one fails, none is started; those already running finish, so the
caller knows exactly which load balancers were changed and can put them back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Results(Generic[T, R]):
    """What ran: ``done`` (item, result) and ``failed`` (item, exception; the item is None for an interruption
    of the waiting itself, a Ctrl-C), both in the order of the items. An item in neither was never started."""

    done: list[tuple[T, R]] = field(default_factory=list)
    failed: list[tuple[T | None, BaseException]] = field(default_factory=list)

    def first_failure(self) -> BaseException | None:
        return self.failed[0][1] if self.failed else None


def each(items: Sequence[T], work: Callable[[T], R], workers: int) -> Results[T, R]:
    """``work(item)`` for every item, at most ``workers`` at a time (one item, or one worker: in this thread)."""
    results: Results[T, R] = Results()
    if len(items) <= 1 or workers <= 1:
        for item in items:
            try:
                results.done.append((item, work(item)))
            except BaseException as exc:  # the caller puts back what was done, then raises it
                results.failed.append((item, exc))
                break
        return results
    stop = threading.Event()

    def guarded(item: T) -> R:
        if stop.is_set():
            raise _Skipped()
        try:
            return work(item)
        except BaseException:
            stop.set()
            raise

    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="sslterm-lb")
    futures: list[Future[R]] = [pool.submit(guarded, item) for item in items]
    try:
        wait(futures, return_when=FIRST_EXCEPTION)
    except BaseException as exc:  # Ctrl-C while waiting: start nothing more, let the running ones finish
        stop.set()
        results.failed.append((None, exc))
    pool.shutdown(wait=True, cancel_futures=True)
    for item, future in zip(items, futures, strict=True):
        error = future.exception() if future.done() and not future.cancelled() else None
        if future.cancelled() or isinstance(error, _Skipped):
            continue
        if error is not None:
            results.failed.insert(len([f for f in results.failed if f[0] is not None]), (item, error))
        else:
            results.done.append((item, future.result()))
    return results


class _Skipped(Exception):
    """Not started: another item had failed."""


class KeyedLocks:
    """A lock per key, made on first use: ``with locks(*key): ...`` (one command's load balancers staging the
    same certificate in the same scope, one after the other)."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, ...], threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, *key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())
