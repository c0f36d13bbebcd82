"""List backend objects without a live record and records whose database is gone;
drop the orphan objects with ``--delete`` after a confirmation per instance.

Exit status: 0, or 1 when an instance could not be scanned or a drop failed.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from providers.models import Provider
from resourcemanager.resources import orphans


class Command(BaseCommand):
    help = (
        "List databases/logins named like ours that no live resource owns, and resources "
        "whose database is gone. --delete drops the former after confirmation."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("--provider", help="only this provider instance (key)")
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="print a machine-readable report")
        parser.add_argument("--delete", action="store_true",
                            help="drop the orphan databases and logins (asks per instance)")
        parser.add_argument("--yes", action="store_true",
                            help="with --delete: do not ask (for scripts)")

    def handle(self, *args, provider, as_json, delete, yes, **options):
        stdin = options.get("stdin", sys.stdin)
        if delete and not yes and not stdin.isatty():
            raise CommandError("--delete asks for confirmation on a terminal; pass --yes to "
                               "drop without asking")
        found = orphans.find_orphans(provider)
        report = [instance.as_dict() for instance in found]
        failed = any(instance.error for instance in found)
        if not as_json:
            self._print(found)
        if delete:
            for instance, row in zip(found, report, strict=True):
                names = [orphan.name for orphan in instance.objects]
                if names and (yes or self._confirmed(instance.provider, len(names), stdin)):
                    row["deleted"], row["not_deleted"] = self._delete(instance.provider, names)
                    failed = failed or bool(row["not_deleted"])
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
        if failed:
            raise CommandError("some instances could not be scanned or cleaned", returncode=1)

    def _print(self, found: list[orphans.InstanceOrphans]) -> None:
        for instance in found:
            if instance.error:
                self.stdout.write(f"{instance.provider}: cannot scan: {instance.error}")
                continue
            self.stdout.write(f"{instance.provider}: {len(instance.objects)} orphan object(s), "
                              f"{len(instance.records)} record(s) without database")
            for orphan in instance.objects:
                kinds = " + ".join(k for k, present in (("database", orphan.database),
                                                        ("login", orphan.login)) if present)
                owner = f" (record {orphan.deleted_record} is deleted)" \
                    if orphan.deleted_record else ""
                self.stdout.write(f"  orphan   {orphan.name}  {kinds}{owner}")
            for missing in instance.records:
                self.stdout.write(f"  missing  {missing.scope}/{missing.name} "
                                  f"({missing.backend_name}, {missing.status}): "
                                  f"{' and '.join(missing.missing)} gone")

    def _confirmed(self, key: str, count: int, stdin) -> bool:
        self.stderr.write(f"Drop {count} orphan database(s)/login(s) with all their data on "
                          f"{key}? Type the instance key or 'yes' to confirm: ", ending="")
        self.stderr.flush()
        answer = stdin.readline().strip()
        if answer not in (key, "yes"):
            self.stderr.write(f"{key}: nothing dropped")
            return False
        return True

    def _delete(self, key: str, names: list[str]) -> tuple[list[str], dict[str, str]]:
        instance = Provider.objects.get(key=key)
        deleted, refused = [], {}
        for name in names:
            if reason := orphans.delete_orphan(instance, name):
                refused[name] = reason
                self.stderr.write(f"{key}: {name} not dropped: {reason}")
            else:
                deleted.append(name)
                self.stderr.write(f"{key}: dropped {name}")
        return deleted, refused
