"""The processes of a deployment, for the benches that measure through them.

An app database of the run's own on the local PostgreSQL server (dropped by
``leftovers.dropped_afterwards`` with the rest of the run's prefix), an empty Redis
database (emptied again at the end), ``celery worker`` and ``gunicorn`` processes started
with the bench's environment, and what /proc says of their CPU time and memory.
"""

from __future__ import annotations

import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests
from psycopg import sql

from bench.deployed import deployed_settings

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
_TICK = os.sysconf("SC_CLK_TCK")
#: ``celery`` under cProfile counting CPU time (not waiting): argv[1] is the output file.
_PROFILED = """
import cProfile, sys, time
from celery.__main__ import main
out, sys.argv = sys.argv[1], ["celery", *sys.argv[2:]]
profile = cProfile.Profile(time.process_time)
profile.enable()
try:
    main()
except SystemExit:
    pass
finally:
    profile.disable()
    profile.dump_stats(out)
"""


@contextmanager
def empty_redis(url: str) -> Iterator[None]:
    """Refuse a Redis database holding anything; empty it after the block (the broker's
    queues and bindings of this run, nothing else)."""
    import redis

    broker = redis.Redis.from_url(url)
    if broker.dbsize():
        sys.exit(f"{url} is not empty: choose an empty Redis database")
    try:
        yield
    finally:
        broker.flushdb()


def django_env(prefix: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Make the app database ``<prefix>app`` and set up Django in this process with the
    environment the bench's worker and web processes get (returned)."""
    database = f"{prefix}app"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **deployed_settings(),
        "RM_DATA_DIR": tempfile.mkdtemp(prefix="rm-bench-"),
        "DATABASE_URL": f"postgres://postgres:postgres@127.0.0.1:5432/{database}",
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return env


@contextmanager
def running(name: str, command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """Run ``command`` (a program of the virtualenv) for the block; its output goes to a
    log under ``RM_DATA_DIR``."""
    log = Path(env["RM_DATA_DIR"]) / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own programs, fixed arguments
            [str(Path(sys.executable).with_name(command[0])), *command[1:]],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        time.sleep(3)
        if process.poll() is not None:
            raise SystemExit(f"{name} exited; see {log}")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def worker(env: dict[str, str], concurrency: int, profile: str | None = None):
    """A ``celery worker`` with the prefork pool, as deployed; with ``profile``, one
    process (the solo pool) under cProfile, whose statistics go to that file on exit."""
    options = ["--app", "config", "worker", "--without-gossip", "--without-mingle",
               "-l", "warning"]
    if profile is None:
        return running("worker", ["celery", *options, "--pool", "prefork",
                                  "--concurrency", str(concurrency)], env)
    return running("worker", ["python", "-c", _PROFILED, profile, *options, "--pool", "solo"],
                   env)


@contextmanager
def web(env: dict[str, str], workers: int) -> Iterator[tuple[str, subprocess.Popen]]:
    """gunicorn serving the app, as deployed; yields its base URL, once it answers, and
    its main process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with running("web", ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi",
                         "--bind", f"127.0.0.1:{port}", "--workers", str(workers)], env) as server:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{url}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url, server


def process_tree(process: subprocess.Popen) -> list[int]:
    """A process and its children (a worker's pool processes)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return [process.pid, *map(int, children)]


def cpu_seconds(process: subprocess.Popen) -> float:
    """User + system CPU time of a process and its children."""
    total = 0
    for pid in process_tree(process):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def rss_mib(process: subprocess.Popen) -> float:
    """Resident memory of a process and its children (pages a forked child still shares
    with its parent are counted in each)."""
    return _summed(process, "status", "VmRSS:")


def own_rss_mib(process: subprocess.Popen) -> float:
    """Resident memory of the process alone, without its children."""
    return _summed_over([process.pid], "status", "VmRSS:")


def largest_rss_mib(process: subprocess.Popen) -> float:
    """Resident memory of the largest of a process's children (a web worker)."""
    return max(_summed_over([pid], "status", "VmRSS:") for pid in process_tree(process)[1:])


def pss_mib(process: subprocess.Popen) -> float:
    """Proportional memory of a process and its children: each shared page divided among
    the processes sharing it, so the sum is what the process tree costs the machine."""
    return _summed(process, "smaps_rollup", "Pss:")


def _summed(process: subprocess.Popen, proc_file: str, field: str) -> float:
    return _summed_over(process_tree(process), proc_file, field)


def _summed_over(pids: list[int], proc_file: str, field: str) -> float:
    total = 0
    for pid in pids:
        text = Path(f"/proc/{pid}/{proc_file}").read_text()
        total += next(int(line.split()[1]) for line in text.splitlines()
                      if line.startswith(field))
    return total / 1024


def print_profile(path: str) -> None:
    """A profiled worker's (``worker(profile=...)``) own CPU time by function, then by
    package: where its tasks' CPU goes (the warm-up and the idle loop included)."""
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(25)
    by_module: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():
        module = filename.split("site-packages/")[-1].split("/lib/python3")[-1]
        package = "/".join(module.split("/")[:2]) if "/" in module else module
        by_module[package] = by_module.get(package, 0.0) + own
    print("own time by package:")
    for package, seconds in sorted(by_module.items(), key=lambda item: -item[1])[:20]:
        print(f"  {seconds:8.2f} s  {package}")
