"""Secrets at rest: ciphertext under the row's scope's data key in the columns, clear text
only through the models; values from before data keys (bare Fernet tokens under
RM_ENCRYPTION_KEYS) still read, and ``rotate_encryption_keys`` moves them, over every
encrypted column it finds, all or nothing."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connection

from consumers.models import Consumer
from providers.models import Provider
from resourcemanager.backups.models import Backup
from resourcemanager.core import crypto, datakeys
from resourcemanager.core.datakeys import PLATFORM, DataKey
from resourcemanager.core.fields import Sealed
from resourcemanager.core.key_rotation import encrypted_columns, legacy_values
from resourcemanager.core.kms import KMSError
from resourcemanager.resources.models import Credential, Resource
from tests.conftest import PG_PASSWORD

TEAM_A = "/api/c/team-a/resources"
#: The key of the test settings (tests/settings.py).
DEFAULT_KEY = "8J_Vn-MwXQ4s5vZ0x2hPRiNMCK8PiTWE5d7t0gRPu2E="
WRONG_KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()
SPARE_PASSWORD = "spare-admin-pw-7c1f"
HOOK_SECRET = "whsec-rotation-canary-41d2"
BACKUP_KEY = base64.b64encode(b"a backup's data key, 32 bytes..").decode()


def raw(model, column: str, pk) -> str | None:
    """The column's value as stored, read with SQL past the model's field."""
    table = connection.ops.quote_name(model._meta.db_table)
    column_sql = connection.ops.quote_name(model._meta.get_field(column).column)
    pk_sql = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column_sql} FROM {table} WHERE {pk_sql} = %s",  # noqa: S608
            [model._meta.pk.get_db_prep_value(pk, connection)],
        )
        return cursor.fetchone()[0]


def write_raw(model, column: str, pk, value: str) -> None:
    table = connection.ops.quote_name(model._meta.db_table)
    column_sql = connection.ops.quote_name(model._meta.get_field(column).column)
    pk_sql = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column_sql} = %s WHERE {pk_sql} = %s",  # noqa: S608
            [value, model._meta.pk.get_db_prep_value(pk, connection)],
        )


def snapshot() -> dict:
    """Every stored value of every encrypted column, raw (NULLs left out)."""
    values = {
        (column.label, pk): raw(column.model, column.field.name, pk)
        for column in encrypted_columns()
        for pk in column.model._default_manager.values_list("pk", flat=True)
    }
    return {where: token for where, token in values.items() if token is not None}


def rotate(*args: str, stdout: io.StringIO | None = None) -> str:
    out = stdout or io.StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out)
    return out.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def tampered(token: str) -> str:
    """The token with one ciphertext byte flipped; still well-formed base64."""
    head, _, body = token.rpartition(":")
    data = bytearray(base64.urlsafe_b64decode(body))
    data[30] ^= 0x01  # past version, timestamp and IV: inside the ciphertext
    return (f"{head}:" if head else "") + base64.urlsafe_b64encode(bytes(data)).decode()


def legacy(value: object, key: str) -> str:
    """``value`` as stored before per-scope data keys: a bare Fernet token under ``key``."""
    text = value if isinstance(value, str) else json.dumps(value)
    return Fernet(key.encode()).encrypt(text.encode()).decode()


def forget_unwrapped_keys() -> None:
    """As a process started afresh: no data key unwrapped yet."""
    datakeys._cache.entries.clear()


class Keys:
    """Sets RM_ENCRYPTION_KEYS for a test and remembers every key it used."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.original = list(settings.RM_ENCRYPTION_KEYS)
        self.used: list[str] = []

    @property
    def current(self) -> str:
        """The key the test settings encrypt with."""
        return self.original[0]

    def use(self, *keys: str) -> None:
        self.used.extend(key for key in keys if key not in self.used)
        self.settings.RM_ENCRYPTION_KEYS = list(keys)
        forget_unwrapped_keys()


@pytest.fixture
def keys(pg_provider, settings) -> Iterator[Keys]:
    """Key changes for one test. Afterwards every data key is wrapped by the original key
    and every value under its scope's data key, so that the backend cleanup (which reads
    the resources) still works."""
    state = Keys(settings)
    yield state
    settings.RM_ENCRYPTION_KEYS = [*state.original, *state.used]
    call_command("rotate_kek", stdout=io.StringIO())
    rotate()
    settings.RM_ENCRYPTION_KEYS = state.original
    forget_unwrapped_keys()


@pytest.fixture
def secrets(make_client, pg_provider) -> dict:
    """A real PostgreSQL resource made through the API, and a second provider instance."""
    client = make_client(team_a="RESOURCE_ADMIN")
    response = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")
    assert response.json()["status"] == "ready", response.json()
    spare = Provider.objects.create(
        key="spare", provider_class="postgresql", host="127.0.0.1", port=1,
        username="rm_admin", password=SPARE_PASSWORD,
    )
    hook = Consumer.objects.create(scope="team-a", builder="webhook", name="hook", properties={
        "url": "https://hooks.example.com/rm", "secret": HOOK_SECRET, "timeout": 10,
    })
    issued = client.post(f"{TEAM_A}/{response.json()['id']}/credentials",
                         {"holder": "reports", "access": "read-only"}, format="json").json()
    pending = {"username": "rotating", "password": "a-rotation's-new-password"}
    Credential.objects.filter(pk=issued["id"]).update(pending_secret=Sealed("team-a", pending))
    backup = Backup.objects.create(
        scope="team-a", resource_id=response.json()["id"], format="postgresql-custom",
        compressed=False, object_key="team-a/backup", data_key=BACKUP_KEY, created_by="tests")
    return {
        "backup_id": backup.pk,
        "resource_id": response.json()["id"],
        "credentials": response.json()["credentials"],
        "credential_id": issued["id"],
        "credential_secret": issued["credentials"],
        "pending_secret": pending,
        "providers": {pg_provider.pk: PG_PASSWORD, spare.pk: SPARE_PASSWORD},
        "consumer_id": hook.pk,
        "consumer_properties": hook.properties,
    }


def clear_values(secrets: dict) -> dict:
    """(column label, pk) -> the clear value, for a row of every encrypted column. A new
    encrypted field needs a row here (and in ``secrets``)."""
    values = {
        ("resourcemanager.Resource.credentials", secrets["resource_id"]): secrets["credentials"],
        ("consumers.Consumer.properties", secrets["consumer_id"]):
            secrets["consumer_properties"],
        ("resourcemanager.Credential.secret", secrets["credential_id"]):
            secrets["credential_secret"],
        ("resourcemanager.Credential.pending_secret", secrets["credential_id"]):
            secrets["pending_secret"],
        ("resourcemanager.Backup.data_key", secrets["backup_id"]): BACKUP_KEY,
    }
    values.update(
        (("providers.Provider.password", pk), password)
        for pk, password in secrets["providers"].items()
    )
    return values


def read_back(label: str, pk) -> object:
    column = next(column for column in encrypted_columns() if column.label == label)
    return getattr(column.model._default_manager.get(pk=pk), column.field.name)


def assert_all_secrets_read_back(secrets: dict) -> None:
    for (label, pk), value in clear_values(secrets).items():
        assert read_back(label, pk) == value, label


def current_key_id(scope: str) -> str:
    return DataKey.objects.get(scope=scope, current=True).pk


def make_legacy(secrets: dict, key: str) -> None:
    """Every secret of ``secrets`` stored again as before per-scope data keys."""
    for (label, pk), value in clear_values(secrets).items():
        column = next(column for column in encrypted_columns() if column.label == label)
        write_raw(column.model, column.field.name, pk, legacy(value, key))


def test_resource_credentials_are_ciphertext_under_the_scope_s_key(secrets):
    stored = raw(Resource, "credentials", secrets["resource_id"])

    assert stored.startswith(f"rm1:{current_key_id('team-a')}:gAAAAA")  # a Fernet token
    assert secrets["credentials"]["password"] not in stored
    assert secrets["credentials"]["username"] not in stored
    assert "postgresql://" not in stored
    assert crypto.decrypt_json(stored) == secrets["credentials"]


def test_resource_credentials_decrypt_through_the_model(secrets):
    resource = Resource.objects.get(pk=secrets["resource_id"])

    assert resource.credentials == secrets["credentials"]


def test_provider_passwords_are_under_the_platform_s_key_and_clear_through_the_model(secrets):
    for pk, password in secrets["providers"].items():
        stored = raw(Provider, "password", pk)

        assert stored.startswith(f"rm1:{current_key_id(PLATFORM)}:gAAAAA")
        assert password not in stored
        assert crypto.decrypt(stored) == password
        assert Provider.objects.get(pk=pk).password == password


def test_data_keys_are_stored_only_wrapped(secrets):
    for row in DataKey.objects.all():
        key = datakeys.cipher(row.pk)._signing_key  # the unwrapped key's halves
        assert base64.urlsafe_b64encode(key).decode()[:16] not in row.wrapped
        assert row.kms == "local"


@pytest.mark.django_db
def test_the_same_secret_encrypts_differently_each_time():
    assert crypto.encrypt("team-a", "same") != crypto.encrypt("team-a", "same")


def test_values_from_before_data_keys_still_read(secrets):
    make_legacy(secrets, DEFAULT_KEY)

    assert legacy_values() == 7  # the owner's credential aside
    assert_all_secrets_read_back(secrets)


def test_rotation_covers_every_encrypted_column_and_loses_no_plaintext(secrets, keys):
    found = {column.label for column in encrypted_columns()}
    assert {label for label, _ in clear_values(secrets)} == found
    make_legacy(secrets, keys.current)

    rotate()

    assert legacy_values() == 0
    assert_all_secrets_read_back(secrets)


def test_encrypted_columns_are_found_in_every_app():
    found = {column.label for column in encrypted_columns()}

    assert {"resourcemanager.Resource.credentials", "providers.Provider.password",
            "consumers.Consumer.properties"} <= found


def test_rotation_moves_every_old_value_under_its_scope_s_key(secrets, keys):
    make_legacy(secrets, keys.current)
    before = {(label, str(pk)): token for (label, pk), token in snapshot().items()}

    output = rotate()

    after = {(label, str(pk)): token for (label, pk), token in snapshot().items()}
    assert "re-encrypted 7 secrets in 6 columns; every one is under its scope's current" in (
        output)
    assert "consumers.Consumer.properties: 1\n" in output
    for label, pk in clear_values(secrets):
        token = after[(label, str(pk))]
        assert token != before[(label, str(pk))], label
        scope = PLATFORM if label == "providers.Provider.password" else "team-a"
        assert crypto.key_id(token) == current_key_id(scope), label


def test_values_already_under_their_scope_s_key_are_left_as_they_are(secrets, keys):
    before = snapshot()

    output = rotate()

    assert "re-encrypted 0 secrets in 6 columns" in output
    assert snapshot() == before


def test_rotation_goes_in_batches_and_shows_progress_on_a_terminal(secrets, keys):
    make_legacy(secrets, keys.current)
    terminal = Terminal()

    rotate("--batch-size", "1", stdout=terminal)

    output = terminal.getvalue()
    assert "\rproviders.Provider.password: 1/2\rproviders.Provider.password: 2/2\n" in output
    assert "\rconsumers.Consumer.properties: 1/1\n" in output
    assert "re-encrypted 7 secrets" in output
    assert_all_secrets_read_back(secrets)


def test_a_batch_size_below_one_is_refused(keys):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        rotate("--batch-size", "0")


def test_one_undecryptable_value_fails_the_command_and_changes_nothing(secrets, keys, capsys):
    make_legacy(secrets, keys.current)
    stray = legacy({"secret": "stray-canary-93bc"}, OTHER_KEY)
    readable = raw(Consumer, "properties", secrets["consumer_id"])
    write_raw(Consumer, "properties", secrets["consumer_id"], stray)
    before = snapshot()

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "rotate_encryption_keys", "--batch-size", "1"])

    message = capsys.readouterr().err
    assert exit_info.value.code != 0
    assert f"consumers.Consumer.properties pk={secrets['consumer_id']} cannot be decrypted" in (
        message
    )
    assert "nothing was changed" in message
    assert "stray-canary" not in message and stray not in message
    assert snapshot() == before
    write_raw(Consumer, "properties", secrets["consumer_id"], readable)  # for the teardown


def test_with_a_wrong_key_only_reading_a_secret_fails_clearly(secrets, keys):
    keys.use(WRONG_KEY)

    with pytest.raises(KMSError, match="KMS local refused"):
        Resource.objects.get(pk=secrets["resource_id"])
    with pytest.raises(KMSError, match="KMS local refused"):
        Provider.objects.get(key="spare")


def test_with_a_wrong_key_only_rotation_fails_and_changes_nothing(secrets, keys):
    make_legacy(secrets, keys.current)
    before = snapshot()
    keys.use(WRONG_KEY)

    with pytest.raises(CommandError, match=r"KMS local refused.*nothing was changed"):
        rotate()

    assert snapshot() == before


def test_rotation_that_fails_halfway_changes_nothing(secrets, keys):
    """Resources rotate first; a provider password under an unknown key stops the run."""
    make_legacy(secrets, keys.current)
    odd = Provider.objects.create(
        key="odd", provider_class="postgresql", host="127.0.0.1", port=1,
        username="rm_admin", password="placeholder",
    )
    write_raw(Provider, "password", odd.pk, legacy("made-with-another-key", OTHER_KEY))
    before = snapshot()

    with pytest.raises(CommandError, match="nothing was changed"):
        rotate()

    assert snapshot() == before
    odd.delete()


def test_tampered_credentials_fail_authentication(secrets):
    stored = raw(Resource, "credentials", secrets["resource_id"])

    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(tampered(stored))


def test_a_tampered_column_cannot_be_read_through_the_model(secrets):
    spare = Provider.objects.get(key="spare")
    write_raw(Provider, "password", spare.pk, tampered(raw(Provider, "password", spare.pk)))

    with pytest.raises(crypto.DecryptionError):
        Provider.objects.get(pk=spare.pk)
