"""The forked-processes executor: worker processes fed from one work queue (`--jobs N`).

Workers are forked from the run's process after Django is set up (so they start in milliseconds with the
configuration and migration graphs already loaded), take one task at a time, stream their events back,
and retire after a number of tasks or above a memory ceiling so memory stays flat over any number of
tenants. A worker that dies fails the databases it held (read again: lost.py) and is replaced.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from ..orm_backends.assistants import Assistants
from ..preflight import Verdict
from ..record.captured import OutputCapture
from ..record.events import DONE_EVENTS, Status, TenantStarted, WorkerLost
from ..record.keys import DbKey
from ..record.report import MigrationReport, one_line_error
from ..safety import sessions
from ..safety.sessions import Session
from .dispatch import Dispatch, fail_unfinished, interrupted
from .lost import ABORTED, settle_lost
from .tasks import Task, execute

DEFAULT_TASKS_PER_WORKER = 200
DEFAULT_MAX_RSS_MB = 200


def resident_mb() -> float:
    """This process's resident memory now, in MiB."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# The forked workers' copy of the run's state (set just before forking, read in the child).
_inherited: Assistants | None = None


def die_with_parent(parent_pid: int) -> None:
    """End this worker as soon as the run's process is gone (killed with -9, crashed).

    Linux: the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG), even mid-migration: the
    migration's transaction is rolled back, as when a second Ctrl-C aborts the run. Elsewhere a thread
    watches the parent's pid. Either way nobody is left to record or stop what a worker would do next.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != parent_pid:  # it died before the signal was armed
        os._exit(1)
    if not armed:
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="tenant-router-parent-watch", daemon=True).start()


PR_SET_PDEATHSIG = 1


def _worker_main(
    conn: Connection, max_tasks: int, max_rss_mb: float, parent_pid: int, inherited: list[Connection]
) -> None:
    """A worker: receive a task, stream its events, answer with its pending units; retire when told."""
    # What this worker's code writes travels to the run as events: never to the terminal, where the
    # run's live view is (and this process's inherited copy of it, which would be drawn stale).
    real = (sys.__stdout__ or sys.stdout, sys.__stderr__ or sys.stderr)
    OutputCapture(lambda event: conn.send(("event", event)), real).start()
    # The parent decides what an interrupt means: a stop request reaches workers through the shared
    # flag (they stop at the next migration boundary); an abort kills them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent(parent_pid)
    sessions.on_opened(lambda key, session: conn.send(("session", (key, session))))
    for end in inherited:  # the run's ends of every pipe: without them a dead run means EOF here
        with contextlib.suppress(OSError):
            end.close()
    assert _inherited is not None, "workers are forked from a run"
    assistants = _inherited  # bound by the run (tenant selection, lock timeout), connections closed
    done = 0
    try:
        while True:
            try:
                task = conn.recv()
            except EOFError:
                return
            if task is None:
                return
            report = MigrationReport(lambda event: conn.send(("event", event)))
            try:
                pending = execute(task, assistants, report)
            except Exception as exc:  # a bug or a broken assistant: fail the task's databases
                conn.send(("crashed", one_line_error(exc)))
                continue
            done += 1
            retiring = done >= max_tasks or resident_mb() > max_rss_mb
            conn.send(("done", (pending, retiring)))  # one message: no task can be sent in between
            if retiring:
                return
    finally:
        assistants.close()
        from django.db import connections

        connections.close_all()


@dataclass(eq=False)
class Worker:
    process: BaseProcess
    conn: Connection
    task: Task | None = None
    finished: set[DbKey] = field(default_factory=set)
    sessions: dict[DbKey, set[Session]] = field(default_factory=dict)  # the task's server sessions


class ProcessExecutor:
    """Runs tasks on `jobs` worker processes; one slow database holds up no other."""

    def __init__(
        self,
        assistants: Assistants,
        report: MigrationReport,
        jobs: int,
        *,
        max_per_host: int | None = None,
        tasks_per_worker: int = DEFAULT_TASKS_PER_WORKER,
        max_rss_mb: float = DEFAULT_MAX_RSS_MB,
    ) -> None:
        self.assistants, self.report, self.jobs = assistants, report, jobs
        self.dispatch = Dispatch(max_per_host)
        self.tasks_per_worker, self.max_rss_mb = tasks_per_worker, max_rss_mb
        self.context = multiprocessing.get_context("fork")
        self.workers: list[Worker] = []
        self.aborted = False

    # -- worker lifecycle ----------------------------------------------------------------------
    def _spawn(self) -> Worker:
        global _inherited
        from django.db import connections

        connections.close_all()  # never share a database socket with a child
        self.assistants.close()
        _inherited = self.assistants
        parent, child = self.context.Pipe()
        inherited = [parent, *(w.conn for w in self.workers)]
        process = self.context.Process(
            target=_worker_main,
            args=(child, self.tasks_per_worker, self.max_rss_mb, os.getpid(), inherited),
            daemon=True,
        )
        process.start()
        child.close()
        return Worker(process, parent)

    def close(self) -> None:
        """Ask every worker to leave; terminate the ones that do not."""
        for worker in self.workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.conn.send(None)
        for worker in self.workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
        self.workers = []

    # -- the loop ------------------------------------------------------------------------------
    def run(self, tasks: Iterable[Task]) -> list[tuple[DbKey, Verdict]]:
        """Execute every task on the workers; return the units their pre-flight left pending."""
        self.dispatch.queue(tasks)
        pending: list[tuple[DbKey, Verdict]] = []
        while len(self.workers) < min(self.jobs, len(self.dispatch.waiting)):
            self.workers.append(self._spawn())
        while True:
            try:
                self._send()
                busy = [w for w in self.workers if w.task is not None]
                if not busy:
                    return pending
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for worker in busy:
                    if worker.conn in ready or worker.process.sentinel in ready:
                        pending += self._serve(worker)
            except KeyboardInterrupt:
                self._interrupted()

    def _send(self) -> None:
        waiting = self.dispatch.waiting
        if self.report.stopping:
            waiting.clear()
            return
        for worker in self.workers:
            if worker.task is not None or not waiting:
                continue
            task = self.dispatch.next()
            if task is None:
                return
            worker.task, worker.finished, worker.sessions = task, set(), {}
            self.dispatch.sent(task)
            worker.conn.send(task)

    def _serve(self, worker: Worker) -> list[tuple[DbKey, Verdict]]:
        """Handle what a worker sent, or its death."""
        pending: list[tuple[DbKey, Verdict]] = []
        while True:
            try:
                if not worker.conn.poll():
                    break
                kind, payload = worker.conn.recv()
            except (EOFError, OSError):
                break
            if kind == "event":
                if isinstance(payload, TenantStarted):  # the worker's lane in a picture of the run
                    payload = replace(payload, worker=f"pid {worker.process.pid}")
                self.report.emit(payload)
                if isinstance(payload, DONE_EVENTS):
                    worker.finished.add(DbKey(payload.orm, payload.tenant, payload.alias))
            elif kind == "session":
                key, session = payload
                worker.sessions.setdefault(DbKey(*key), set()).add(session)
            elif kind == "crashed":
                self._fail_unfinished(worker, f"worker error: {payload}")
                self._release(worker)
            elif kind == "done":
                units, retiring = payload
                pending += units
                self._release(worker)
                if retiring:
                    worker.process.join(timeout=10)
                    self._replace(worker)
                    return pending
        if not worker.process.is_alive():
            worker.process.join(timeout=1)
            code = worker.process.exitcode
            if worker.task is not None:
                died = f"worker process died ({_describe_exit(code)})"
                error, status = (ABORTED, Status.INTERRUPTED) if self.aborted else (died, Status.FAILED)
                if not self.aborted:
                    self.report.emit(WorkerLost(f"pid {worker.process.pid}", _describe_exit(code)))
                held = worker.task.units, worker.finished, worker.sessions
                settle_lost(self.report, self.assistants, *held, error, status)
                self._release(worker)
            self._replace(worker)
        return pending

    def _release(self, worker: Worker) -> None:
        if worker.task is not None:
            self.dispatch.done(worker.task)
        worker.task = None

    def _replace(self, worker: Worker) -> None:
        self.workers.remove(worker)
        if self.dispatch.waiting and not self.report.stopping:
            self.workers.append(self._spawn())

    def _fail_unfinished(self, worker: Worker, error: str, status: Status = Status.FAILED) -> None:
        """Every database of the worker's task that has no outcome yet failed with `error`."""
        assert worker.task is not None
        fail_unfinished(self.report, worker.task.units, worker.finished, error, status)

    def _interrupted(self) -> None:
        """An interrupt: stop gracefully (running databases reach a boundary); once stopping, abort."""
        self.aborted = interrupted(self.report)
        if self.aborted:
            for worker in self.workers:
                if worker.process.is_alive():
                    worker.process.kill()


def _describe_exit(code: Any) -> str:
    if isinstance(code, int) and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
