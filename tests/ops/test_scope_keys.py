"""Per-scope data keys: each scope's secrets under its own key, on every write path; the
scope key rotation (all or nothing), the KEK rotation (data keys re-wrapped, secrets
untouched), and crypto-shredding by ``delete_scope``: a dump taken before it no longer
decrypts afterwards, while another scope's secrets still do."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import transaction

from audit.models import AuditEntry
from consumers.models import Consumer
from providers.models import Provider
from resourcemanager.core import crypto
from resourcemanager.core.datakeys import PLATFORM, DataKey
from resourcemanager.core.fields import Sealed, UnsealedWrite
from resourcemanager.core.key_rotation import encrypted_columns
from resourcemanager.management.commands import delete_scope as delete_scope_command
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.scopes.models import ScopeSettings
from tests.ops.test_encryption import (
    forget_unwrapped_keys,
    legacy,
    raw,
    snapshot,
    tampered,
    write_raw,
)

SCOPES = ("team-a", "team-b")
NEW_KEK = Fernet.generate_key().decode()


def key_of(scope: str) -> DataKey:
    return DataKey.objects.get(scope=scope, current=True)


def misplaced() -> list[str]:
    """Every stored value not under its row's scope's current data key."""
    current = dict(DataKey.objects.filter(current=True).values_list("scope", "pk"))
    return [
        f"{column.label} pk={pk} ({scope})"
        for column in encrypted_columns()
        for pk, scope, token in column.tokens(column.stored())
        if crypto.key_id(token) != current.get(scope)
    ]


def command(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def tenants(make_client, pg_provider) -> dict:
    """In each scope: a PostgreSQL resource (its credentials and its owner's credential),
    an issued credential and a consumer, all made through the API."""
    made = {}
    for scope in SCOPES:
        client = make_client(**{scope.replace("-", "_"): "ADMIN"})
        resource = client.post(f"/api/c/{scope}/resources", {"provider": "pg", "name": "orders"},
                               format="json").json()
        assert resource["status"] == "ready", resource
        issued = client.post(f"/api/c/{scope}/resources/{resource['id']}/credentials",
                             {"holder": "reports", "access": "read-only"}, format="json").json()
        consumer = client.post(f"/api/c/{scope}/consumers",
                               {"builder": "log", "name": "trail"}, format="json").json()
        ScopeSettings.objects.create(scope=scope, credential_default_ttl=3600)
        made[scope] = {"resource": resource, "credential": issued, "consumer": consumer}
    return made


def stored_of(scope: str) -> dict:
    """A dump of the scope's encrypted values: (label, pk) -> token, read with raw SQL."""
    return {(column.label, pk): token for column in encrypted_columns()
            if column.field.scope_field
            for pk, _, token in column.tokens(column.stored([scope]))}


def test_each_scope_s_secrets_are_under_its_own_key(tenants):
    a, b = key_of("team-a"), key_of("team-b")
    token_a = raw(Resource, "credentials", tenants["team-a"]["resource"]["id"])
    token_b = raw(Resource, "credentials", tenants["team-b"]["resource"]["id"])

    assert a.pk != b.pk
    assert crypto.key_id(token_a) == a.pk and crypto.key_id(token_b) == b.pk
    body = token_a.rpartition(":")[2].encode()
    with pytest.raises(InvalidToken):  # scope B's key does not open scope A's token
        crypto.datakeys.cipher(b.pk).decrypt(body)
    with pytest.raises(crypto.DecryptionError, match=f"with its data key {b.pk}"):
        crypto.decrypt(f"rm1:{b.pk}:{body.decode()}")
    assert crypto.decrypt_json(token_a) == tenants["team-a"]["resource"]["credentials"]


def test_every_write_path_encrypts_under_the_row_s_scope(tenants):
    """Resource creation, its owner's credential, issued credentials, consumers, provider
    passwords: not one value under another scope's key (nor the platform's)."""
    assert {scope for scope in DataKey.objects.values_list("scope", flat=True)} == {
        *SCOPES, PLATFORM}
    assert misplaced() == []
    assert stored_of("team-a") and stored_of("team-b")


def test_a_value_under_another_scope_s_key_is_caught_and_moved_back(tenants):
    consumer_a = tenants["team-a"]["consumer"]["id"]
    write_raw(Consumer, "properties", consumer_a, crypto.encrypt_json("team-b", {"x": 1}))

    assert misplaced() == [f"consumers.Consumer.properties pk={consumer_a} (team-a)"]
    command("rotate_encryption_keys")
    assert misplaced() == []
    assert Consumer.objects.get(pk=consumer_a).properties == {"x": 1}


def test_update_and_bulk_update_must_name_the_scope(tenants):
    credential = Credential.objects.get(pk=tenants["team-a"]["credential"]["id"])
    credential.pending_secret = {"username": "u", "password": "p"}

    with pytest.raises(UnsealedWrite, match=r"Credential\.pending_secret written without"):
        Credential.objects.filter(pk=credential.pk).update(pending_secret={"password": "p"})
    with pytest.raises(UnsealedWrite):
        Credential.objects.bulk_update([credential], ["pending_secret"])

    Credential.objects.filter(pk=credential.pk).update(
        pending_secret=Sealed("team-a", {"password": "p"}))
    assert crypto.key_id(raw(Credential, "pending_secret", credential.pk)) == key_of("team-a").pk
    assert misplaced() == []


@pytest.mark.django_db(transaction=True)
def test_a_scope_s_first_key_rolled_back_with_its_transaction_is_not_used_afterwards():
    with pytest.raises(RuntimeError), transaction.atomic():
        crypto.encrypt("team-z", "first")  # makes the scope's first key, then rolls back
        raise RuntimeError("the caller failed")
    token = crypto.encrypt("team-z", "second")
    again = crypto.encrypt("team-z", "third")  # the current key, as read outside a transaction
    forget_unwrapped_keys()

    assert crypto.key_id(token) == crypto.key_id(again) == key_of("team-z").pk
    assert (crypto.decrypt(token), crypto.decrypt(again)) == ("second", "third")


@pytest.mark.django_db
def test_bulk_create_encrypts_each_row_under_its_scope():
    Consumer.objects.bulk_create([
        Consumer(scope=scope, builder="log", name="bulk", properties={"scope": scope})
        for scope in SCOPES
    ])

    assert misplaced() == []
    for consumer in Consumer.objects.all():
        assert crypto.key_id(raw(Consumer, "properties", consumer.pk)) == key_of(
            consumer.scope).pk
        assert consumer.properties == {"scope": consumer.scope}


def test_a_scope_key_rotation_re_encrypts_that_scope_only(tenants):
    old = key_of("team-a")
    before_a, before_b = stored_of("team-a"), stored_of("team-b")
    platform = raw(Provider, "password", Provider.objects.get(key="pg").pk)

    output = command("rotate_scope_key", "team-a")

    new = key_of("team-a")
    assert new.pk != old.pk
    assert "re-encrypted 4 secrets" in output  # the resource, 2 credentials, the consumer
    after_a = stored_of("team-a")
    assert after_a.keys() == before_a.keys()
    assert all(crypto.key_id(token) == new.pk for token in after_a.values())
    assert stored_of("team-b") == before_b
    assert raw(Provider, "password", Provider.objects.get(key="pg").pk) == platform
    assert DataKey.objects.get(pk=old.pk).current is None  # retired, still readable
    forget_unwrapped_keys()
    assert Resource.objects.get(pk=tenants["team-a"]["resource"]["id"]).credentials == (
        tenants["team-a"]["resource"]["credentials"])

    command("rotate_scope_key", "team-a")  # the next run destroys the key retired before it

    assert not DataKey.objects.filter(pk=old.pk).exists()
    assert DataKey.objects.filter(scope="team-a").count() == 2


def test_the_platform_s_key_rotates_on_its_own(tenants):
    old, scoped = key_of(PLATFORM), {scope: stored_of(scope) for scope in SCOPES}

    assert "re-encrypted 1 secrets" in command("rotate_scope_key", "--platform")

    provider = Provider.objects.get(key="pg")
    assert crypto.key_id(raw(Provider, "password", provider.pk)) == key_of(PLATFORM).pk != old.pk
    assert {scope: stored_of(scope) for scope in SCOPES} == scoped
    forget_unwrapped_keys()
    assert Provider.objects.get(key="pg").password == provider.password


def test_a_scope_key_rotation_with_one_corrupt_value_changes_nothing(tenants):
    consumer_a = tenants["team-a"]["consumer"]["id"]
    write_raw(Consumer, "properties", consumer_a,
              tampered(raw(Consumer, "properties", consumer_a)))
    before, keys_before = snapshot(), list(DataKey.objects.values_list("pk", "current"))

    with pytest.raises(CommandError, match=(
            rf"consumers.Consumer.properties pk={consumer_a} cannot be decrypted; nothing "
            "was changed")):
        command("rotate_scope_key", "--all", "--batch-size", "1")

    assert snapshot() == before
    assert list(DataKey.objects.values_list("pk", "current")) == keys_before


def test_rotate_scope_key_needs_a_scope(db):
    with pytest.raises(CommandError, match="name a scope, or give --platform or --all"):
        command("rotate_scope_key")
    with pytest.raises(CommandError, match="a scope is 1-63 lowercase"):
        command("rotate_scope_key", "Team A")
    with pytest.raises(CommandError, match=r"no secret and no data key in scope\(s\) team-z"):
        command("rotate_scope_key", "team-z")
    assert not DataKey.objects.exists()


def test_a_kek_rotation_re_wraps_data_keys_only(tenants, settings):
    before = snapshot()
    wrapped = dict(DataKey.objects.values_list("pk", "wrapped"))
    original = list(settings.RM_ENCRYPTION_KEYS)
    settings.RM_ENCRYPTION_KEYS = [NEW_KEK, *original]
    try:
        output = command("rotate_kek")

        assert f"re-wrapped {len(wrapped)} data keys" in output
        assert snapshot() == before  # not one secret re-encrypted
        for key_id, now in DataKey.objects.values_list("pk", "wrapped"):
            assert now != wrapped[key_id]
            Fernet(NEW_KEK.encode()).decrypt(now.encode())  # wrapped by the new KEK
        settings.RM_ENCRYPTION_KEYS = [NEW_KEK]  # the old KEK is dropped
        forget_unwrapped_keys()
        for scope in SCOPES:
            resource = tenants[scope]["resource"]
            assert Resource.objects.get(pk=resource["id"]).credentials == resource["credentials"]
        assert Provider.objects.get(key="pg").password
    finally:
        settings.RM_ENCRYPTION_KEYS = [*original, NEW_KEK]
        command("rotate_kek")  # back under the test settings' key for the teardown
        settings.RM_ENCRYPTION_KEYS = original
        forget_unwrapped_keys()


def test_a_kek_rotation_warns_of_values_still_under_the_old_keys(tenants, settings):
    consumer_a = tenants["team-a"]["consumer"]["id"]
    write_raw(Consumer, "properties", consumer_a, legacy({}, settings.RM_ENCRYPTION_KEYS[0]))

    assert "1 stored values are still under RM_ENCRYPTION_KEYS itself: run " in (
        command("rotate_kek"))


def test_delete_scope_is_refused_while_the_scope_has_resources(tenants):
    with pytest.raises(CommandError, match=(
            r"scope team-a still has 1 resource.* delete_scope team-a --delete-resources")):
        command("delete_scope", "team-a", "--yes")

    assert key_of("team-a") and Consumer.objects.filter(scope="team-a").exists()


def test_delete_scope_asks_for_the_scope_s_name(tenants, monkeypatch):
    monkeypatch.setattr(delete_scope_command.Command, "stdin_isatty", staticmethod(lambda: True))
    monkeypatch.setattr("builtins.input", lambda prompt: "team-b")

    with pytest.raises(CommandError, match="not confirmed; nothing was deleted"):
        command("delete_scope", "team-a", "--delete-resources")

    assert Resource.objects.filter(scope="team-a").live().exists()


def test_delete_scope_without_a_terminal_needs_yes(tenants):
    with pytest.raises(CommandError, match="confirm with --yes"):
        command("delete_scope", "team-a", "--delete-resources")


def test_delete_scope_shreds_its_secrets_and_leaves_the_others_readable(tenants):
    dump_a, dump_b = stored_of("team-a"), stored_of("team-b")
    assert len(dump_a) == 4  # resource, owner's and issued credentials, consumer
    for token in dump_a.values():
        crypto.decrypt(token)  # readable before

    output = command("delete_scope", "team-a", "--delete-resources", "--yes")

    assert "deletion of 1 resource(s) requested" in output
    assert ("scope team-a deleted: removed 0 backup(s), 1 consumer(s), 2 credential(s), "
            "1 settings, ") in output
    assert "1 data key(s) destroyed" in output
    assert not DataKey.objects.filter(scope="team-a").exists()
    assert not Consumer.objects.filter(scope="team-a").exists()
    assert not Credential.objects.filter(scope="team-a").exists()
    assert not ScopeSettings.objects.filter(scope="team-a").exists()
    assert Resource.objects.get(pk=tenants["team-a"]["resource"]["id"]).status == "deleted"
    entry = AuditEntry.objects.get(action="scope.delete")
    assert (entry.actor, entry.scope, entry.outcome) == ("system", "team-a", "success")
    assert "1 data key(s) destroyed" in entry.message
    forget_unwrapped_keys()  # as every process does within RM_KMS_CACHE_SECONDS
    for token in dump_a.values():  # the dump taken before cannot be read any more
        with pytest.raises(crypto.DecryptionError, match="no longer exists"):
            crypto.decrypt(token)
    for token in dump_b.values():
        crypto.decrypt(token)
    resource_b = tenants["team-b"]["resource"]
    assert Resource.objects.get(pk=resource_b["id"]).credentials == resource_b["credentials"]
