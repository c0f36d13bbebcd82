"""team-b's world: one object of every kind a team-a caller could aim at, and its snapshot.

``world`` sets it up once per test: team-b's resource, owner, token, membership, audit
entry, reserved provider, group and webhook consumer (with a secret), and team-a's own
resource. ``World.markers()`` are the values a team-a caller may never read;
``World.assert_untouched()`` compares everything of team-b with the snapshot taken at
the start and checks the resource on the server and through its owner's token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from consumers.models import Consumer, Delivery
from providers.models import Provider
from resourcemanager.backups.models import Backup, BackupSchedule, Cleanup, Clone, Restore
from resourcemanager.identity.models import ApiToken, ScopeRole
from resourcemanager.identity.roles import Role
from resourcemanager.identity.tokens import issue_token
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.scopes.models import ScopeQuota, ScopeSettings
from tests.security.conftest import Tenant, create_tenant
from tests.security.isolation_checks import (
    assert_intact_on_the_server,
    assert_row_unchanged,
    resource_row,
    tenant_markers,
)


@dataclass
class World:
    alpha: Tenant
    bravo: Tenant
    bravo_owner: APIClient  # holds ADMIN in team-b only
    bravo_token: ApiToken
    bravo_token_plaintext: str
    bravo_membership: ScopeRole
    bravo_audit: AuditEntry
    bravo_provider: Provider  # reserved for team-b
    bravo_group: Group
    bravo_consumer: Consumer  # a webhook with a secret, registered in team-b
    bravo_credential: Credential  # a read-only credential on team-b's resource
    bravo_settings: ScopeSettings  # team-b's own credential defaults
    bravo_quota: ScopeQuota  # team-b's limits
    bravo_backup: Backup  # a completed backup of team-b's resource
    bravo_cleanup: Cleanup  # a cleanup of team-b's resource, from that backup
    bravo_clone: Clone  # a clone of team-b's resource into itself, as records go
    bravo_schedule: BackupSchedule  # team-b's resource backed up every 17 hours
    bystander: object  # a user without roles, to be granted roles by forged forms
    snapshot: dict = field(default_factory=dict)

    def markers(self) -> dict[str, str]:
        """Values stored for team-b only; none may reach a team-a caller."""
        return {
            **tenant_markers(self.bravo),
            "owner username": self.bravo_owner.user.username,
            "token name": self.bravo_token.name,
            "token hint": self.bravo_token.hint,
            "token": self.bravo_token_plaintext,
            "reserved provider key": self.bravo_provider.key,
            "reserved provider host": self.bravo_provider.host,
            "group name": self.bravo_group.name,
            "consumer name": self.bravo_consumer.name,
            "consumer secret": BRAVO_CONSUMER_SECRET,
            "consumer URL": self.bravo_consumer.properties["url"],
            "credential holder": self.bravo_credential.holder,
            "credential login": self.bravo_credential.login,
            "credential secret": self.bravo_credential.secret["password"],
            "backup object": self.bravo_backup.object_key,
            "backup key": self.bravo_backup.data_key,
            "clone failure": self.bravo_clone.status_message,
        }

    def foreign(self, model: type[models.Model]) -> models.Model:
        """team-b's object of ``model``, for every model registered in the admin."""
        objects = {
            Resource: Resource.objects.get(pk=self.bravo.id),
            ScopeRole: self.bravo_membership,
            AuditEntry: self.bravo_audit,
            ApiToken: self.bravo_token,
            Provider: self.bravo_provider,
            Group: self.bravo_group,
            Consumer: self.bravo_consumer,
            Credential: self.bravo_credential,
            ScopeSettings: self.bravo_settings,
            ScopeQuota: self.bravo_quota,
            Backup: self.bravo_backup,
            Cleanup: self.bravo_cleanup,
            Clone: self.bravo_clone,
            BackupSchedule: self.bravo_schedule,
            type(self.bravo_owner.user): self.bravo_owner.user,
        }
        if model not in objects:
            pytest.fail(f"no team-b object of {model.__name__}: add one to World")
        return objects[model]

    def take_snapshot(self) -> dict:
        """Everything of team-b a team-a caller could try to change."""
        owner = self.bravo_owner.user
        users = type(owner).objects
        return {
            "resource": resource_row(self.bravo.id),
            "resources of team-b": sorted(
                Resource.objects.filter(scope="team-b").values_list("id", "status")
            ),
            "memberships of team-b": sorted(
                ScopeRole.objects.filter(scope="team-b").values_list("user_id", "role")
            ),
            # Refused attempts are recorded (denied); nothing else may appear or change.
            "audit of team-b": list(AuditEntry.objects.filter(scope="team-b").exclude(
                outcome=AuditEntry.Outcome.DENIED).values()),
            "token": ApiToken.objects.filter(pk=self.bravo_token.pk)
            .values("user_id", "name", "digest", "expires_at", "revoked_at")
            .get(),
            "owner": users.filter(pk=owner.pk)
            .values("username", "password", "is_active", "is_staff", "is_superuser")
            .get(),
            "provider": Provider.objects.filter(pk=self.bravo_provider.pk).values().get(),
            "providers": sorted(Provider.objects.values_list("key", "allowed_scopes")),
            "group": (self.bravo_group.name, list(self.bravo_group.permissions.all())),
            "consumers of team-b": list(Consumer.objects.filter(scope="team-b").values()),
            "credentials of team-b": list(Credential.objects.filter(scope="team-b").values()),
            "settings of team-b": list(ScopeSettings.objects.filter(scope="team-b").values()),
            "quota of team-b": list(ScopeQuota.objects.filter(scope="team-b").values()),
            "backups of team-b": list(Backup.objects.filter(scope="team-b").values()),
            "backup schedules of team-b": list(
                BackupSchedule.objects.filter(scope="team-b").values()),
            "restores of team-b": list(Restore.objects.filter(scope="team-b").values()),
            "cleanups of team-b": list(Cleanup.objects.filter(scope="team-b").values()),
            "clones of team-b": list(Clone.objects.filter(scope="team-b").values()),
            "deliveries of team-b": list(
                Delivery.objects.filter(consumer__scope="team-b").values()
            ),
            "staff and operators": sorted(
                users.filter(models.Q(is_staff=True) | models.Q(is_superuser=True))
                .values_list("username", flat=True)
            ),
        }

    def assert_untouched(self) -> None:
        now = self.take_snapshot()
        changed = [key for key in self.snapshot if self.snapshot[key] != now[key]]
        assert not changed, f"team-b's objects changed: {changed}"
        assert_row_unchanged(self.bravo, self.snapshot["resource"])
        assert_intact_on_the_server(self.bravo)
        owner_view = self.bravo_owner.get(f"/api/c/team-b/resources/{self.bravo.id}")
        assert owner_view.status_code == 200  # team-b's owner and its token still work
        assert owner_view.json()["connection"]["username"] == self.bravo.credentials["username"]


BRAVO_CONSUMER_SECRET = "bravo-webhook-secret-zq"


def create_bravo_consumer(owner: APIClient) -> Consumer:
    """A webhook consumer of team-b (its endpoint refuses connections: one failed delivery)."""
    response = owner.post("/api/c/team-b/consumers", {
        "builder": "webhook", "name": "bravo-hook-zq",
        "properties": {"url": "http://127.0.0.1:1/bravo-path-zq",
                       "secret": BRAVO_CONSUMER_SECRET},
    }, format="json")
    assert response.status_code == 201, response.json()
    return Consumer.objects.get(pk=response.json()["id"])


@pytest.fixture(name="world")
def foreign_world(memory_provider, make_client, django_user_model) -> World:
    alpha_owner = make_client(team_a=Role.ADMIN)
    owner = django_user_model.objects.create_user(username="bravo_owner_zq", password=None)
    ScopeRole.objects.create(user=owner, scope="team-b", role=Role.ADMIN)
    token, plaintext = issue_token(owner, "bravo-token-zq", expires_in_days=1)
    bravo_owner = APIClient()
    bravo_owner.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    bravo_owner.user = owner
    world = World(
        alpha=create_tenant(alpha_owner, "team-a", "alpha"),
        bravo=create_tenant(bravo_owner, "team-b", "bravo-private-zq"),
        bravo_owner=bravo_owner,
        bravo_token=ApiToken.objects.get(pk=token.pk),
        bravo_token_plaintext=plaintext,
        bravo_membership=ScopeRole.objects.get(user=owner, scope="team-b"),
        bravo_audit=AuditEntry.objects.filter(scope="team-b").earliest("timestamp"),
        bravo_provider=Provider.objects.create(
            key="bravo-reserved-zq", provider_class="postgresql", host="10.66.66.66",
            port=5432, username="x", password="x", allowed_scopes=["team-b"],
        ),
        bravo_group=Group.objects.create(name="bravo-group-zq"),
        bravo_consumer=create_bravo_consumer(bravo_owner),
        bravo_credential=create_bravo_credential(owner),
        bravo_settings=ScopeSettings.objects.create(
            scope="team-b", credential_self_service="read-only",
            credential_default_ttl=4321, updated_by=owner.username),
        bravo_quota=ScopeQuota.objects.create(
            scope="team-b", max_resources=4321, updated_by=owner.username),
        bravo_backup=(bravo_backup := create_bravo_backup(owner)),
        bravo_cleanup=Cleanup.objects.create(
            scope="team-b", resource=bravo_backup.resource, template=bravo_backup,
            status=Cleanup.Status.COMPLETED, created_by=owner.username),
        bravo_clone=Clone.objects.create(
            scope="team-b", resource=bravo_backup.resource, source=bravo_backup.resource,
            status=Clone.Status.FAILED, status_message="bravo-clone-failure-zq",
            created_by=owner.username),
        bravo_schedule=create_bravo_schedule(owner),
        bystander=django_user_model.objects.create_user(username="bystander", password=None),
    )
    world.snapshot = world.take_snapshot()
    return world


def create_bravo_backup(owner) -> Backup:
    """A completed backup of team-b's resource, as a BACKUP leaves it (the in-memory
    provider makes no dumps; nothing is in a store)."""
    resource = Resource.objects.get(scope="team-b")
    return Backup.objects.create(
        scope="team-b", resource=resource, status=Backup.Status.COMPLETED, format="memory",
        compressed=True, object_key=f"team-b/{resource.pk}/bravo-backup-zq.rmbackup",
        data_key="YnJhdm8tYmFja3VwLWtleS16cQ==", size=1234, sha256="ab" * 32,
        created_by=owner.username)


def create_bravo_schedule(owner) -> BackupSchedule:
    """team-b's resource's backup schedule, as setting one leaves it (the in-memory
    provider makes no dumps, so the service would refuse it)."""
    resource = Resource.objects.get(scope="team-b")
    return BackupSchedule.objects.create(
        resource=resource, scope="team-b", interval="hours", hours=17, keep_daily=13,
        keep_weekly=11, next_run_at=timezone.now() + timedelta(days=3),
        updated_by=owner.username)


def create_bravo_credential(owner) -> Credential:
    """A credential on team-b's resource, written as issuing one leaves it (the in-memory
    provider issues no logins of their own)."""
    resource = Resource.objects.get(scope="team-b")
    login = f"{resource.backend_name}_zqzqzq"
    return Credential.objects.create(
        scope="team-b", resource=resource, holder="bravo-reports-zq", access="read-only",
        login=login, secret={"username": login, "password": "bravo-credential-secret-zq"},
        status=Credential.Status.ACTIVE, issued_by=owner.username,
    )
