"""The run lease: a key on the broker that says a Celery run is still alive, and expires on its own.

The run sets `tenant_router.lease.<run>` to "live" with a time to live (LEASE_SECONDS, or half the
broker outage the run rides out, whichever is shorter) and renews it every quarter of that from a
thread of its own, so a run that is killed, frozen or cut off from the broker lets it lapse by itself.
When the run ends it leaves "over" behind (for a day: messages of the run may still sit in the queue).

A worker reads the lease when a task starts, before each database and at each migration boundary
(through `safety.cancel`'s guard): "over", or a lease it has not seen renewed past its last known
expiry, and it begins nothing more (a migration in progress stops at its boundary). A lease missing
altogether (a broker restarted empty) is waited for up to one lease time at a task's start, since a
live run sets it again within a quarter of that; during a broker outage the worker goes on until the
expiry it last read, never longer, and the run gives up only after the outage, so by then no worker
can begin anything for it.

The run's other keys (its reply queue and its binding, its stop queues) get an expiry too, renewed by
the same thread while the run lives (KEY_SECONDS), and set again by workers after each reply they send.

Redis brokers only (kombu's Redis transport): for another broker `redis_of()` is None, the run keeps no
lease and a worker falls back to asking whether the run's reply queue still exists.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

LEASE_SECONDS = 10.0
KEY_SECONDS = 600  # the run's queues: gone this long after the run (or its last worker reply) went
OVER_SECONDS = 24 * 3600  # how long "over" stays: a message of the run left in the queue is dropped
SOCKET_SECONDS = 3.0  # a broker that does not answer within this is down, for the lease's purposes


def lease_key(run_id: str) -> str:
    """The lease's key on the broker."""
    return f"tenant_router.lease.{run_id}"


def run_keys(reply: str, asked: Iterable[int]) -> list[str]:
    """A run's own keys on the broker besides the lease: its reply queue and binding, its stop queues."""
    bindings = [f"_kombu.binding.{reply}", f"_kombu.binding_permanent.{reply}"]
    return [reply, *bindings, *(f"{reply}.stop.{task_id}" for task_id in sorted(asked))]


def lease_seconds(outage: float) -> float:
    """The lease's time to live: shorter than the outage a run rides out, so that when the run gives
    up, every worker has seen the lease lapse."""
    return min(LEASE_SECONDS, max(outage / 2, 1.0))


def redis_of(connection: Any) -> Any | None:
    """A Redis client on the broker of `connection` (kombu's, so a global key prefix applies), or None
    when the broker is not Redis."""
    channel = connection.default_channel
    if getattr(channel, "keyprefix_queue", None) is None or not hasattr(channel, "conn_or_acquire"):
        return None
    with channel.conn_or_acquire() as client:  # a client on the channel's own (synchronous) pool
        return client


def short_lived(app: Any) -> Any:
    """A connection of the app's own that gives up quickly on a broker that does not answer."""
    connection = app.connection_for_write()
    options = {**(connection.transport_options or {}), "max_retries": 1}
    options.update(socket_timeout=SOCKET_SECONDS, socket_connect_timeout=SOCKET_SECONDS)
    return connection.clone(transport_options=options, connect_timeout=SOCKET_SECONDS)


class RunLease(threading.Thread):
    """The run's side: sets the lease and keeps it (and the run's keys) alive until `end()`."""

    def __init__(self, app: Any, run_id: str, outage: float, keys: Callable[[], Iterable[str]]) -> None:
        super().__init__(name="tenant-router-lease", daemon=True)
        self.key, self.ttl, self.keys = lease_key(run_id), lease_seconds(outage), keys
        self.connection = short_lived(app)
        self.client = redis_of(self.connection)  # raises when the broker cannot be reached: the run's
        self.done = threading.Event()  # own connection failed just before, so that is not expected
        if self.client is not None:
            self.renew()
            self.start()
        else:  # not Redis: no lease, and no connection kept for one
            self.connection.release()

    def renew(self) -> bool:
        """Set the lease again and push back the expiry of the run's keys; False when unreachable."""
        if self.client is None:
            return False
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.set(self.key, "live", px=int(self.ttl * 1000))
                for name in self.keys():
                    pipe.expire(name, KEY_SECONDS)
                pipe.execute()
        except Exception:
            return False
        return True

    def run(self) -> None:
        while not self.done.wait(self.ttl / 4):
            self.renew()

    def end(self, delete: Iterable[str] = ()) -> None:
        """The run is over: "over" stays behind, `delete` (the run's queues) goes (best effort)."""
        if self.client is None:
            return
        self.done.set()
        self.join(timeout=self.ttl)
        with contextlib.suppress(Exception), self.client.pipeline(transaction=False) as pipe:
            pipe.set(self.key, "over", ex=OVER_SECONDS)
            for name in delete:
                pipe.delete(name)
            pipe.execute()
        with contextlib.suppress(Exception):
            self.connection.release()


class LeaseView:
    """A worker's side: whether the run may still be alive, read from the broker at most every
    `every` seconds; "over", or no renewal seen past the last known expiry, is final."""

    def __init__(self, client: Any, run_id: str, ttl: float, *, every: float = 0.2) -> None:
        self.client, self.key, self.ttl, self.every = client, lease_key(run_id), ttl, every
        self.valid_until = 0.0  # monotonic: the run's lease was seen alive until then
        self.read_at = -1e9
        self.over = False

    def alive(self) -> bool:
        """False once the run is over or its lease has lapsed (cheap: reads the broker now and then)."""
        if self.over:
            return False
        now = time.monotonic()
        if now - self.read_at >= self.every:
            self.read_at = now
            self._read(now)
        if not self.over and now > self.valid_until:
            self.over = self.valid_until > 0  # it was alive once: it has lapsed
            return False
        return not self.over

    def _read(self, now: float) -> None:
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.get(self.key)
                pipe.pttl(self.key)
                value, ttl_ms = pipe.execute()
        except Exception:
            return  # unreachable: valid until the expiry last read, no longer
        if value == b"over":
            self.over = True
        elif value is not None and ttl_ms and ttl_ms > 0:
            self.valid_until = now + ttl_ms / 1000

    def wait_for_start(self) -> bool:
        """At a task's start: True when the run is alive; a lease missing (the broker restarted empty)
        is waited for up to one lease time, as a live run sets it again within a quarter of that."""
        deadline = time.monotonic() + self.ttl
        while True:
            now = time.monotonic()
            self.read_at = now
            self._read(now)
            if self.over:
                return False
            if self.valid_until > now:
                return True
            if now > deadline:
                self.over = True
                return False
            time.sleep(min(0.25, self.ttl / 8))


CLAIM_SECONDS = 6.0  # a task's claim lapses this long after its holder's last heartbeat


class TaskClaim:
    """One copy of a task at a time: a broker that redelivers a task still running (Redis, past its
    visibility timeout) hands a second worker a copy; that copy waits while the claim is renewed by its
    holder's heartbeat and is dropped, or takes the task over when the holder died (the claim lapsed)."""

    def __init__(self, client: Any, run_id: str, task_id: int, token: str) -> None:
        self.client, self.token = client, token
        self.key = f"tenant_router.claim.{run_id}.{task_id}"

    def take(self, waiting: Callable[[], None]) -> bool:
        """True once this copy holds the task; False when another copy carries it out (its claim was
        seen renewed)."""
        said, last = time.monotonic(), None
        while True:
            try:
                if self.client.set(self.key, self.token, nx=True, px=int(CLAIM_SECONDS * 1000)):
                    return True
                left = self.client.pttl(self.key)
            except Exception:
                return True  # cannot tell: go ahead (the run lock keeps two copies off one database)
            if last is not None and left > last:
                return False  # its holder's heartbeat renewed it: the holder is alive
            last = left
            if time.monotonic() - said >= CLAIM_SECONDS / 3:
                waiting()  # the run hears of the task meanwhile (a redelivery after a lost worker)
                said = time.monotonic()
            time.sleep(0.25)

    def renew(self) -> None:
        """Keep the claim (the holder's heartbeat)."""
        with contextlib.suppress(Exception):
            if self.client.get(self.key) == self.token.encode():
                self.client.pexpire(self.key, int(CLAIM_SECONDS * 1000))

    def done(self) -> None:
        """The task is over: its claim goes (a copy that turns up later finds its databases at their
        target, and a run that is over drops it)."""
        with contextlib.suppress(Exception):
            self.client.delete(self.key)
