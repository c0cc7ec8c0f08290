"""The HTTP service under gunicorn beside the same calls in process, measured in one run.

    .venv/bin/python bench/service.py [--data DIR] [--workers 2] [--threads 4] [--repeat 3]

Builds (or reuses, under bench/results/service-store) a store with the bundled corpus, starts
`gunicorn -c gunicorn.conf.py` on loopback, and prints:

- single client: search and review p50/p99, in process (``Hindsight.search``/``.review`` on
  a thread, as gunicorn's gthread workers call them) and over HTTP with keep-alive, and the
  HTTP/in-process ratio of the p50s (target <= 1.2);
- 8 concurrent clients: throughput and p50/p99 of search and of review;
- memory of the master and of each worker (RSS, PSS, private), from /proc/PID/smaps_rollup:
  with the model loaded before the fork, a worker's private memory is a small part of its
  RSS, and the sum of PSS is far below workers x RSS.

Every request goes to 127.0.0.1 only; loops are bounded by --repeat.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.evaluation import load_eval_set
from service.config import Config
from service.hindsight import Hindsight
from tests.server import gunicorn_server

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "tests" / "data" / "review_plans.yaml"
CLIENTS = 8


def pct(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.array(seconds) * 1000, q))


def timed(call: Callable[[Any], Any], inputs: list[Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        for item in inputs:
            started = time.perf_counter()
            call(item)
            times.append(time.perf_counter() - started)
    return times


def concurrent(
    call: Callable[[requests.Session, Any], Any], inputs: list[Any], per_client: int
) -> tuple[float, list[float]]:
    """CLIENTS threads, each with its own keep-alive session: (requests per second, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        session = requests.Session()
        mine = []
        for i in range(per_client):
            item = inputs[(n * per_client + i) % len(inputs)]
            started = time.perf_counter()
            call(session, item)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return len(latencies) / (time.perf_counter() - started), latencies


def memory(pid: int) -> dict[str, int]:
    """RSS, PSS and private memory of one process, in MiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])  # kB
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"rss": fields["Rss"] // 1024, "pss": fields["Pss"] // 1024, "private": private // 1024}


def server_processes(bind: str) -> tuple[int, list[int]]:
    """The gunicorn master serving ``bind`` and its workers (found through /proc)."""
    master = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gunicorn" in cmdline and f"HINDSIGHT_BIND={bind}".encode() in environ:
            parent = _ppid(int(entry.name))
            if b"gunicorn" not in Path(f"/proc/{parent}/cmdline").read_bytes():
                master = int(entry.name)
    if master is None:
        raise RuntimeError(f"no gunicorn master found for {bind}")
    workers = [
        int(e.name)
        for e in Path("/proc").iterdir()
        if e.name.isdigit() and _ppid(int(e.name)) == master
    ]
    return master, sorted(workers)


def _ppid(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def row(label: str, seconds: list[float], base: float | None = None) -> None:
    p50, p99 = pct(seconds, 50), pct(seconds, 99)
    ratio = f"{p50 / base:>10.2f}" if base else f"{'':>10}"
    print(f"{label:44} {p50:>8.1f} {p99:>8.1f} {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "results" / "service-store")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the inputs")
    args = parser.parse_args()

    config = Config.load({"data_dir": str(args.data)}, environ={})
    hs = Hindsight(config)
    started = time.perf_counter()
    report = hs.init()
    print(
        f"store: {args.data} ({len(report.ids)} documents, ready in "
        f"{time.perf_counter() - started:.0f} s)"
    )
    queries = [item["query"] for item in load_eval_set()]
    plans = [entry["plan"] for entry in yaml.safe_load(PLANS.read_text())]

    env = {"HINDSIGHT_DATA_DIR": str(args.data.resolve())}
    with gunicorn_server(env, workers=args.workers, threads=args.threads) as base:
        bind = base.removeprefix("http://")
        # The in-process side is set up as the server is: warmed on the main thread (as
        # create_app warms the gunicorn master), then called on a thread of its own (as
        # requests are in gthread workers). On a busy two-core machine, torch called on the
        # main thread, or on threads started before the main thread ran it, was several
        # times slower here, which would flatter the HTTP side.
        hs.index.ensure_current()
        hs.review(plans[0])
        inproc = ThreadPoolExecutor(1)

        def local_search(q: str) -> None:
            inproc.submit(hs.search, q, k=10).result()

        def local_review(plan: str) -> None:
            inproc.submit(hs.review, plan, k=5).result()

        local_review(plans[0])
        session = requests.Session()

        def http_search(q: str, s: requests.Session = session) -> None:
            r = s.get(base + "/api/v1/search", params={"q": q, "k": 10}, timeout=60)
            r.raise_for_status()

        def http_review(plan: str, s: requests.Session = session) -> None:
            r = s.post(base + "/api/v1/review", json={"plan": plan, "k": 5}, timeout=120)
            r.raise_for_status()

        for q in queries[:5]:
            http_search(q)  # the first requests of each worker
        for p in plans[:2]:
            http_review(p)

        # Interleave the two sides pass by pass, so drift on a shared machine hits both.
        local_s: list[float] = []
        remote_s: list[float] = []
        local_r: list[float] = []
        remote_r: list[float] = []
        for _ in range(args.repeat):
            local_s += timed(local_search, queries, 1)
            remote_s += timed(http_search, queries, 1)
            local_r += timed(local_review, plans, 1)
            remote_r += timed(http_review, plans, 1)

        print(f"\nsingle client: {len(queries)} queries and {len(plans)} plans x {args.repeat}")
        print(f"{'':44} {'p50 ms':>8} {'p99 ms':>8} {'p50 ratio':>10}")
        row("search, in process (Hindsight.search)", local_s)
        row("search, HTTP GET /api/v1/search", remote_s, pct(local_s, 50))
        row("review, in process (Hindsight.review)", local_r)
        row("review, HTTP POST /api/v1/review", remote_r, pct(local_r, 50))
        print(
            f"target: HTTP p50 <= 1.2 x in process: search "
            f"{pct(remote_s, 50) / pct(local_s, 50):.2f}, review "
            f"{pct(remote_r, 50) / pct(local_r, 50):.2f}"
        )

        print(f"\n{CLIENTS} concurrent clients ({args.workers} workers x {args.threads} threads):")
        print(f"{'':44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for label, call, inputs, per_client in (
            ("search", http_search, queries, 6 * args.repeat),
            ("review", http_review, plans, 2 * args.repeat),
        ):
            rate, latencies = concurrent(lambda s, item, c=call: c(item, s), inputs, per_client)
            print(f"{label:44} {rate:>8.1f} {pct(latencies, 50):>8.1f} {pct(latencies, 99):>8.1f}")
        single = statistics.median(remote_s)
        print(f"(one client, one search at a time: {1 / single:.1f} req/s)")

        master, workers = server_processes(bind)
        print("\nmemory (MiB)        rss      pss  private")
        total_pss = 0
        for label, pid in [("master", master)] + [(f"worker {w}", w) for w in workers]:
            mem = memory(pid)
            total_pss += mem["pss"]
            print(f"{label:14} {mem['rss']:>8} {mem['pss']:>8} {mem['private']:>8}")
        worker_rss = [memory(w)["rss"] for w in workers]
        print(
            f"all processes: PSS {total_pss} MiB; {len(workers)} workers each loading the model "
            f"would need about {sum(worker_rss) + memory(master)['rss']} MiB"
        )
        print(f"pid {os.getpid()} done", flush=True)


if __name__ == "__main__":
    main()
