"""API calls with the identity provider's access tokens: opaque ones and JWTs.

Opaque tokens come from the running provider. JWT checks use a key set this test serves
itself, so that tokens with a wrong issuer, audience, key, expiry or algorithm can be made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

from resourcemanager.identity.models import ExternalIdentity
from tests.support.oidc import CLIENT_ID, reset_oidc_caches

ISSUER = "https://idp.example.test/realms/platform"
ROLES = ["resourcemanager/team-a:ROLE_RESOURCE_ADMIN"]


def call(token: str, path: str = "/api/c/team-a/resources"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(path)


# --- opaque access tokens, resolved through the provider's userinfo endpoint --------------


@pytest.fixture
def userinfo_fallback(settings) -> None:
    settings.RM_OIDC_USERINFO_FALLBACK = True


def test_an_opaque_access_token_authenticates_with_its_roles(committing_db, oidc_provider,
                                                             userinfo_fallback):
    token = oidc_provider.tokens("alice-sub")["access_token"]
    assert token.count(".") != 2  # the provider's access tokens are opaque

    response = call(token)

    assert response.status_code == 200, response.json()
    assert call(token, "/api/auth/user").json()["authenticated_by"] == "oidc_token"
    assert call(token, "/api/c/team-c/resources").status_code == 403
    assert ExternalIdentity.objects.get(subject="alice-sub").user.username == "alice"


def test_an_unknown_opaque_token_is_a_json_401(committing_db, oidc_provider,
                                               userinfo_fallback):
    response = call("not-a-token-the-provider-issued")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_opaque_tokens_are_refused_without_introspection_by_default(committing_db,
                                                                   oidc_provider):
    """Userinfo answers for a token of any client of the provider, so it is opt-in."""
    ours = oidc_provider.tokens("alice-sub")["access_token"]
    another_clients = oidc_provider.tokens("alice-sub", client_id="other-client")["access_token"]

    for token in (ours, another_clients):
        response = call(token)
        assert response.status_code == 401
        assert "introspection" in response.json()["message"]
    assert not ExternalIdentity.objects.exists()


def test_the_userinfo_fallback_cannot_tell_clients_apart(committing_db, oidc_provider,
                                                        userinfo_fallback):
    """The risk the fallback's documentation names: another client's token is accepted."""
    token = oidc_provider.tokens("alice-sub", client_id="other-client")["access_token"]

    assert call(token).status_code == 200


def test_an_unreachable_provider_is_a_503_not_a_500(committing_db, oidc_provider, settings,
                                                    userinfo_fallback):
    settings.OIDC_OP_ISSUER = ""
    settings.OIDC_OP_USER_ENDPOINT = "http://127.0.0.1:1/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "http://127.0.0.1:1/jwks"

    response = call("some-opaque-token")

    assert response.status_code == 503
    assert response.json()["code"] == "identity_provider_unavailable"


def test_bearer_tokens_are_refused_when_no_provider_is_configured(committing_db):
    response = call("whatever")

    assert response.status_code == 401


# --- JWT access tokens, verified against the provider's key set ----------------------------


class KeySet:
    """Serves a JWKS on 127.0.0.1; keys can be rotated while it runs."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.rotate("key-1")
        keyset = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"keys": keyset.public_jwks()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Polled every 50 ms (not 500): shutdown() waits for the next poll.
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks"

    def rotate(self, kid: str) -> None:
        self.keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048)}

    def public_jwks(self) -> list[dict]:
        return [
            {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
             "kid": kid, "use": "sig", "alg": "RS256"}
            for kid, key in self.keys.items()
        ]

    def sign(self, kid: str | None = None, key=None, algorithm: str = "RS256", **claims) -> str:
        kid = kid or next(iter(self.keys))
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "carol-sub", "iat": now,
                   "exp": now + 300, "preferred_username": "carol", "roles": ROLES} | claims
        signing_key = key or self.keys[kid]
        return jwt.encode(payload, signing_key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def keyset(committing_db, settings) -> Iterator[KeySet]:
    keys = KeySet()
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_OP_ISSUER = ISSUER
    settings.OIDC_OP_JWKS_ENDPOINT = keys.url
    settings.OIDC_OP_USER_ENDPOINT = "http://127.0.0.1:1/userinfo"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "http://127.0.0.1:1/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://127.0.0.1:1/token"
    settings.OIDC_OP_LOGOUT_ENDPOINT = "http://127.0.0.1:1/logout"
    reset_oidc_caches()
    yield keys
    keys.server.shutdown()
    reset_oidc_caches()


def test_a_valid_jwt_authenticates_with_its_roles(keyset):
    response = call(keyset.sign())

    assert response.status_code == 200, response.json()
    link = ExternalIdentity.objects.get(subject="carol-sub")
    assert (link.issuer, link.user.username) == (ISSUER, "carol")


def test_the_audience_can_be_configured(keyset, settings):
    settings.RM_OIDC_AUDIENCE = "resourcemanager-api"

    assert call(keyset.sign(aud="resourcemanager-api")).status_code == 200
    assert call(keyset.sign()).status_code == 401


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://evil.example.test"}, "another issuer"),
        ({"aud": "some-other-client"}, "audience"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": None}, "invalid"),
        ({"sub": None}, "invalid"),
    ],
)
def test_jwts_with_bad_claims_are_refused(keyset, claims, reason):
    token = keyset.sign(**{k: v for k, v in claims.items() if v is not None})
    if None in claims.values():
        payload = jwt.decode(token, options={"verify_signature": False})
        for name in [k for k, v in claims.items() if v is None]:
            payload.pop(name)
        token = jwt.encode(payload, keyset.keys["key-1"], algorithm="RS256",
                           headers={"kid": "key-1"})

    response = call(token)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert reason in response.json()["message"]
    assert not ExternalIdentity.objects.exists()


def test_a_jwt_signed_by_another_key_is_refused(keyset):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert call(keyset.sign(key=stranger)).status_code == 401
    assert call(keyset.sign(kid="key-unknown", key=stranger)).status_code == 401


def test_an_unsigned_jwt_is_refused(keyset):
    payload = jwt.decode(keyset.sign(), options={"verify_signature": False})
    unsigned = jwt.encode(payload, None, algorithm="none", headers={"kid": "key-1"})

    response = call(unsigned)

    assert response.status_code == 401
    assert "algorithm not allowed" in response.json()["message"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_an_hmac_jwt_keyed_with_the_public_key_is_refused(keyset):
    """The classic algorithm-confusion forgery: HS256 with the public key as secret."""
    payload = jwt.decode(keyset.sign(), options={"verify_signature": False})
    public_pem = keyset.keys["key-1"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (b64(json.dumps({"alg": "HS256", "kid": "key-1"}).encode()) + "."
                     + b64(json.dumps(payload).encode()))
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

    response = call(f"{signing_input}.{b64(signature)}")

    assert response.status_code == 401
    assert "algorithm not allowed" in response.json()["message"]


def test_rotated_keys_are_fetched_by_kid(keyset, settings):
    settings.RM_OIDC_JWKS_REFRESH_COOLDOWN = 0
    assert call(keyset.sign()).status_code == 200
    keyset.rotate("key-2")

    assert call(keyset.sign(kid="key-2")).status_code == 200


def test_a_malformed_jwt_is_refused(keyset):
    assert call("abc.def.ghi").status_code == 401


# --- opaque tokens through token introspection (RFC 7662) ---------------------------------


class Introspection:
    """An introspection endpoint on 127.0.0.1 that knows one active and one inactive token."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                endpoint.calls.append({"form": form, "auth": self.headers["Authorization"]})
                dave = {"active": True, "sub": "dave-sub", "exp": time.time() + 60,
                        "preferred_username": "dave", "roles": ROLES}
                answers = {
                    "active-token": {**dave, "client_id": CLIENT_ID},
                    "expired-token": {**dave, "client_id": CLIENT_ID, "exp": time.time() - 60},
                    "other-clients-token": {**dave, "client_id": "other-client"},
                    "other-audience-token": {**dave, "client_id": "other-client",
                                             "aud": ["other-api"]},
                    "our-audience-token": {**dave, "client_id": "other-client",
                                           "aud": ["other-api", CLIENT_ID]},
                    "no-client-token": dave,
                }
                body = json.dumps(answers.get(form.get("token"), {"active": False})).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Polled every 50 ms (not 500): shutdown() waits for the next poll.
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/introspect"


@pytest.fixture
def introspection(keyset, settings) -> Iterator[Introspection]:
    endpoint = Introspection()
    settings.OIDC_OP_INTROSPECTION_ENDPOINT = endpoint.url
    settings.OIDC_RP_CLIENT_SECRET = "s3cret"
    yield endpoint
    endpoint.server.shutdown()


def test_an_active_token_is_accepted_and_cached(introspection):
    assert call("active-token").status_code == 200
    assert call("active-token").status_code == 200

    assert len(introspection.calls) == 1
    call_made = introspection.calls[0]
    assert call_made["form"]["token"] == "active-token"
    expected = base64.b64encode(f"{CLIENT_ID}:s3cret".encode()).decode()
    assert call_made["auth"] == f"Basic {expected}"
    assert ExternalIdentity.objects.get(subject="dave-sub").user.username == "dave"


@pytest.mark.parametrize("token", ["inactive-token", "expired-token"])
def test_inactive_or_expired_tokens_are_refused(introspection, token):
    response = call(token)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.parametrize("token", ["other-clients-token", "other-audience-token",
                                   "no-client-token"])
def test_tokens_minted_for_another_client_are_refused(introspection, token):
    response = call(token)

    assert response.status_code == 401
    assert "audience" in response.json()["message"]
    assert not ExternalIdentity.objects.exists()


def test_a_token_naming_us_among_its_audiences_is_accepted(introspection):
    assert call("our-audience-token").status_code == 200


def test_the_configured_audience_is_required_of_introspected_tokens(introspection, settings):
    settings.RM_OIDC_AUDIENCE = "other-api"

    assert call("other-audience-token").status_code == 200
    assert call("active-token").status_code == 401
