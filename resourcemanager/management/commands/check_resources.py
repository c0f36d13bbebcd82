"""CHECK every ready resource (or those of a scope/provider) and report the outcome."""

import json

from django.core.management.base import BaseCommand

from resourcemanager import services
from resourcemanager.access import SYSTEM, Action
from resourcemanager.errors import ServiceError
from resourcemanager.models import Resource


class Command(BaseCommand):
    help = "Check resources and their logins; repair access unless --no-repair is given."

    def add_arguments(self, parser):
        parser.add_argument("--scope")
        parser.add_argument("--provider", help="provider instance key")
        parser.add_argument("--only-failing", action="store_true")
        parser.add_argument("--repair", action="store_true", default=True)
        parser.add_argument("--no-repair", action="store_false", dest="repair")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, scope, provider, only_failing, repair, as_json, **options):
        resources = Resource.objects.visible_to(SYSTEM, Action.CHECK_RESOURCE, scope).filter(
            status__in=[Resource.Status.READY, Resource.Status.ERROR], managed=True
        )
        if provider:
            resources = resources.filter(provider__key=provider)
        if only_failing:
            resources = resources.filter(last_check_ok=False)
        report = []
        for resource in resources.select_related("provider").order_by("scope", "name"):
            try:
                services.check_resource(SYSTEM, resource, repair=repair, inline=True)
            except ServiceError as exc:
                report.append(self._row(resource, ok=False, message=exc.message))
                continue
            resource.refresh_from_db()
            report.append(
                self._row(resource, ok=resource.last_check_ok, message=resource.last_check_message)
            )
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
            return
        for row in report:
            mark = "ok  " if row["ok"] else "FAIL"
            self.stdout.write(f"{mark} {row['scope']}/{row['name']} ({row['provider']}) "
                              f"{row['message']}")
        failing = sum(1 for row in report if not row["ok"])
        self.stdout.write(f"{len(report)} checked, {failing} failing")

    @staticmethod
    def _row(resource: Resource, *, ok: bool | None, message: str) -> dict:
        return {
            "id": str(resource.pk),
            "scope": resource.scope,
            "name": resource.name,
            "provider": resource.provider.key,
            "ok": bool(ok),
            "message": message,
        }
