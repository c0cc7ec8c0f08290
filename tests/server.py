"""Run the real service under gunicorn for tests: a subprocess on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_store(src_data_dir: Path, dst_data_dir: Path) -> None:
    """Copy a SQLite data dir consistently (the backup API, so WAL pages are included)."""
    dst_data_dir.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(src_data_dir / "hindsight.db")
    dst = sqlite3.connect(dst_data_dir / "hindsight.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    if (src_data_dir / "index").is_dir():
        shutil.copytree(src_data_dir / "index", dst_data_dir / "index", dirs_exist_ok=True)


@contextmanager
def gunicorn_server(
    env: dict[str, str], *, workers: int = 1, threads: int = 4, ready_timeout: float = 180
) -> Iterator[str]:
    """Start `gunicorn -c gunicorn.conf.py` with ``env`` (HINDSIGHT_* settings) and yield its
    base URL once /readyz answers 200; stop it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
    full_env |= {
        "HINDSIGHT_BIND": f"127.0.0.1:{port}",
        "HINDSIGHT_WORKERS": str(workers),
        "HINDSIGHT_THREADS": str(threads),
    }
    full_env |= env
    exe = str(Path(sys.executable).parent / "gunicorn")
    log = open(Path(env.get("HINDSIGHT_DATA_DIR", ".")) / "gunicorn.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [exe, "-c", str(ROOT / "gunicorn.conf.py")],
        cwd=str(ROOT),
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                log.flush()
                raise RuntimeError(
                    f"gunicorn exited with {proc.returncode}: "
                    + Path(log.name).read_text(errors="replace")[-3000:]
                )
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn not ready after {ready_timeout} s")
            time.sleep(0.25)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
