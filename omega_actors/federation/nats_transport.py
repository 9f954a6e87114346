"""NATS with JetStream between devices and the constellation, for more than one machine.

Device side, :class:`NatsLink` (a :class:`~.transport.Link`). A push is
published into a JetStream stream on ``<prefix>.push.<link id>``; once
JetStream's PubAck is back, the frame is durably stored in NATS. The link
then waits for the constellation's signed answer on a subject only it
listens on, ``<prefix>.reply.<link id>.<n>``, named in the ``Omega-Reply``
header. A pull is a plain NATS request on ``<prefix>.pull``. Whatever goes
wrong (no server, no PubAck, no answer in time) comes back as None, which
the device treats as being offline: it pushes again later.

Constellation side, :class:`NatsIngestServer`: one thread, one asyncio
loop, one durable pull consumer with explicit acks. Each round fetches up
to ``batch`` messages, commits them with one ``Constellation.submit``,
publishes the signed answers, and only then acks. A crash before the ack
means JetStream redelivers after ``ack_wait``, and the constellation's
sequence numbers turn the redelivery into replays: answered again, counted
once. Acked messages leave the stream (work-queue retention). The
constellation is only ever touched from the server's thread; use
:meth:`NatsIngestServer.call` to run anything else on it (a publish round).

What NATS does not protect. It carries signed frames and nothing else: the
payload is always the raw msgpack frame, never pickle. Devices are
authenticated by their frames' MAC, not by NATS. A forged frame is refused
and, with no key to sign for, left unanswered, and answers to pushes go
only to ``<prefix>.reply.`` subjects. A pull is answered on its request's
reply subject, so whoever replays a device's valid pull gets that cohort's
bundle, which is the same for every TV in the cohort and holds nothing of
any one viewer.
Who may publish, subscribe or read the stream is up to NATS's own accounts.
Without TLS, anyone on the path can read pattern ids and rates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import re
import secrets
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from omega_actors.federation.constellation import Constellation

log = logging.getLogger(__name__)

REPLY_HEADER = "Omega-Reply"
STREAM_MAX_AGE = 24 * 3600.0  # seconds; an unanswered push that old was superseded by the device's next one
_PREFIX = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
T = TypeVar("T")


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(f"prefix must be subject tokens (letters, digits, '_', '-') joined by '.'; got {prefix!r}")
    return prefix


def stream_name(prefix: str) -> str:
    return check_prefix(prefix).replace(".", "_") + "_push"


async def _connect(url: str, name: str, connect_timeout: int) -> Client:
    # nats-py retries a first connect max_reconnect_attempts times, reconnect_time_wait apart, even with
    # allow_reconnect=False: without these two, a dead server costs two minutes instead of failing at once.
    return await nats.connect(url, name=name, connect_timeout=connect_timeout, allow_reconnect=False,
                              max_reconnect_attempts=1, reconnect_time_wait=0, error_cb=_quiet)


async def _quiet(exc: Exception) -> None:
    log.debug("nats: %r", exc)  # the default callback logs each refused connect with a traceback


class _LoopThread:
    """An asyncio loop on its own thread; blocking callers hand it coroutines."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        finally:
            future.cancel()  # a no-op when done; otherwise nothing is left running for no one

    def stop(self, timeout: float = 30.0) -> None:
        self.run(_cancel_others(), timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.loop.close()


async def _cancel_others() -> None:
    """Let cancelled tasks finish on a running loop, so closing it destroys none."""
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


class NatsLink:
    """A device's link to the constellation over NATS; connects lazily, never raises from push or pull."""

    def __init__(self, url: str, prefix: str = "omega", connect_timeout: int = 1) -> None:
        self.url = url
        self.prefix = check_prefix(prefix)
        self.connect_timeout = connect_timeout
        self.id = secrets.token_hex(8)
        self._inbox = f"{prefix}.reply.{self.id}"
        self._tokens = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._nc: Client | None = None
        self._lock: asyncio.Lock | None = None
        self._thread: _LoopThread | None = _LoopThread(f"nats-link-{self.id}")

    def push(self, frame: bytes, timeout: float) -> bytes | None:
        return self._bounded(self._push(bytes(frame)), timeout)

    def pull(self, frame: bytes, timeout: float) -> bytes | None:
        return self._bounded(self._pull(bytes(frame)), timeout)

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            try:
                thread.run(self._disconnect(), 30.0)
            finally:
                thread.stop()

    def _bounded(self, coro: Coroutine[Any, Any, bytes], timeout: float) -> bytes | None:
        if self._thread is None or timeout <= 0:
            coro.close()
            return None
        try:
            return self._thread.run(asyncio.wait_for(coro, timeout), timeout + 5.0)
        except Exception as exc:  # offline, timed out, refused by NATS: all the same to a device
            log.debug("nats link %s: no answer (%r)", self.id, exc)
            return None

    async def _push(self, frame: bytes) -> bytes:
        nc = await self._connected()
        token = str(next(self._tokens))
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[token] = answer  # before publishing: the answer may beat the PubAck back
        try:
            await nc.jetstream().publish(f"{self.prefix}.push.{self.id}", frame,
                                         headers={REPLY_HEADER: f"{self._inbox}.{token}"})
            return await answer
        finally:
            self._waiting.pop(token, None)

    async def _pull(self, frame: bytes) -> bytes:
        nc = await self._connected()
        return (await nc.request(f"{self.prefix}.pull", frame, timeout=3600)).data  # wait_for bounds it

    async def _connected(self) -> Client:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._nc is None or self._nc.is_closed:
                # No reconnects: a dropped connection closes, and the next call opens a new one.
                nc = await _connect(self.url, f"omega-link-{self.id}", self.connect_timeout)
                await nc.subscribe(f"{self._inbox}.*", cb=self._answered)
                self._nc = nc
            return self._nc

    async def _answered(self, msg: Msg) -> None:
        answer = self._waiting.pop(msg.subject.rsplit(".", 1)[-1], None)
        if answer is not None and not answer.done():
            answer.set_result(msg.data)  # a late or repeated answer finds no one waiting and is dropped

    async def _disconnect(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()


class NatsIngestServer:
    """The constellation's end: a durable JetStream consumer feeding ``Constellation.submit``, and pulls."""

    def __init__(self, constellation: Constellation, url: str, prefix: str = "omega", stream: str | None = None,
                 durable: str | None = None, batch: int = 512, max_wait: float = 0.05, ack_wait: float = 5.0) -> None:
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10_000:
            raise ValueError(f"batch must be a whole number from 1 to 10000; got {batch!r}")
        if not 0 < max_wait <= 60 or not 0 < ack_wait <= 3600:
            raise ValueError(f"max_wait must be in (0, 60] and ack_wait in (0, 3600] seconds; got {max_wait!r}, {ack_wait!r}")
        self.constellation = constellation
        self.url = url
        self.prefix = check_prefix(prefix)
        self.stream = stream or stream_name(prefix)
        self.durable = durable or self.stream.removesuffix("_push") + "_ingest"
        self.batch, self.max_wait, self.ack_wait = batch, max_wait, ack_wait
        self.batches = self.messages = self.failed = 0
        self._thread: _LoopThread | None = None
        self._stopping: asyncio.Event | None = None
        self._serving: concurrent.futures.Future[None] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Connect, create the stream and consumer if missing, and serve; raises when NATS cannot be set up."""
        if self._thread is not None:
            raise RuntimeError("this ingest server is already started")
        self._thread = _LoopThread(f"nats-ingest-{self.prefix}")
        try:
            nc, pulls = self._thread.run(self._setup(), timeout)
        except BaseException:
            self._thread.stop()
            self._thread = None
            raise
        self._serving = asyncio.run_coroutine_threadsafe(self._serve(nc, pulls), self._thread.loop)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the round in progress, drain the connection, and join the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._stopping is not None:
            thread.loop.call_soon_threadsafe(self._stopping.set)
        try:
            if self._serving is not None:
                self._serving.result(timeout)
        finally:
            thread.stop(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        """Run ``fn`` on the server's thread, between two rounds (e.g. ``constellation.publish``)."""
        if self._thread is None:
            raise RuntimeError("this ingest server is not running")

        async def between_rounds() -> T:
            return fn()

        return self._thread.run(between_rounds(), timeout)

    async def _setup(self) -> tuple[Client, JetStreamContext.PullSubscription]:
        self._stopping = asyncio.Event()
        nc = await _connect(self.url, f"omega-ingest-{self.prefix}", 2)
        # From here on, outlive NATS restarts: reconnect forever (set after the first connect, see _connect).
        nc.options.update(allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=1)
        try:
            js = nc.jetstream()
            try:
                await js.stream_info(self.stream)
            except NotFoundError:
                await js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.prefix}.push.>"],
                                                 storage=StorageType.FILE, retention=RetentionPolicy.WORK_QUEUE,
                                                 max_age=STREAM_MAX_AGE))
            config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait,
                                    max_ack_pending=max(1000, 4 * self.batch))
            # An existing durable consumer is bound as it is: changing ack_wait means deleting it first.
            pulls = await js.pull_subscribe(f"{self.prefix}.push.>", durable=self.durable, stream=self.stream, config=config)
            await nc.subscribe(f"{self.prefix}.pull", queue=f"{self.durable}_pull", cb=self._answer_pull)
        except BaseException:
            await nc.close()
            raise
        return nc, pulls

    async def _serve(self, nc: Client, pulls: JetStreamContext.PullSubscription) -> None:
        assert self._stopping is not None
        try:
            while not self._stopping.is_set():
                try:
                    await self._commit(nc, await pulls.fetch(self.batch, timeout=self.max_wait))
                except asyncio.TimeoutError:  # nothing waiting (nats-py's TimeoutError is one too)
                    continue
                except Exception as exc:  # NATS away: the client reconnects; unacked messages come back
                    log.warning("nats ingest %s: round failed (%r)", self.stream, exc)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), 1.0)  # pause, not spin; stop still wakes it
        finally:
            # Not drained: nats-py's drain waits forever on a pull subscription's leftover queue. Whatever is
            # left there is unacked, so JetStream redelivers it; drain then only finishes the pulls in flight.
            await pulls.unsubscribe()
            await nc.drain()

    async def _commit(self, nc: Client, msgs: list[Msg]) -> None:
        try:
            replies = self.constellation.submit([msg.data for msg in msgs])
        except Exception:
            if len(msgs) > 1:  # find the message that breaks submit; commit the others
                for msg in msgs:
                    await self._commit(nc, [msg])
                return
            # Terminated, not retried: its device got no answer, so it pushes again later anyway.
            log.exception("nats ingest %s: submit raised on one message; terminated", self.stream)
            self.failed += 1
            await msgs[0].term()
            return
        self.batches += 1
        self.messages += len(msgs)
        for msg, reply in zip(msgs, replies):
            await self._answer(nc, msg, reply)
        for msg in msgs:  # only now: a crash before this line is a redelivery, absorbed as replays
            await msg.ack()

    async def _answer(self, nc: Client, msg: Msg, reply: bytes | None) -> None:
        target = (msg.headers or {}).get(REPLY_HEADER, "")
        if reply is None or not target.startswith(f"{self.prefix}.reply."):
            return
        try:
            await nc.publish(target, reply)
        except Exception as exc:  # a malformed subject in a header: that device gets no answer
            log.info("nats ingest %s: cannot answer on %r (%r)", self.stream, target, exc)

    async def _answer_pull(self, msg: Msg) -> None:
        try:
            answer = self.constellation.pull(msg.data)
            if answer is not None and msg.reply:
                await msg.respond(answer)
        except Exception:
            log.exception("nats ingest %s: a pull failed", self.stream)


def delete_stream(url: str, prefix: str = "omega", stream: str | None = None) -> bool:
    """Delete the push stream (and with it its consumer); False when there was none."""

    async def delete() -> bool:
        nc = await _connect(url, "omega-admin", 2)
        try:
            return bool(await nc.jetstream().delete_stream(stream or stream_name(prefix)))
        except NotFoundError:
            return False
        finally:
            await nc.close()

    return asyncio.run(delete())
