"""Event fan-out: resource events to webhook consumers through a real worker over Redis.

Usage: .venv/bin/python bench/fanout.py [-n 200] [--consumers 10] [--concurrency CPUS]
                                        [--rate 2] [--duration 20]
                                        [--redis-url redis://127.0.0.1:6379/12]

Real: a throwaway PostgreSQL app database shared with a ``celery worker`` (prefork pool,
as deployed), Redis as the broker, and a minimal asyncio HTTP server as the webhooks (it
reads each request and answers 204, so it costs the worker next to nothing; it runs in a
process of its own, apart from this one, which makes the events). Each event is a tag
change of one of ten resources through the resource services: its outbox row is
written in the change's transaction and published on commit; the worker fans it out and
POSTs it to every consumer. The consumers' URLs are on 127.0.0.1, which the default
``RM_CONSUMER_BLOCKED_NETWORKS`` refuses: the bench allows that one address, for itself.

Two phases, one run:

- **burst**: N events changed in one transaction, so that all are published at once;
  throughput is deliveries / (last arrival - commit); the worker's CPU time (its main
  process and pool children, from /proc) over the phase, divided by the deliveries, is
  the CPU per delivery, measured apart from the throughput; latency is commit to arrival.
- **sustained** (``--rate`` events/s for ``--duration`` s, each in its own
  transaction): latency from the event's commit to the arrival.
- **slow consumer**: the burst again, as the baseline (the sustained phase's rows are in
  the tables now, which slows every burst a little), then one more consumer whose webhook
  never answers (each attempt ends at the worker's read timeout, ``--slow-timeout`` s)
  and the burst again: the other consumers' throughput against the baseline's, and what
  the slow one cost.

``--profile FILE`` runs one worker process (the solo pool) under cProfile for the burst
and prints where its time goes, by function and by package.

Lost = expected (event, consumer) pairs never received; duplicates are counted too; the
reasons of deliveries that failed are printed. The worker's memory (all its processes)
is read at the end: RSS summed, which counts the pages a pool process shares with the
main process in each, and PSS, which counts them once. The resources are records only:
no backend database is made. The app database carries a prefix of this run's own and is
dropped at the end, whatever happened (the run fails if it cannot be). The Redis database
must be empty at the start (the run refuses otherwise) and is emptied at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stack  # noqa: E402
from bench.leftovers import dropped_afterwards, run_prefix  # noqa: E402

PREFIX = run_prefix()
#: The webhook path of the consumer that never answers.
SLOW_PATH = "/slow"


class Receiver:
    """A minimal HTTP/1.1 server in a process of its own (so that it shares no interpreter
    lock with this process, which makes the events): reads each request, notes (path,
    event id, arrival time), answers 204. Its notes come back here in batches."""

    def __init__(self) -> None:
        self.received: list[tuple[str, int, float]] = []
        self.slow_requests = 0
        context = multiprocessing.get_context("spawn")
        self._notes = context.Queue()
        ready = context.Queue()
        self._process = context.Process(target=_receive, args=(ready, self._notes),
                                        daemon=True)
        self._process.start()
        self.port = ready.get(timeout=30)
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        while (batch := self._notes.get()) is not None:
            for note in batch:
                if note[0].startswith(SLOW_PATH):
                    self.slow_requests += 1
                else:
                    self.received.append(note)

    def close(self) -> None:
        self._process.terminate()
        self._process.join(5)


def _receive(ready, notes) -> None:
    """The receiver process: serve until terminated, sending notes every 20 ms."""
    waiting: list[tuple[str, int, float]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode("latin-1").split("\r\n")
                length = next((int(line.split(":", 1)[1]) for line in lines
                               if line.lower().startswith("content-length:")), 0)
                body = await reader.readexactly(length)
                path = lines[0].split(" ")[1]
                if path.startswith(SLOW_PATH):  # never answered: the client gives up
                    waiting.append((path, -1, time.time()))
                    await reader.read()
                    return
                waiting.append((path, json.loads(body)["id"], time.time()))
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def run() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
        ready.put(server.sockets[0].getsockname()[1])
        while True:
            await asyncio.sleep(0.02)
            if waiting:
                notes.put(waiting[:])
                waiting.clear()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="events of the burst")
    parser.add_argument("--consumers", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2,
                        help="worker processes")
    parser.add_argument("--rate", type=float, default=2, help="events/s, sustained phase")
    parser.add_argument("--duration", type=float, default=20, help="s, sustained phase")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--slow-timeout", type=float, default=10,
                        help="s, the worker's read timeout: each attempt to the slow consumer")
    parser.add_argument("--profile", metavar="FILE",
                        help="run one worker process under cProfile (burst only), keep "
                        "its statistics in FILE and print where its CPU time goes")
    args = parser.parse_args()
    with stack.empty_redis(args.redis_url), dropped_afterwards(stack.ADMIN_URL, PREFIX):
        run(args)


def run(args: argparse.Namespace) -> None:
    receiver = Receiver()
    env = stack.django_env(PREFIX, args.redis_url,
                           # the receiver, allowed for this bench alone
                           RM_CONSUMER_ALLOWED_NETWORKS="127.0.0.1/32",
                           RM_CONSUMER_READ_TIMEOUT=str(args.slow_timeout))
    try:
        resources = seed(receiver.port, args.consumers)
        if args.profile:
            args.concurrency = 1
        with stack.worker(env, args.concurrency, args.profile) as worker:
            warm_up(resources, receiver, args.consumers)
            burst(resources, receiver, worker, args)
            if not args.profile:
                sustained(resources, receiver, worker, args)
                receiver.received.clear()  # the sustained phase's late arrivals
                baseline = burst(resources, receiver, worker, args,
                                 title="burst again, the baseline of the next")
                beside_a_slow_consumer(resources, receiver, worker, args, baseline)
            print(f"worker (main + {args.concurrency} pool processes): RSS "
                  f"{stack.rss_mib(worker):.0f} MiB summed, PSS {stack.pss_mib(worker):.0f} MiB "
                  "(shared pages counted once); per process: main "
                  f"{stack.own_rss_mib(worker):.0f} MiB, the largest pool process "
                  f"{stack.largest_rss_mib(worker):.0f} MiB RSS (goal ≤ 200 MiB)")
        report_failures()
        if args.profile:
            stack.print_profile(args.profile)
    finally:
        receiver.close()
        from django.db import connections

        connections.close_all()


def seed(port: int, consumers: int) -> list:
    """Consumers first (so no existing resource is synced to them), then ten resources."""
    from consumers import services as consumer_services
    from providers.models import Provider
    from resourcemanager.identity.roles import SYSTEM
    from resourcemanager.resources.models import Resource

    for number in range(consumers):
        consumer_services.create_consumer(
            SYSTEM, "bench", builder="webhook", name=f"hook{number}",
            properties={"url": f"http://127.0.0.1:{port}/c/{number}", "secret": "bench-secret"},
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


def change(resources: list, number: int) -> None:
    from resourcemanager.identity.roles import SYSTEM
    from resourcemanager.resources import services

    services.update_resource(SYSTEM, resources[number % len(resources)], tags=[f"t-{number}"])


def wait_for(receiver: Receiver, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def warm_up(resources: list, receiver: Receiver, consumers: int) -> None:
    """One event per pool process first: imports, connections and caches are made."""
    for number in range(4):
        change(resources, -1 - number)
    wait_for(receiver, 4 * consumers, 60)
    time.sleep(1)
    receiver.received.clear()


def burst(resources: list, receiver: Receiver, worker: subprocess.Popen,
          args: argparse.Namespace, title: str = "burst") -> float:
    """The burst; returns its deliveries per second."""
    from django.db import transaction

    expected = args.n * args.consumers
    committed: list[float] = []
    cpu_before = stack.cpu_seconds(worker)
    with transaction.atomic():
        transaction.on_commit(lambda: committed.append(time.time()))  # runs first
        for number in range(args.n):
            change(resources, number)
    wait_for(receiver, expected, args.timeout)
    done = time.time()
    time.sleep(2)  # late duplicates would arrive now
    cpu = stack.cpu_seconds(worker) - cpu_before
    received = list(receiver.received)
    receiver.received.clear()
    last = max((arrived for _, _, arrived in received), default=done)
    print(f"{title}: {args.n} events x {args.consumers} webhook consumers = {expected} "
          f"deliveries; worker: {args.concurrency} processes; broker {args.redis_url}")
    throughput = len(received) / (last - committed[0])
    print(f"  {throughput:.0f} deliveries/s (commit to last arrival {last - committed[0]:.1f} s)")
    print(f"  {cpu * 1000 / max(len(received), 1):.2f} ms CPU per delivery "
          f"(worker processes: {cpu:.1f} s CPU in all)")
    latencies(received, lambda _: committed[0])
    losses(received, expected)
    return throughput


def beside_a_slow_consumer(resources: list, receiver: Receiver, worker: subprocess.Popen,
                           args: argparse.Namespace, alone: float) -> None:
    """The burst again, with one more consumer whose every attempt times out."""
    from consumers import services as consumer_services
    from consumers.models import Consumer
    from resourcemanager.identity.roles import SYSTEM

    receiver.received.clear()
    consumer_services.create_consumer(
        SYSTEM, "bench", builder="webhook", name="slow",
        properties={"url": f"http://127.0.0.1:{receiver.port}{SLOW_PATH}",
                    "secret": "bench-secret"})
    beside = burst(resources, receiver, worker, args,
                   title=f"beside a consumer timing out after {args.slow_timeout:g} s")
    slow = Consumer.objects.get(name="slow")
    paused = f"paused until {slow.paused_until:%H:%M:%S}" if slow.paused_until else "not paused"
    print(f"  the others' throughput: {beside / alone:.0%} of the baseline burst "
          f"(goal ≥ 90%); the slow one: tried {receiver.slow_requests} times, "
          f"{slow.failures_in_a_row} failures in a row, {paused}")


def sustained(resources: list, receiver: Receiver, worker: subprocess.Popen,
              args: argparse.Namespace) -> None:
    events = int(args.rate * args.duration)
    committed: dict[int, float] = {}
    cpu_before = stack.cpu_seconds(worker), time.process_time(), machine_busy_seconds()
    started = time.monotonic()
    for number in range(events):
        time.sleep(max(0.0, started + number / args.rate - time.monotonic()))
        change(resources, number)
        now = time.time()
        committed[_last_event_id()] = now
    wait_for(receiver, events * args.consumers, args.timeout)
    elapsed = time.monotonic() - started
    worker_cpu, bench_cpu, busy = (after - before for after, before in zip(
        (stack.cpu_seconds(worker), time.process_time(), machine_busy_seconds()),
        cpu_before, strict=True))
    time.sleep(2)
    received = list(receiver.received)
    print(f"sustained: {args.rate:g} events/s for {args.duration:g} s = "
          f"{args.rate * args.consumers:g} deliveries/s offered, {events * args.consumers} "
          "in all")
    print(f"  CPU in use, in cores: worker {worker_cpu / elapsed:.2f}, this process (the "
          f"events' producer) {bench_cpu / elapsed:.2f}, the whole machine "
          f"{busy / elapsed:.2f} of {os.cpu_count()}")
    latencies(received, lambda event_id: committed[event_id])
    stages(committed)
    losses(received, events * args.consumers)


def stages(committed: dict[int, float]) -> None:
    """Where the sustained phase's latency goes: from the event's commit to its
    deliveries' rows (the relay and the fan-out), from there to their delivery (the
    drains), as the worker's clock recorded them."""
    from consumers.models import Delivery

    rows = Delivery.objects.filter(event_id__in=list(committed), delivered_at__isnull=False)
    fanned, drained = [], []
    for event_id, created, delivered in rows.values_list("event_id", "created_at",
                                                         "delivered_at"):
        fanned.append((created.timestamp() - committed[event_id]) * 1000)
        drained.append((delivered - created).total_seconds() * 1000)
    for title, samples in (("commit -> delivery rows", fanned),
                           ("delivery rows -> done", drained)):
        if len(samples) > 1:
            samples.sort()
            print(f"    {title:23} p50 {statistics.median(samples):8.1f} ms   "
                  f"p99 {statistics.quantiles(samples, n=100)[-1]:8.1f} ms")


def machine_busy_seconds() -> float:
    """CPU seconds the machine spent on anything but idling, since it started."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # idle, iowait


def _last_event_id() -> int:
    from resourcemanager.outbox.models import OutboxMessage

    events = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.EVENT)
    return events.order_by("-pk").values_list("pk", flat=True).first()


def latencies(received: list, committed_of) -> None:
    samples = sorted((arrived - committed_of(event_id)) * 1000
                     for _, event_id, arrived in received)
    if samples:
        p99 = statistics.quantiles(samples, n=100)[-1] if len(samples) > 1 else samples[0]
        print(f"  commit -> webhook latency   p50 {statistics.median(samples):8.1f} ms   "
              f"p99 {p99:8.1f} ms")


def losses(received: list, expected: int) -> None:
    pairs = [(path, event_id) for path, event_id, _ in received]
    unique = set(pairs)
    print(f"  received {len(received)}, lost {expected - len(unique)}, "
          f"duplicates {len(pairs) - len(unique)}")


def report_failures() -> None:
    from django.db.models import Count

    from consumers.models import Delivery

    failed = (Delivery.objects.exclude(status=Delivery.Status.DELIVERED).order_by()
              .values_list("consumer__name", "status", "last_error")
              .annotate(count=Count("pk")))
    for name, status, error, count in failed[:5]:
        print(f"not delivered to {name} ({status}, {count}): {error or 'not attempted yet'}")


if __name__ == "__main__":
    main()
