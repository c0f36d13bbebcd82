"""Provider instances in the admin: operators manage them (secrets encrypted, changes
audited, connection tests); every other role reads those usable in its scopes."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from providers.models import Provider
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role

ADD = "/admin/providers/provider/add/"
CHANGELIST = "/admin/providers/provider/"
CANARY = "provider-admin-canary-77ab"
HIDDEN_HOST = "db-internal-zq.example"
HIDDEN_USER = "rm_admin_zq"
BRAVO_ONLY = "bravo-only-instance-zq"


@pytest.fixture
def operator(committing_db, django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("op", password="x" * 20))
    return client


def form(**fields) -> dict:
    return {"key": "pg-eu", "provider_class": "postgresql", "description": "", "host": "127.0.0.1",
            "port": "5432", "username": "postgres", "password": CANARY, "options": "{}",
            "allowed_scopes": "[]", "enabled": "on"} | fields


def test_operator_adds_an_instance_with_an_encrypted_password(operator):
    response = operator.post(ADD, form())

    assert response.status_code == 302, response.content.decode()[:3000]
    provider = Provider.objects.get(key="pg-eu")
    assert provider.password == CANARY
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM providers_provider WHERE key = %s", ["pg-eu"])
        assert CANARY not in cursor.fetchone()[0]
    entry = AuditEntry.objects.get(action="provider.create")
    assert (entry.actor, entry.outcome) == ("op", "success")
    assert CANARY not in entry.message + entry.target_name


def test_leaving_the_password_empty_keeps_the_stored_one(operator):
    operator.post(ADD, form())
    provider = Provider.objects.get(key="pg-eu")

    operator.post(f"/admin/providers/provider/{provider.pk}/change/",
                  form(password="", description="changed"))

    provider.refresh_from_db()
    assert (provider.password, provider.description) == (CANARY, "changed")


@pytest.mark.parametrize(
    "options", ['{"bogus": 1}', '{"name_prefix": "Bad-"}', '["not", "an", "object"]']
)
def test_bad_options_are_form_errors(operator, options):
    response = operator.post(ADD, form(options=options))

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not Provider.objects.exists()


@pytest.mark.parametrize("fields, field, error", [
    ({"options": '{"sslmode": "bogus"}'}, "options",
     "option 'sslmode' must be one of disable, allow, prefer, require, verify-ca, "
     "verify-full"),
    ({"options": '{"public_port": -1}'}, "options",
     "option 'public_port' must be an integer from 1 to 65535"),
    ({"options": '{"database": "\\u0000"}'}, "options",
     "option 'database' must be a string of at most 63 characters, without control "
     "characters"),
    ({"port": "99999"}, "port", "port must be an integer from 1 to 65535"),
    ({"allowed_scopes": '["TEAM A", 1]'}, "allowed_scopes",
     "allowed_scopes must be a list of scope names (lowercase letters, digits and '-'), "
     "or empty for every scope"),
    ({"key": "PG-EU"}, "key", "another provider instance has this key in another case"),
    *(({"host": host}, "host", "host is a DNS name or an IP address, without a port or a "
       "scheme") for host in ("bad host!", "db\u0001", "[::1", "127.0.0.1:5432", "http://x")),
])
def test_values_a_declaration_may_not_have_are_errors_beside_their_field(
        operator, fields, field, error):
    operator.post(ADD, form())

    response = operator.post(ADD, form(key="pg-us") | fields)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [error]
    assert list(Provider.objects.values_list("key", flat=True)) == ["pg-eu"]


def test_options_of_their_declared_kind_are_saved(operator):
    options = '{"sslmode": "require", "public_port": 6432, "database": "postgres"}'

    response = operator.post(ADD, form(options=options))

    assert response.status_code == 302
    assert Provider.objects.get().options == {"sslmode": "require", "public_port": 6432,
                                              "database": "postgres"}


def test_test_connection_action_reports_reachability(operator):
    operator.post(ADD, form())
    operator.post(ADD, form(key="dead", port="1"))
    ids = list(Provider.objects.order_by("key").values_list("pk", flat=True))

    response = operator.post("/admin/providers/provider/", {
        "action": "test_connection", "_selected_action": ids}, follow=True)

    shown = " | ".join(m.message for m in response.context["messages"])
    assert "pg-eu: reachable" in shown
    assert "dead: cannot reach PostgreSQL at 127.0.0.1:1" in shown
    assert CANARY not in shown + response.content.decode()


def test_test_connection_warns_about_databases_every_login_may_reach(operator):
    """The local server keeps PostgreSQL's default: PUBLIC may connect to ``postgres``."""
    operator.post(ADD, form())
    provider = Provider.objects.get()

    response = operator.post(reverse("admin:providers_provider_test_connection",
                                     args=[provider.pk]), follow=True)

    warnings = [m.message for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 1
    assert "every login, tenants' included, may connect to" in warnings[0]
    assert "postgres" in warnings[0].split(":")[1]


def test_staff_without_operator_rights_cannot_open_providers(committing_db,
                                                            django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("staff", is_staff=True))

    assert client.get("/admin/providers/provider/").status_code == 403
    assert client.post(ADD, form()).status_code == 403
    assert not Provider.objects.exists()


# --- every role: read-only, only the instances usable in its scopes ---------------------


def change_url(pk: object) -> str:
    return reverse("admin:providers_provider_change", args=[pk])


def connection_test_url(pk: object) -> str:
    return reverse("admin:providers_provider_test_connection", args=[pk])


@pytest.fixture
def instances(committing_db) -> dict[str, Provider]:
    """One instance for every scope, one for team-a, one for team-b only, one disabled."""

    def make(key: str, allowed_scopes: list[str], **fields) -> Provider:
        return Provider.objects.create(
            key=key, provider_class="postgresql", host=HIDDEN_HOST, port=45821,
            username=HIDDEN_USER, password=CANARY, options={"public_host": "pub-zq.example"},
            allowed_scopes=allowed_scopes, description=f"{key} description", **fields,
        )

    return {
        "shared": make("shared-pg", [], is_default=True, reachable=True),
        "alpha": make("alpha-pg", ["team-a"]),
        "bravo": make(BRAVO_ONLY, ["team-b"]),
        "disabled": make("disabled-pg", [], enabled=False),
    }


def scope_browser(django_user_model, role: Role, scope: str = "team-a") -> Client:
    user = django_user_model.objects.create_user(f"{role.lower()}-user", password=None)
    ScopeRole.objects.create(user=user, scope=scope, role=role)
    client = Client()
    client.force_login(user)
    return client


def assert_no_platform_secrets(page: str) -> None:
    for secret in (HIDDEN_HOST, HIDDEN_USER, CANARY, "pub-zq.example", "45821"):
        assert secret not in page


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_the_instances_of_its_scopes(instances, django_user_model, role):
    client = scope_browser(django_user_model, role)

    page = client.get(CHANGELIST).content.decode()

    assert "shared-pg" in page
    assert "alpha-pg" in page
    assert BRAVO_ONLY not in page
    assert "disabled-pg" not in page
    assert "2 providers" in page
    assert ADD not in page
    assert 'name="action"' not in page  # no bulk action, not even the connection test
    assert_no_platform_secrets(page)


@pytest.mark.parametrize("role", list(Role))
def test_the_detail_is_read_only_without_the_platform_s_secrets(
    instances, django_user_model, role
):
    client = scope_browser(django_user_model, role)

    response = client.get(change_url(instances["shared"].pk))

    page = response.content.decode()
    assert response.status_code == 200
    assert "shared-pg description" in page
    assert 'name="key"' not in page  # nothing to edit
    assert 'name="_save"' not in page
    assert_no_platform_secrets(page)
    assert connection_test_url(instances["shared"].pk) not in page
    assert "Test connection" not in page


@pytest.mark.parametrize("view", ["change", "history", "delete", "test_connection"])
def test_an_instance_of_another_scope_looks_like_one_that_never_was(
    instances, django_user_model, view
):
    client = scope_browser(django_user_model, Role.ADMIN)
    url = f"admin:providers_provider_{view}"

    for method in ("get", "post"):
        foreign = getattr(client, method)(reverse(url, args=[instances["bravo"].pk]))
        missing = getattr(client, method)(reverse(url, args=[987654321]))
        assert foreign.status_code == missing.status_code, (method, view)
        assert foreign.get("Location") == missing.get("Location")
        assert BRAVO_ONLY not in foreign.content.decode()


def test_filters_and_counts_reveal_no_instance_of_another_scope(instances, django_user_model):
    client = scope_browser(django_user_model, Role.USER)

    faceted = client.get(CHANGELIST, {"_facets": "1"}).content.decode()
    filtered = client.get(CHANGELIST, {"provider_class__exact": "postgresql"}).content.decode()
    searched = client.get(CHANGELIST, {"q": "bravo"}).content.decode()

    assert "PostgreSQL (2)" in faceted
    assert "2 providers" in filtered
    assert "0 providers" in searched
    for page in (faceted, filtered, searched):
        assert BRAVO_ONLY not in page
        assert "team-b" not in page
        assert_no_platform_secrets(page)


# --- the connection test on the detail page: operators only -----------------------------


def test_the_operator_s_detail_page_offers_the_connection_test(operator, instances):
    page = operator.get(change_url(instances["shared"].pk)).content.decode()

    assert f'action="{connection_test_url(instances["shared"].pk)}"' in page


def test_the_connection_test_records_and_shows_the_outcome(operator, pg_provider):
    dead = Provider.objects.create(key="dead", provider_class="postgresql", host="127.0.0.1",
                                   port=1, username="postgres", password=CANARY)

    alive = operator.post(connection_test_url(pg_provider.pk), follow=True)
    refused = operator.post(connection_test_url(dead.pk), follow=True)

    assert alive.redirect_chain[-1][0] == change_url(pg_provider.pk)
    assert next(iter(alive.context["messages"])).message == "pg: reachable"
    shown = " | ".join(m.message for m in refused.context["messages"])
    assert "dead: cannot reach PostgreSQL at 127.0.0.1:1" in shown
    assert CANARY not in shown + refused.content.decode()
    pg_provider.refresh_from_db()
    dead.refresh_from_db()
    assert (pg_provider.reachable, dead.reachable) == (True, False)
    assert dead.reachability_checked_at is not None


def test_the_connection_test_is_a_post(operator, instances):
    assert operator.get(connection_test_url(instances["shared"].pk)).status_code == 405


@pytest.mark.parametrize("role", list(Role))
def test_other_roles_cannot_run_the_connection_test(instances, django_user_model, role):
    client = scope_browser(django_user_model, role)
    shared = instances["shared"]

    direct = client.post(connection_test_url(shared.pk))
    action = client.post(CHANGELIST, {"action": "test_connection",
                                      "_selected_action": [shared.pk]})

    assert direct.status_code == 403
    assert action.status_code in (200, 302)
    assert Provider.objects.get(pk=shared.pk).reachability_checked_at is None
