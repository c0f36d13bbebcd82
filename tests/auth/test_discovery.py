"""Provider discovery right after boot, when the monotonic clock is still near zero."""

from resourcemanager.identity import oidc


def test_discovery_is_fetched_on_a_freshly_booted_machine(oidc_provider, monkeypatch):
    monkeypatch.setattr(oidc.time, "monotonic", lambda: 5.0)

    found = oidc.endpoints()

    assert found.userinfo.startswith(oidc_provider.url)
    assert found.authorization.startswith(oidc_provider.url)
