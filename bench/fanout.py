"""Event fan-out: resource events to webhook consumers through a real worker over Redis.

Usage: .venv/bin/python bench/fanout.py [-n 1000] [--consumers 10] [--concurrency CPUS]
                                        [--redis-url redis://127.0.0.1:6379/12]

Real: a throwaway PostgreSQL app database shared with a ``celery worker`` (prefork pool,
as deployed: delivery is mostly Python work, which threads would serialize), Redis as the
broker, a local HTTP server as the ten webhooks. Each event is a tag change of one of ten
resources through the resource services: its outbox row is written in the change's
transaction and published on commit; the worker fans it out and POSTs it to every
consumer. Latency is from the outbox row's creation (the commit, within a
millisecond) to the webhook request's arrival. Lost = expected (event, consumer) pairs
never received; duplicates are counted too. The resources are records only: no backend
database is made, as the providers' work is not what is measured here. The app database
carries a prefix of this run's own and is dropped at the end, whatever happened; the run
fails if it cannot be.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.leftovers import dropped_afterwards, run_prefix  # noqa: E402

ADMIN_URL = "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
PREFIX = run_prefix()


class Receiver(ThreadingHTTPServer):
    """Records (consumer, event id, arrival time, occurred_at) for every POST."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.received: list[tuple[str, int, float, str]] = []


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        arrived = time.time()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.received.append((self.path, body["id"], arrived, body["occurred_at"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="events")
    parser.add_argument("--consumers", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2,
                        help="worker processes")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    with dropped_afterwards(ADMIN_URL, PREFIX):
        run(args)


def run(args: argparse.Namespace) -> None:
    database = f"{PREFIX}fanout"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    worker = None
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "true",
            "RM_DATA_DIR": tempfile.mkdtemp(prefix="rm-bench-"),
            "DATABASE_URL": f"postgres://postgres:postgres@127.0.0.1:5432/{database}",
            "REDIS_URL": args.redis_url,
            "LOG_LEVEL": "WARNING",
            "RM_CONSUMER_ALLOWED_NETWORKS": "127.0.0.0/8",  # the webhooks are local
        }
        os.environ.update(env)
        import django
        import redis
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        redis.Redis.from_url(args.redis_url).flushdb()
        resources = seed(receiver, args.consumers)
        worker = start_worker(env, args.concurrency)
        started = time.perf_counter()
        emit(resources, args.n)
        emitted = time.perf_counter() - started
        expected = args.n * args.consumers
        deadline = time.monotonic() + args.timeout
        while len(receiver.received) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # late duplicates would arrive now
        report(receiver.received, expected, args, emitted, time.perf_counter() - started)
    finally:
        receiver.shutdown()
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        from django.db import connections

        connections.close_all()


def seed(receiver: Receiver, consumers: int) -> list:
    """Consumers first (so no existing resource is synced to them), then ten resources."""
    from consumers import services as consumer_services
    from providers.models import Provider
    from resourcemanager.identity.roles import SYSTEM
    from resourcemanager.resources.models import Resource

    host, port = receiver.server_address[:2]
    for number in range(consumers):
        consumer_services.create_consumer(
            SYSTEM, "bench", builder="webhook", name=f"hook{number}",
            properties={"url": f"http://{host}:{port}/c/{number}", "secret": "bench-secret"},
        )
    provider = Provider.objects.create(key="bench-pg", provider_class="postgresql",
                                       host="127.0.0.1", port=5432, username="postgres")
    return [
        Resource.objects.create(
            scope="bench", provider=provider, type="sql", name=f"db{number}",
            backend_name=f"rm_bench{number:05d}", status=Resource.Status.READY,
            credentials={"username": "u", "password": "p", "host": "h", "port": 5432,
                         "database": "d", "uri": "postgresql://u:p@h:5432/d"},
        )
        for number in range(10)
    ]


def emit(resources: list, events: int) -> None:
    from resourcemanager.identity.roles import SYSTEM
    from resourcemanager.resources import services

    for number in range(events):
        resource = resources[number % len(resources)]
        services.update_resource(SYSTEM, resource, tags=[f"run-{number}"])


def start_worker(env: dict[str, str], concurrency: int) -> subprocess.Popen:
    celery = Path(sys.executable).with_name("celery")
    log = open(Path(env["RM_DATA_DIR"]) / "worker.log", "wb")  # noqa: SIM115 - lives on
    process = subprocess.Popen(  # noqa: S603 - our own celery, fixed arguments
        [str(celery), "--app", "config", "worker", "--pool", "prefork", "--concurrency",
         str(concurrency), "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    time.sleep(3)
    if process.poll() is not None:
        raise SystemExit(f"the worker exited; see {log.name}")
    return process


def report(received: list, expected: int, args, emitted: float, total: float) -> None:
    pairs = [(path, event_id) for path, event_id, _, _ in received]
    unique = set(pairs)
    latencies = sorted(
        (arrived - datetime.fromisoformat(occurred).timestamp()) * 1000
        for _, _, arrived, occurred in received
    )
    print(f"{args.n} events x {args.consumers} webhook consumers = {expected} deliveries; "
          f"worker: {args.concurrency} processes; broker {args.redis_url}")
    print(f"events committed in {emitted:.1f} s; all received after {total:.1f} s")
    if latencies:
        p50 = statistics.median(latencies)
        p99 = statistics.quantiles(latencies, n=100)[-1] if len(latencies) > 1 else p50
        print(f"commit -> webhook latency   p50 {p50:8.1f} ms   p99 {p99:8.1f} ms")
    print(f"received {len(received)}, lost {expected - len(unique)}, "
          f"duplicates {len(pairs) - len(unique)}")


if __name__ == "__main__":
    main()
