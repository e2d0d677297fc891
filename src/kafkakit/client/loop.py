"""A background asyncio event-loop thread for the sync facades (KafkaProducer, KafkaConsumer, ...).

How it works: ``LoopThread(name).start()`` creates a fresh event loop and runs it forever in one
daemon thread (one per client instance). Other threads hand it work with ``run(coro, timeout)``
(schedule with ``asyncio.run_coroutine_threadsafe`` and block for the result), ``submit(coro)``
(schedule and get a ``concurrent.futures.Future``) or ``call_soon_threadsafe(fn, *args)``. ``stop()``
cancels the tasks still pending, lets them unwind, closes the loop and joins the thread.

What it must never do: block inside the loop thread (``run()`` called from the loop thread raises
instead of deadlocking), leave a timed-out coroutine running behind the caller's back (it is
cancelled), or keep the interpreter alive at exit (the thread is a daemon).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from kafkakit.errors import IllegalStateError, KafkaTimeoutError

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["LoopThread"]


class LoopThread:
    """One event loop running in one background thread."""

    def __init__(self, name: str = "kafkakit-loop") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._stopped = False
        self.thread_id: int | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> LoopThread:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        self._started.wait()
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self.thread_id = threading.get_ident()
        asyncio.set_event_loop(loop)
        self._started.set()
        try:
            loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            except Exception:  # pragma: no cover - best effort cleanup
                log.exception("error while shutting down event loop %s", self.name)
            finally:
                loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise IllegalStateError(f"event loop thread {self.name} is not started")
        return self._loop

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopped

    def in_loop_thread(self) -> bool:
        return threading.get_ident() == self.thread_id

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the loop (pending tasks are cancelled) and join the thread. Idempotent."""
        if self._stopped or self._thread is None:
            self._stopped = True
            return
        self._stopped = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:  # loop already closed
                pass
        if not self.in_loop_thread():
            self._thread.join(timeout)

    # --- handing work to the loop ------------------------------------------------------------

    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._stopped:
            coro.close()
            raise IllegalStateError(f"event loop thread {self.name} is stopped")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait up to ``timeout`` seconds for its result.

        On timeout the coroutine is cancelled and KafkaTimeoutError is raised.
        """
        if self.in_loop_thread():
            coro.close()
            raise IllegalStateError("LoopThread.run() called from the loop's own thread would deadlock")
        fut = self.submit(coro)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            if fut.done():  # the coroutine itself raised a TimeoutError
                raise
            fut.cancel()
            raise KafkaTimeoutError(f"operation did not complete within {timeout} s") from None
