"""CHECK resources in a batched sweep (resourcemanager.resources.sweeps) and report the outcome.

Exit status: 0 when every checked resource passes (after repairs), 1 when any fails.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from resourcemanager.resources import sweeps

_BAR_WIDTH = 30
_COLUMNS = ("checked", "ok", "repaired", "failing")


class Command(BaseCommand):
    help = (
        "Check resources and their logins, one catalog query per provider instance plus a "
        "full CHECK of those it finds unhealthy; repair unless --no-repair. Exits 1 when "
        "any resource fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scope", help="only this scope")
        parser.add_argument("--provider", help="only this provider instance (key)")
        parser.add_argument("--only-failing", action="store_true",
                            help="only resources whose last CHECK failed or in error")
        parser.add_argument("--repair", action="store_true", default=True,
                            help="repair what can be repaired (default)")
        parser.add_argument("--no-repair", action="store_false", dest="repair")
        parser.add_argument("--deep", action="store_true",
                            help="full CHECK of every resource, logging in as each tenant "
                            "(the catalog sweep does not verify passwords)")
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="print a machine-readable report")

    def handle(self, *args, scope, provider, only_failing, repair, deep, as_json, **options):
        progress = self._progress if self.stderr.isatty() else None
        report = sweeps.sweep(scope, provider, only_failing=only_failing, repair=repair,
                              deep=deep, progress=progress)
        if progress:
            self.stderr.write("", style_func=str)
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self._print(report)
        if failing := len(report.failing):
            raise CommandError(f"{failing} resource(s) failing", returncode=1)

    def _progress(self, done: int, total: int) -> None:
        filled = _BAR_WIDTH * done // total if total else _BAR_WIDTH
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        self.stderr.write(f"\r[{bar}] {done}/{total}", ending="", style_func=str)
        self.stderr.flush()

    def _print(self, report: sweeps.SweepReport) -> None:
        summary = report.as_dict()
        rows: list[tuple[Any, ...]] = [("instance", *_COLUMNS, "seconds")]
        for instance in summary["instances"]:
            rows.append((instance["provider"], *(instance[c] for c in _COLUMNS),
                         f"{instance['seconds']:.2f}"))
        rows.append(("total", *(summary[c] for c in _COLUMNS), f"{summary['seconds']:.2f}"))
        width = max(len(str(row[0])) for row in rows)
        for row in rows:
            self.stdout.write(f"{row[0]!s:<{width}}" + "".join(f"{v!s:>10}" for v in row[1:]))
        for instance in report.instances:
            if instance.error:
                self.stdout.write(f"\n{instance.provider}: {instance.error}")
        outcomes = [o for i in report.instances for o in i.outcomes]
        if outcomes:
            self.stdout.write("")
        for outcome in outcomes:
            mark = "REPAIRED" if outcome.ok else "FAIL"
            self.stdout.write(f"{mark:<8} {outcome.scope}/{outcome.name} ({outcome.provider}): "
                              f"{outcome.message}")
        self.stdout.write(f"\n{summary['checked']} checked, {summary['failing']} failing, "
                          f"{summary['repaired']} repaired")
