"""Audit entries appended per second with the hash chain on, and how fast it verifies.

Usage: .venv/bin/python bench/audit_chain.py [--processes 4] [-n 2000] [--rounds 3]

On a PostgreSQL app database of this run's own (on the server of RM_BENCH_DATABASE_URL,
default postgres://postgres:postgres@127.0.0.1:5432/; its database name is ignored),
dropped at the end whatever happened (the run fails if it cannot be). PROCESSES processes
start together and each records N entries through ``audit.services.record``: alone (no
transaction open), then each inside a transaction of its own as a caller's; sealed as
deployed (``RM_AUDIT_SEAL_INTERVAL``: a process seals after a commit at most that often,
the rest wait for the next seal); then the same with the entries inserted and never
sealed (the trail as it was before the chain), for the chain's cost. A backlog of
unsealed entries is sealed in one go (as after an outage), and ``verify_audit``'s walk
is timed over the whole trail, with a signed checkpoint. Prints entries/s (best of
--rounds) and the verify rate. Goal: at least 1,000 entries/s with the chain on, from
several processes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.deployed import deployed_settings  # noqa: E402
from bench.leftovers import dropped_afterwards, run_prefix  # noqa: E402

DEFAULT_URL = "postgres://postgres:postgres@127.0.0.1:5432/"
PREFIX = run_prefix()
CHILD = """
import sys, time
import django
django.setup()
from django.db import transaction
from audit.models import AuditEntry
from audit.services import record

mode, count, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
time.sleep(max(0.0, start_at - time.time()))
for n in range(count):
    if mode == "chain":
        record("bench", "bench.append", "success", scope="bench", message=f"entry {n}")
    elif mode == "chain-in-transaction":
        with transaction.atomic():
            record("bench", "bench.append", "success", scope="bench", message=f"entry {n}")
    else:
        AuditEntry.objects.create(actor="bench", action="bench.append", outcome="success",
                                  scope="bench", message=f"entry {n}")
print(time.time())
"""


def setup(admin_url: str, database_url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(
            sql.Identifier(database_url.rsplit("/", 1)[1])))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    for name, value in deployed_settings().items():
        os.environ.setdefault(name, value)
    os.environ["LOG_LEVEL"] = "WARNING"
    import django
    from django.core.management import call_command

    from audit.signing import new_private_key

    os.environ["RM_AUDIT_SIGNING_KEY"] = new_private_key()
    django.setup()
    call_command("migrate", verbosity=0)


def appends(mode: str, processes: int, count: int) -> float:
    """Entries per second, from the common start to the last process's end; with the
    chain on, to the end of the seal of what the processes left to the next one (the
    sealing sweep's part, here at once)."""
    start_at = time.time() + 2  # every child imported and connected by then
    command = [sys.executable, "-c", CHILD, mode, str(count), str(start_at)]
    children = [
        subprocess.Popen(  # noqa: S603 - our own program, fixed arguments
            command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    ends = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode != 0:
            sys.exit(f"an appending process failed ({child.returncode})")
        ends.append(float(out.split()[-1]))
    if mode != "plain":
        from audit.chain import seal

        seal()
        ends.append(time.time())
    return processes * count / (max(ends) - start_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("-n", type=int, default=2000, help="entries per process and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = os.environ.get("RM_BENCH_DATABASE_URL", DEFAULT_URL).rsplit("/", 1)[0]
    admin_url = f"{base}/postgres"
    with dropped_afterwards(admin_url, PREFIX):
        setup(admin_url, f"{base}/{PREFIX}app")
        run(args.processes, args.n, args.rounds)


def run(processes: int, count: int, rounds: int) -> None:
    from django.conf import settings

    from audit import checkpoints
    from audit.chain import seal
    from audit.models import AuditCheckpoint, AuditEntry
    from audit.verification import verify

    chained = max(appends("chain", processes, count) for _ in range(rounds))
    in_transaction = max(appends("chain-in-transaction", processes, count)
                         for _ in range(rounds))
    left = AuditEntry.objects.filter(seq__isnull=True).count()
    plain = max(appends("plain", processes, count) for _ in range(rounds))
    started = time.perf_counter()
    sealed = seal()
    bulk = sealed / (time.perf_counter() - started)
    checkpoints.write(AuditCheckpoint.Reason.MANUAL)
    total = AuditEntry.objects.count()
    started = time.perf_counter()
    report = verify()
    walk = time.perf_counter() - started
    if report.problems or report.entries != total or left:
        sys.exit(f"the chain does not verify: {report.problems}, {left} left unsealed")

    load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
    print(f"{processes} processes x {count} entries, best of {rounds} rounds, PostgreSQL app "
          f"database, each entry its own transaction; {os.cpu_count()} CPUs, load average "
          f"{load} (other work on the machine lowers every figure)")
    print(f"appends, chain on, record() alone             {chained:8.0f} entries/s   "
          f"(goal >= 1,000; RM_AUDIT_SEAL_INTERVAL {settings.RM_AUDIT_SEAL_INTERVAL:g} s)")
    print(f"appends, chain on, in a caller's transaction  {in_transaction:8.0f} entries/s   "
          f"(sealed after the caller's commit, at most once per interval a process)")
    print(f"appends, chain off (insert only)              {plain:8.0f} entries/s   "
          f"(chain costs {plain / chained:.2f}x)")
    print(f"sealing a backlog in one go                   {bulk:8.0f} entries/s   "
          f"({sealed} entries)")
    print(f"verify_audit walk                             {total / walk:8.0f} entries/s   "
          f"({total} entries, {report.checkpoints} signed checkpoint, {walk:.2f} s)")


if __name__ == "__main__":
    main()
