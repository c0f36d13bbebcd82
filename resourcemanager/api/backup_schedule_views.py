"""A resource's backup schedule, ``/resources/{id}/backup-schedule``: read by every member
of the scope, set (PUT) and removed (DELETE) by RESOURCE_ADMIN and ADMIN."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from resourcemanager.api.scoping import OfResourceMixin, ScopedAPIView
from resourcemanager.api.strict import StrictInput
from resourcemanager.api.views import SCOPE_HEADER
from resourcemanager.backups import schedules
from resourcemanager.backups.models import BackupSchedule, Interval
from resourcemanager.identity.roles import Action

PATH = [
    SCOPE_HEADER,
    OpenApiParameter("resource_pk", OpenApiTypes.UUID, OpenApiParameter.PATH,
                     description="The resource's id."),
]


class BackupScheduleSerializer(StrictInput, serializers.ModelSerializer):
    interval = serializers.ChoiceField(
        choices=Interval.values,
        help_text="daily, weekly, or hours (every `hours` hours).")
    hours = serializers.IntegerField(
        required=False, allow_null=True,
        help_text=f"Hours between two backups, 1 to {schedules.MAX_HOURS}, for the interval "
        "hours only.")
    keep_daily = serializers.IntegerField(
        required=False, default=7,
        help_text="The newest backup of each of the last N days that have one is kept "
        f"(0 to {schedules.MAX_KEEP_DAILY}).")
    keep_weekly = serializers.IntegerField(
        required=False, default=4,
        help_text="The newest backup of each of the last M ISO weeks that have one is kept "
        f"(0 to {schedules.MAX_KEEP_WEEKLY}).")
    last_message = serializers.CharField(
        read_only=True, help_text="Why the last due backup was not requested; empty when it was.")

    class Meta:
        model = BackupSchedule
        fields = ["resource", "interval", "hours", "keep_daily", "keep_weekly", "next_run_at",
                  "last_run_at", "last_message", "updated_by", "updated_at"]
        read_only_fields = ["resource", "next_run_at", "last_run_at", "last_message",
                            "updated_by", "updated_at"]


class BackupScheduleView(OfResourceMixin, ScopedAPIView):
    required_actions = {"get": Action.VIEW_RESOURCE,
                        "head": Action.VIEW_RESOURCE,
                        "options": Action.VIEW_RESOURCE,
                        "put": Action.MANAGE_RESOURCE,
                        "delete": Action.MANAGE_RESOURCE}
    serializer_class = BackupScheduleSerializer

    @extend_schema(parameters=PATH, summary="The resource's backup schedule")
    def get(self, request: Request, *args, **kwargs) -> Response:
        found = schedules.view_schedule(self.principal, self.resource)
        return Response(BackupScheduleSerializer(found).data)

    @extend_schema(parameters=PATH, request=BackupScheduleSerializer,
                   summary="Set the resource's backup schedule and retention "
                   "(RESOURCE_ADMIN, ADMIN)")
    def put(self, request: Request, *args, **kwargs) -> Response:
        parsed = BackupScheduleSerializer(data=request.data)
        parsed.is_valid(raise_exception=True)
        saved = schedules.set_schedule(self.principal, self.resource, **parsed.validated_data)
        return Response(BackupScheduleSerializer(saved).data)

    @extend_schema(parameters=PATH, request=None, responses={204: None},
                   summary="Remove the resource's backup schedule; its backups stay "
                   "(RESOURCE_ADMIN, ADMIN)")
    def delete(self, request: Request, *args, **kwargs) -> Response:
        schedules.delete_schedule(self.principal, self.resource)
        return Response(status=status.HTTP_204_NO_CONTENT)
