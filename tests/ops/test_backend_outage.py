"""A provider's server goes down and comes back: checks fail readably, the API stays up,
and the next sweep clears the failures. The server is a throwaway cluster the test stops."""

from audit.models import AuditEntry
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.resources import sweeps
from resourcemanager.resources.models import Resource

TEAM_A = "/api/c/team-a/resources"


def test_a_stopped_server_fails_checks_readably_and_the_next_sweep_clears_them(
    make_client, scram_provider, scram_cluster
):
    client = make_client(team_a="RESOURCE_ADMIN")
    ids = [client.post(TEAM_A, {"provider": "pg-scram", "name": f"db{n}"},
                       format="json").json()["id"] for n in range(3)]
    assert set(Resource.objects.values_list("status", flat=True)) == {"ready"}
    unreachable = f"cannot reach PostgreSQL at 127.0.0.1:{scram_cluster.port}"

    scram_cluster.pause()
    try:
        down = sweeps.sweep()
        sweeps.sweep()  # a long outage: no new audit entry per resource
        listing = client.get(TEAM_A)
        detail = client.get(f"{TEAM_A}/{ids[0]}")
        check = client.post(f"{TEAM_A}/{ids[1]}/check")
        created = client.post(TEAM_A, {"provider": "pg-scram", "name": "during"}, format="json")
    finally:
        scram_cluster.resume()

    assert down.as_dict()["failing"] == 3
    assert down.instances[0].error.startswith(unreachable)
    for resource in Resource.objects.filter(pk__in=ids):
        assert resource.last_check_ok is False
        assert resource.last_check_message.startswith(unreachable)
        assert resource.status == "ready"  # its data is still there: not an error
    failures = AuditEntry.objects.filter(action="resource.check", outcome="failure",
                                         actor=SYSTEM.name)
    assert failures.count() == 3
    scram_provider.refresh_from_db()
    assert scram_provider.reachable is False
    assert scram_provider.reachability_message.startswith(unreachable)
    assert listing.status_code == 200 and listing.json()["count"] == 3
    assert detail.status_code == 200
    assert detail.json()["last_check"]["ok"] is False
    assert check.status_code == 202
    assert created.status_code == 201
    assert created.json()["status"] == "error"
    # Tenants read a neutral sentence with a reference; the server's address is the
    # operators' (kept on the row and in the logs under the same reference).
    assert created.json()["status_message"].startswith(
        "the PostgreSQL server could not be reached (ref ")
    assert Resource.objects.get(pk=created.json()["id"]).status_message.startswith(unreachable)
    assert detail.json()["last_check"]["message"].startswith(
        "the PostgreSQL server could not be reached (ref ")
    for response in (listing, created):  # (a ready resource's credentials name its host)
        assert f"127.0.0.1:{scram_cluster.port}" not in response.content.decode()
        assert scram_cluster.admin_user not in response.content.decode()

    up = sweeps.sweep()
    scram_provider.refresh_from_db()
    assert scram_provider.reachable is True

    assert up.as_dict()["failing"] == 0
    assert set(Resource.objects.filter(pk__in=ids).values_list("last_check_ok", flat=True)) == {
        True
    }
    client.post(f"{TEAM_A}/{created.json()['id']}/check")  # a failed creation is made again
    assert Resource.objects.get(pk=created.json()["id"]).status == "ready"
