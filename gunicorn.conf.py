"""gunicorn settings for Hindsight: `gunicorn -c gunicorn.conf.py`."""

import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("HINDSIGHT_BIND", "127.0.0.1:8000")
wsgi_app = "service.app:create_app()"
# The model and indexes load once in the master (preload) and are shared by forked workers
# (copy-on-write): more workers cost little memory.
preload_app = True
workers = int(os.environ.get("HINDSIGHT_WORKERS", "2"))
threads = int(os.environ.get("HINDSIGHT_THREADS", "4"))
# Keep gthread: requests run on the worker's own threads. torch's OpenMP pool, started in the
# master during preload, does not survive fork on a process's main thread (a forked child
# that runs the model there hangs), and torch on fresh threads stays fast on a busy machine.
worker_class = "gthread"
timeout = 60
graceful_timeout = 20
keepalive = 5
# A search query may be 2,000 characters, percent-encoded in the request line.
limit_request_line = 8190
accesslog = "-"

# Prometheus multiprocess mode: every worker writes its samples under this directory and
# /metrics sums them, so a scrape sees the whole server whichever worker answers it. It must
# be set before the app (and prometheus_client) is imported, which is why it lives here.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_own_metrics_dir = not _metrics_dir
if not _metrics_dir:
    _metrics_dir = tempfile.mkdtemp(prefix="hindsight-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
else:
    for _stale in Path(_metrics_dir).glob("*.db"):  # samples of a previous run
        _stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
