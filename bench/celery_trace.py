"""Where an `--executor celery` run's wall time goes: a timeline of the dispatcher, one run at a time.

    BENCH_DB_PREFIX=benchcel .venv/bin/python bench/celery_trace.py --backend postgres --tenants 200 \
        --state current --runs 3 [--workers 2] [--jobs-too] [--tracemalloc FRAMES]

Provisions the fleet (again before each run unless the state is `current`), starts the workers once,
and runs `tenant-router migrate --executor celery` through a shim that timestamps, in the run's process:
start, Django ready, executor ready (broker connected), each task sent, each reply received (by kind),
the probe's answer, run() returned, close() done, exit. Workers' task times come from their logs.
Printed per run: the phases, messages per kind, the time the dispatcher spent inside send / receive /
handle, and the time tasks waited between being sent and being started (the window's cost).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time

import contenders
from celery_workers import APP, Workers, broker_url
from provision import PYTHON, REPO, WORK, WORKLOAD, make_fleet, provision, teardown
from verify import expected_heads, verify

SHIM = r"""
import json, os, sys, time, atexit
T0 = time.perf_counter()
if os.environ.get("TRACE_MALLOC"):
    import tracemalloc
    tracemalloc.start(int(os.environ["TRACE_MALLOC"]))
marks = []
def mark(what, **data):
    marks.append((time.perf_counter() - T0, what, data))
out = sys.argv.pop(1)
@atexit.register
def dump():
    mark("exit")
    with open(out, "w") as fh:
        json.dump(marks, fh)
import tenant_router.executors.celery as ce
import tenant_router.executors.celery_broker as cb
Ex = ce.CeleryExecutor
init, run, close = Ex.__init__, Ex.run, Ex.close
send, receive, handle, check = Ex._send, Ex._receive, Ex._handle, cb.Probe.window
spent = {"dispatch": 0.0, "receive": 0.0, "handle": 0.0}
def timed(name, func):
    def wrapper(self, *a, **k):
        t = time.perf_counter()
        try:
            return func(self, *a, **k)
        finally:
            spent[name] += time.perf_counter() - t
    return wrapper
def _init(self, *a, **k):
    mark("executor init")
    init(self, *a, **k)
    mark("executor ready")
def _run(self, tasks):
    tasks = list(tasks)
    mark("run", tasks=len(tasks), kind=tasks[0].kind if tasks else None)
    try:
        return run(self, tasks)
    finally:
        mark("run returned", window=self.window, spent=dict(spent))
def _close(self):
    if os.environ.get("TRACE_MALLOC"):  # what the run's process holds once every task is done
        import gc
        gc.collect()
        snap = tracemalloc.take_snapshot()
        total = sum(s.size for s in snap.statistics("filename"))
        with open(out + ".malloc.txt", "w") as fh:
            fh.write(f"traced total {total} bytes\n")
            for stat in snap.statistics("lineno")[:25]:
                fh.write(f"{stat}\n")
            for stat in snap.statistics("traceback")[:8]:
                fh.write(f"--- {stat.size} bytes in {stat.count} blocks\n")
                fh.write("\n".join(stat.traceback.format()[-12:]) + "\n")
    close(self)
    mark("closed")
def _receive(self):
    m = receive(self)
    if m is not None:
        mark("recv", t=m.get("t"), task=m.get("task"))
    return m
def _check(self, broker):
    window = check(self, broker)
    if window is not None:
        mark("probe answered", window=window)
    return window
orig_send_task = None
def _dispatch(self):
    global orig_send_task
    app = self.broker.app
    if orig_send_task is None:
        orig_send_task = app.send_task
        def st(*a, **k):
            r = orig_send_task(*a, **k)
            mark("sent", task=k["kwargs"]["task"]["id"])
            return r
        app.send_task = st
    return send(self)
Ex.__init__, Ex.run, Ex.close = _init, _run, _close
Ex._send = timed("dispatch", _dispatch)
Ex._receive = timed("receive", _receive)
Ex._handle = timed("handle", handle)
cb.Probe.window = _check
import django.apps
ready = django.apps.registry.Apps.populate
def _populate(self, *a, **k):
    r = ready(self, *a, **k)
    if not any(m[1] == "django ready" for m in marks):
        mark("django ready")
    return r
django.apps.registry.Apps.populate = _populate
mark("imports done")
from tenant_router_cli.app import main
sys.argv[0] = "tenant-router"
main()
"""


def summarize(marks: list, worker_log: str, run_id_tasks: set[str]) -> dict:
    """Phases and costs of one traced run."""
    at = {}
    for t, what, _ in marks:
        at.setdefault(what, t)
    runs = [(t, d) for t, what, d in marks if what == "run"]
    returned = [(t, d) for t, what, d in marks if what == "run returned"]
    sent = {d["task"]: t for t, what, d in marks if what == "sent"}
    started = {}
    kinds: dict[str, int] = {}
    for t, what, d in marks:
        if what == "recv":
            kinds[d["t"]] = kinds.get(d["t"], 0) + 1
            if d["t"] == "started":
                started.setdefault(d["task"], t)
    waits = [started[k] - sent[k] for k in started if k in sent]
    # worker-side task times: "succeeded in X s"
    took = [float(x) for x in re.findall(r"succeeded in ([0-9.]+)s", worker_log)]
    return {
        "django_ready": round(at.get("django ready", float("nan")), 3),
        "executor_init": round(at.get("executor init", float("nan")), 3),
        "executor_ready": round(at.get("executor ready", float("nan")), 3),
        "phases": [
            {"kind": d0["kind"], "tasks": d0["tasks"], "start": round(t0, 3), "end": round(t1, 3)}
            for (t0, d0), (t1, _) in zip(runs, returned, strict=False)
        ],
        "probe_answered": round(at.get("probe answered", float("nan")), 3),
        "closed": round(at.get("closed", float("nan")), 3),
        "exit": round(at.get("exit", float("nan")), 3),
        "spent": returned[-1][1]["spent"] if returned else {},
        "window_at_end": returned[-1][1]["window"] if returned else None,
        "messages": kinds,
        "sent_to_started_s": {
            "n": len(waits),
            "median": round(statistics.median(waits), 4) if waits else None,
            "max": round(max(waits), 4) if waits else None,
            "sum": round(sum(waits), 3),
        },
        "worker_task_s": {
            "n": len(took),
            "sum": round(sum(took), 3),
            "first": took[:2],
            "median": round(statistics.median(took), 4) if took else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip())
    parser.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--tenants", type=int, required=True)
    parser.add_argument("--state", choices=("empty", "behind", "current"), required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--jobs-too", action="store_true", help="also time --jobs N (N = workers) each run")
    parser.add_argument(
        "--tracemalloc", type=int, default=0, metavar="FRAMES",
        help="snapshot the run's process's allocations when its tasks are done (top lines to <trace>.malloc.txt)",
    )  # fmt: skip
    args = parser.parse_args()
    fleet = make_fleet(WORKLOAD, args.backend, args.tenants)
    expected = expected_heads(fleet)
    workers = Workers(
        args.workers, {**fleet.env(), "CELERY_BROKER_URL": broker_url()}, WORK / "logs" / "celery"
    )
    shim = WORK / "celery_shim.py"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(SHIM)
    try:
        print(f"workers ready in {workers.start():.2f}s", flush=True)
        for number in range(1, args.runs + 1):
            if number == 1 or args.state != "current":
                provision(fleet, args.state)
            if args.jobs_too:
                command = contenders.tenant_router(fleet, args.workers)
                begin = time.perf_counter()
                subprocess.run(command.argv, env=command.env, cwd=REPO, check=True, capture_output=True)
                print(f"run {number}: --jobs {args.workers} {time.perf_counter() - begin:.2f}s", flush=True)
                if args.state != "current":
                    provision(fleet, args.state)
            command = contenders.celery(fleet, workers.queue, broker_url(), APP)
            marks_file = WORK / f"celery_trace_{number}.json"
            sizes = {name: len(workers.log(name)) for name in workers.procs}
            begin = time.perf_counter()
            done = subprocess.run(
                [str(PYTHON), str(shim), str(marks_file), *command.argv[1:]],
                env={**command.env, **({"TRACE_MALLOC": str(args.tracemalloc)} if args.tracemalloc else {})},
                cwd=REPO,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - begin
            if done.returncode:
                sys.exit(f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
            verify(fleet, expected, fleet.tenants, alembic=True, what=f"trace run {number}")
            log = "".join(workers.log(name)[sizes[name] :] for name in workers.procs)
            summary = summarize(json.loads(marks_file.read_text()), log, set())
            print(f"run {number}: celery wall {wall:.2f}s {json.dumps(summary)}", flush=True)
    finally:
        workers.stop()
        teardown(fleet)


if __name__ == "__main__":
    main()
