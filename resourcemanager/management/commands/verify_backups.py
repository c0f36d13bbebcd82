"""The restore drill (resourcemanager.backups.drills): each selected resource's latest
completed backup restored into a scratch database, compared with its manifest, dropped.

Exit status: 0 when every drill passes, 1 when any fails.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from resourcemanager.backups import drills
from resourcemanager.backups.store import configured


class Command(BaseCommand):
    help = (
        "Restore the latest completed backup of each selected resource into a scratch "
        "database on its instance, compare its tables and row counts with the backup's "
        "manifest, and drop it. Exits 1 when any drill fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scope", help="the resources of this scope that have a backup")
        parser.add_argument("--resource", nargs="+", default=[], dest="resources",
                            metavar="ID", help="these resources (by id)")
        parser.add_argument("--all", action="store_true", dest="every",
                            help="every resource that has a completed backup")

    def handle(self, *args, scope, resources, every, **options):
        if not (scope or resources or every):
            raise CommandError("choose the resources: --scope S, --resource ID … or --all")
        if not configured():
            raise CommandError("backups are not configured here (RM_BACKUP_STORE_URL is "
                               "empty): set it as the server has it")
        selected = list(drills.select_resources(scope, resources))
        missing = set(resources) - {str(resource.pk) for resource in selected}
        if missing:
            raise CommandError(f"no such resource: {', '.join(sorted(missing))}")
        total = len(selected)
        done = 0

        def report(outcome: drills.DrillOutcome) -> None:
            nonlocal done
            done += 1
            mark = "OK" if outcome.ok else "FAIL"
            resource = outcome.resource
            self.stdout.write(f"[{done}/{total}] {mark:<4} {resource.scope}/{resource.name} "
                              f"({resource.provider.key}, {outcome.seconds:.2f} s): "
                              f"{outcome.message}")

        outcomes = drills.drill_all(selected, progress=report)
        failed = sum(not outcome.ok for outcome in outcomes)
        self.stdout.write(f"\n{len(outcomes)} drilled: {len(outcomes) - failed} passed, "
                          f"{failed} failed")
        if failed:
            raise CommandError(f"{failed} restore drill(s) failed", returncode=1)
