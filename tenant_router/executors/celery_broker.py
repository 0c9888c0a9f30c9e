"""The Celery executor's link to the project: its app, one connection to its broker, and the workers' answer.

`Broker` is opened when the run starts, before any database is touched: a wrong --celery-app or an
unreachable broker is one line, and the workers are asked (`Probe`, in the background) who consumes the
queue while the run migrates its reserved databases. Everything the run sends to the broker or asks of
the workers (tasks, revokes, stop requests, the run's queues) goes through it; once the broker is lost,
nothing more is sent.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..config.environment import celery_app_path
from ..errors import ConfigurationError, ExecutorError, UsageError
from ..record.report import one_line_error
from ..safety.redact import mask_url
from .celery_lease import RunLease, redis_of
from .celery_worker import TASK_NAME

PROBE_SECONDS = 2.0  # how long the workers have to answer `inspect` when the run starts


def load_app(path: str | None) -> Any:
    """The project's Celery app from "module:attribute" (--celery-app, else TENANT_ROUTER_CELERY_APP)."""
    where = "--celery-app"
    if path is None:
        path, where = celery_app_path(), "TENANT_ROUTER_CELERY_APP"
    if not path:
        raise UsageError(
            "--executor celery needs the project's Celery app.",
            hint="Pass --celery-app proj.celery:app, or set TENANT_ROUTER_CELERY_APP.",
        )
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = "pip install 'tenant-router[celery]'" if exc.name in ("celery", "kombu") else None
        raise ConfigurationError(f"{where} {path!r}: cannot import {module_name}: {exc}.", hint=hint) from exc
    app = getattr(module, attribute or "app", None)
    if app is None or not hasattr(app, "send_task"):
        raise ConfigurationError(
            f"{where} {path!r}: {module_name} has no Celery app named {attribute or 'app'!r}."
        )
    return app


class BrokerLost(ExecutorError):
    """The broker stopped answering mid-run (the run waits a while for it to come back)."""


def broker_error(name: str, exc: BaseException) -> BrokerLost:
    """The one line for a broker that cannot be reached."""
    return BrokerLost(
        f"Celery broker {name} unreachable: {one_line_error(exc)}",
        hint="Check the broker (CELERY_BROKER_URL) is up and reachable from this host.",
    )


def broker_gone(name: str, seconds: float, exc: BaseException) -> ExecutorError:
    """The one line for a broker that stayed away longer than the run waits for it."""
    return ExecutorError(
        f"Celery broker {name} unreachable for {seconds:g} s, the longest the run waits "
        f"(TENANT_ROUTER_CELERY_BROKER_OUTAGE): {one_line_error(exc)}",
        hint="Databases the workers held are reported unknown: `tenant-router status` reads where they "
        "stand, and --only-failed settles them once the broker is back.",
    )


def refusal_error(message: dict[str, Any], worker: str | None) -> ExecutorError:
    """The one line for a worker that refused the run: other code, or settings it cannot load."""
    worker = worker or "a worker"
    if message.get("reason") == "graph":
        ours, theirs = (str(message.get(side))[:12] for side in ("ours", "theirs"))
        return ExecutorError(
            f"Celery worker {worker} runs other code: its {message.get('orm')} migrations differ from "
            f"this run's (content digest {ours} there, {theirs} here).",
            hint="Deploy the same release to the workers and to the host that runs tenant-router (the "
            "digest covers every migration file, Alembic revision, env.py and the ORM's options).",
        )
    return ExecutorError(f"Celery worker {worker} cannot load tenant-router: {message.get('error')}")


class Outage:
    """A broker that went away mid-run: how long ago, and how many tries at it since."""

    def __init__(self, lost: BrokerLost, seconds: float) -> None:
        self.lost, self.seconds = lost, seconds
        self.since, self.tries = time.monotonic(), 0

    def wait(self, name: str) -> None:
        """Sleep before the next try (back-off from 0.25 s to 5 s); the run's end once it has lasted
        `seconds` (TENANT_ROUTER_CELERY_BROKER_OUTAGE)."""
        waited = time.monotonic() - self.since
        cause = self.lost.__cause__ or self.lost
        if waited >= self.seconds:
            raise broker_gone(name, self.seconds, cause) from cause
        time.sleep(min(0.25 * 2**self.tries, 5.0, self.seconds - waited))
        self.tries += 1


class Broker:
    """The project's Celery app and a connection to its broker, opened when the run starts."""

    def __init__(self, app: str | None, queue: str) -> None:
        self.app, self.app_path, self.queue = load_app(app), app or celery_app_path(), queue
        self.connection = self.app.connection_for_write()
        # kombu shows a password as **; the host says which broker: no credentials at all
        self.name = re.sub(r"//[^@/]*@", "//", mask_url(self.connection.as_uri(include_password=False)))
        self.lost = False  # once True nothing more is sent: revoking or stopping would only wait for it
        try:
            self.connection.ensure_connection(max_retries=2, interval_start=0.2, timeout=5)
        except Exception as exc:
            raise broker_error(self.name, exc) from exc
        self.probe = Probe(self.app, queue)

    def error(self, exc: BaseException) -> BrokerLost:
        """The broker went away: remember it (nothing is sent until it is back), and the one line that says so."""
        self.lost = True
        return broker_error(self.name, exc)

    def reconnect(self) -> bool:
        """A new connection to the broker, if it answers now (one quick try); True when it did."""
        fresh = self.app.connection_for_write()
        try:
            fresh.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            fresh.default_channel  # noqa: B018 (a channel, or the error now rather than later)
        except Exception:
            with contextlib.suppress(Exception):
                fresh.release()
            return False
        with contextlib.suppress(Exception):
            self.connection.release()
        self.connection, self.lost = fresh, False
        return True

    def lease(self, run_id: str, outage: float, keys: Callable[[], Iterable[str]]) -> RunLease:
        """The run's lease on this broker (celery_lease.py), set now."""
        try:
            return RunLease(self.app, run_id, outage, keys)
        except Exception as exc:
            raise self.error(exc) from exc

    def not_held(self, flights: list[Any]) -> list[Any]:
        """Those of `flights` (sent, not started) whose message the broker no longer holds (none when
        it cannot tell: they are waited for)."""
        held = self.queued_ids()
        return [] if held is None else [f for f in flights if f.celery_id not in held]

    def queued_ids(self) -> set[str] | None:
        """The ids of the task messages the broker still holds for this queue (waiting, or delivered
        and not acknowledged); None when it cannot tell (not Redis)."""
        try:
            client = redis_of(self.connection)
            if client is None:
                return None
            channel = self.connection.default_channel
            raw = [*client.lrange(self.queue, 0, -1)]
            raw += [json.loads(v)[0] for v in client.hvals(channel.unacked_key)]
        except Exception:
            return None
        ids = set()
        for item in raw:
            with contextlib.suppress(Exception):
                message = json.loads(item) if isinstance(item, bytes | str) else item
                ids.add(str(message["headers"]["id"]))
        return ids

    def send(self, celery_id: str, message: dict[str, Any]) -> None:
        """One task message to the workers' queue (names only, as JSON)."""
        try:
            self.app.send_task(
                TASK_NAME, kwargs=message, queue=self.queue, task_id=celery_id, serializer="json"
            )
        except Exception as exc:
            raise self.error(exc) from exc

    def revoke(self, celery_ids: list[str], *, kill: bool = False) -> None:
        """Best effort: an unreachable broker is reported elsewhere."""
        if not celery_ids or self.lost:
            return
        with contextlib.suppress(Exception):
            options = {"terminate": True, "signal": "SIGKILL"} if kill else {}
            self.app.control.revoke(celery_ids, **options)

    def ask_to_stop(self, stop_queues: Iterable[str]) -> None:
        """A stop request on each running task's own queue (its heartbeat reads it)."""
        if self.lost:
            return
        with contextlib.suppress(Exception):
            channel = self.connection.default_channel
            producer = self.connection.Producer(channel)
            for name in stop_queues:
                channel.queue_declare(queue=name, auto_delete=False)
                producer.publish("stop", exchange="", routing_key=name, serializer="json")

    def delete_queues(self, names: Iterable[str]) -> None:
        """Remove the run's own queues (best effort)."""
        with contextlib.suppress(Exception):
            channel = self.connection.default_channel
            for name in names:
                channel.queue_delete(name)

    def close(self) -> None:
        """Release the connection (the executor's close does it when one was made)."""
        with contextlib.suppress(Exception):
            self.connection.release()


class Probe:
    """Asks the workers, in the background, who consumes the queue, whether they know the task, and
    how many tasks they run at once; the run does not wait for the answer to start sending."""

    def __init__(self, app: Any, queue: str) -> None:
        self.app, self.queue = app, queue
        self.consumers: set[str] = set()
        self.registered = False
        self.concurrency = 0
        self.error: BaseException | None = None
        self.checked = False
        self.finished = threading.Event()
        threading.Thread(target=self._ask, name="tenant-router-celery-probe", daemon=True).start()

    def _ask(self) -> None:
        try:
            inspect = self.app.control.inspect(timeout=PROBE_SECONDS)
            active = inspect.active_queues() or {}
            self.consumers = {
                w for w, queues in active.items() if any(q.get("name") == self.queue for q in queues)
            }
            if self.consumers:
                targeted = self.app.control.inspect(
                    destination=sorted(self.consumers), timeout=PROBE_SECONDS, limit=len(self.consumers)
                )
                known = targeted.registered() or {}
                self.registered = any(TASK_NAME in names for names in known.values())
                stats = targeted.stats() or {}
                self.concurrency = sum(
                    int((s.get("pool") or {}).get("max-concurrency") or 1) for s in stats.values()
                )
        except Exception as exc:
            self.error = exc
        finally:
            self.finished.set()

    def window(self, broker: Broker) -> int | None:
        """Once answered (None before, and after the first call): how many tasks the workers take at
        once; an ExecutorError when nobody consumes the queue or the workers do not know the task."""
        if not self.finished.is_set() or self.checked:
            return None
        self.checked = True
        if self.error is not None:
            raise broker.error(self.error)
        start = f"celery -A {broker.app_path or 'proj.celery:app'} worker -Q {self.queue}"
        if not self.consumers:
            raise ExecutorError(
                f"No Celery worker consumes queue {self.queue!r} on {broker.name} "
                f"(none answered within {PROBE_SECONDS:g} s); nothing was sent to a tenant database.",
                hint=f"Start one: {start}",
            )
        if not self.registered:
            raise ExecutorError(
                f"The Celery workers consuming {self.queue!r} ({', '.join(sorted(self.consumers))}) "
                f"do not know the task {TASK_NAME}.",
                hint="Call tenant_router.celery.install(app) where the project makes its Celery app.",
            )
        return max(self.concurrency + len(self.consumers), 1)
