"""A Celery task's line back to its run: the reply queue, the heartbeat, and the run's lease.

Events travel in batches ("events" messages): one broker message per event cost more than the
migration itself on small tenants, and one per migration step still cost a third of a run from empty.
A batch goes out when it is FLUSH_SECONDS old (checked on every event and, every TICK_SECONDS, by the
heartbeat thread, so a long step's "started" reaches the run within FLUSH_SECONDS + TICK_SECONDS) or
MAX_BATCH long, and before the task's verdicts. The price: a worker killed within that time of a
step's start has its database reported without that step's name (the database itself is at a
migration boundary either way, and --only-failed reads where it is).

When the broker goes away, nothing is dropped at once: the batch is kept and sent again (the run rides
the outage out too) until the outage has lasted the run's own patience; meanwhile the run's lease
(celery_lease.py) decides whether the next database or step may begin.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from typing import Any

from .celery_lease import KEY_SECONDS, LeaseView, TaskClaim, redis_of, short_lived

logger = logging.getLogger("tenant_router.celery")

HEARTBEAT_SECONDS = 2.0  # how often a running task says it is alive (and looks for a stop request)
FLUSH_SECONDS = 0.25
TICK_SECONDS = 0.1
MAX_BATCH = 200
RETRY_SECONDS = 0.5  # between two tries of a reply that must arrive (the task's verdicts)

# One broker connection per worker process, for all its tasks (a connection per task cost ~9 ms each):
# (pid, connection, producer, lock); a forked child makes its own. The lease is read over a connection
# of its own that gives up quickly (the publishing one may wait for the broker).
_link: tuple[int, Any, Any, threading.Lock] | None = None
_lease_link: tuple[int, Any] | None = None


def _process_lock() -> threading.Lock:
    """The lock of this process's connection (made, not yet connected, on first use)."""
    global _link
    if _link is None or _link[0] != os.getpid():
        _link = (os.getpid(), None, None, threading.Lock())
    return _link[3]


def _shared_link(app: Any) -> tuple[int, Any, Any, threading.Lock]:
    """This process's connection and producer (opened again after a failure dropped them)."""
    global _link
    _process_lock()
    assert _link is not None
    if _link[1] is None:
        connection = app.connection_for_write()
        try:
            _link = (os.getpid(), connection, connection.Producer(serializer="json"), _link[3])
        except Exception:
            with contextlib.suppress(Exception):
                connection.release()
            raise
    return _link


def _drop_link() -> None:
    """Forget this process's connection (the broker went away): the next send opens a new one."""
    global _link
    if _link is not None and _link[0] == os.getpid():
        with contextlib.suppress(Exception):
            _link[1].release()
        _link = (os.getpid(), None, None, _link[3])  # the lock stays: other threads may hold it


def _lease_client(app: Any) -> Any | None:
    """A Redis client for the lease (None: the broker is not Redis)."""
    global _lease_link
    if _lease_link is None or _lease_link[0] != os.getpid():
        _lease_link = (os.getpid(), redis_of(short_lived(app)))
    return _lease_link[1]


class Reply:
    """The run's reply queue, as seen from one task: messages go out in order, one connection."""

    def __init__(self, app: Any, message: dict[str, Any]) -> None:
        self.app, self.queue, self.task_id = app, message["reply"], message["task"]["id"]
        self.patience = float(message.get("outage") or 0.0)  # how long the run rides an outage out
        # the lock: the heartbeat thread sends too (and a threads pool's other tasks)
        self.lock = _process_lock()
        self.lost = False  # the broker stayed away longer than the run waits: events are dropped
        self.down_since: float | None = None
        self.batch: list[dict[str, Any]] = []  # encoded events not sent yet, in order
        self.batch_since = 0.0
        self.client = _lease_client(app) if message.get("lease") else None
        self.lease = LeaseView(self.client, message["run"], float(message["lease"])) if self.client else None
        token = f"{os.getpid()}.{secrets.token_hex(4)}"
        self.claim = TaskClaim(self.client, message["run"], self.task_id, token) if self.client else None

    def send(self, kind: str, **data: Any) -> None:
        """Publish one message to the run (anonymous exchange: the routing key is the queue)."""
        with self.lock:
            self._publish(kind, data)

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        from .wire import dumps

        body = dumps({"t": kind, "task": self.task_id, **data})
        options: dict[str, Any] = {
            "exchange": "",
            "routing_key": self.queue,
            "content_type": "application/json",
            "content_encoding": "utf-8",
        }
        _, _, producer, _ = _shared_link(self.app)
        try:  # the fast path: kombu's retry wrapper costs more than the publish itself
            producer.publish(body, **options)
        except Exception:
            try:
                producer.publish(
                    body, retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.3},
                    **options,
                )  # fmt: skip
            except Exception:
                _drop_link()
                raise
        if self.client is not None:  # a queue made again by this push has an expiry too
            with contextlib.suppress(Exception):
                self.client.expire(self.queue, KEY_SECONDS)

    def event(self, event: dict[str, Any]) -> None:
        """Queue one event; send the batch when it is old or long enough."""
        if self.lost:
            return
        with self.lock:
            if not self.batch:
                self.batch_since = time.monotonic()
            self.batch.append(event)
            due = len(self.batch) >= MAX_BATCH or time.monotonic() - self.batch_since >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self, older_than: float = 0.0) -> bool:
        """Send the queued events as one message (only if the oldest is older_than seconds or more);
        False when the broker cannot be reached (the events are kept for the next try)."""
        if self.lost:
            return False
        with self.lock:
            if not self.batch or time.monotonic() - self.batch_since < older_than:
                return True
            try:
                self._publish("events", {"es": self.batch})
            except Exception as exc:
                self._down(exc)
                return False
            self.batch, self.down_since = [], None
            return True

    def _down(self, exc: BaseException) -> None:
        """The broker did not take a message: keep trying until the run would have given up."""
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            logger.warning("tenant-router: the run's broker is unreachable (%s); retrying", exc)
        if now - self.down_since > self.patience:
            from ..safety import cancel

            self.lost, self.batch = True, []
            cancel.request_stop()
            logger.warning("tenant-router: the run's broker is gone (%s); stopping at a boundary", exc)

    def final(self, kind: str, **data: Any) -> None:
        """The task's last word (after its events): tried again until the broker takes it, or the
        outage lasts longer than the run waits."""
        while not self.lost:
            if self.flush():
                if self.claim is not None:
                    self.claim.done()
                try:
                    self.send(kind, **data)
                    return
                except Exception as exc:
                    self._down(exc)
            time.sleep(RETRY_SECONDS)

    def run_alive(self) -> bool:
        """True while the run still listens: its lease is alive (waited for a moment when the broker
        lost it); for a broker without the lease, its reply queue exists."""
        if self.lease is not None:
            return self.lease.wait_for_start()
        channel = _shared_link(self.app)[1].default_channel
        prefix = getattr(channel, "keyprefix_queue", None)
        if prefix is not None and hasattr(channel, "conn_or_acquire"):  # Redis (a run of an earlier
            with channel.conn_or_acquire() as client:  # release): the reply queue's binding key
                return bool(client.exists(prefix % self.queue))
        try:  # AMQP and the like: a passive declare fails for a queue that is gone
            channel.queue_declare(queue=self.queue, passive=True)
        except Exception as exc:
            return type(exc).__name__ != "NotFound"  # unsure (another transport): go ahead
        return True

    def stop_requested(self) -> bool:
        """True when the run asked this task to stop at the next migration boundary, or its lease lapsed."""
        if self.lease is not None and not self.lease.alive():
            return True
        with self.lock:
            try:
                channel = _shared_link(self.app)[1].default_channel
                message = channel.basic_get(f"{self.queue}.stop.{self.task_id}", no_ack=True)
            except Exception:  # no such queue yet (nothing was asked), or no broker
                return False
            return message is not None


class Heartbeat(threading.Thread):
    """Tells the run this task is alive; relays its stop request (or a lapsed lease) to the migration in
    progress; sends events that waited FLUSH_SECONDS (a long step or a slow pre-flight read emits
    nothing meanwhile)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(name="tenant-router-heartbeat", daemon=True)
        self.reply, self.done = reply, threading.Event()

    def run(self) -> None:
        from ..safety import cancel

        last_beat = time.monotonic()
        while not self.done.wait(TICK_SECONDS):
            with contextlib.suppress(Exception):
                self.reply.flush(older_than=FLUSH_SECONDS)
                if time.monotonic() - last_beat < HEARTBEAT_SECONDS:
                    continue
                last_beat = time.monotonic()
                if self.reply.stop_requested():
                    cancel.request_stop()
                if self.reply.claim is not None:
                    self.reply.claim.renew()
                self.reply.send("beat")

    def stop(self) -> None:
        """End the thread (the task is over)."""
        self.done.set()
        self.join(timeout=HEARTBEAT_SECONDS * 2)
