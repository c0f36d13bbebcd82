"""The ``webhook`` builder: POSTs each event as JSON, signed with the consumer's secret.

Signature scheme (verify it before trusting a request):

- ``X-Timestamp``: seconds since the epoch when the request was signed;
- ``X-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the consumer's
  ``secret`` (UTF-8), of the ASCII timestamp, a ``.`` and the raw request body.

Receivers recompute it over the body bytes as received, compare in constant time, and
refuse timestamps too far from their clock (replays). Delivery is at least once: the
body's ``id``, also sent as the ``Idempotency-Key`` header, is the same on every attempt
and lets receivers drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from consumers.builders import destinations
from consumers.builders.base import (
    ConsumerBuilder,
    DeliveryError,
    PropertySpec,
    ResourceEvent,
    timeout_property,
)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Signature`` value for ``body`` sent at ``timestamp``."""
    message = timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class WebhookBuilder(ConsumerBuilder):
    key = "webhook"
    label = "Webhook"
    resource_types = frozenset({"sql", "nosql", "object"})
    credential_events = True
    properties = {
        "url": PropertySpec("http(s) URL the events are POSTed to", required=True, kind="url"),
        "secret": PropertySpec(
            "Key of the HMAC-SHA256 signature in X-Signature", required=True, secret=True
        ),
        "include_credentials": PropertySpec(
            "Send the consumer's own login to the resource along (only to endpoints you "
            "trust)",
            kind="boolean",
            default=False,
        ),
        "timeout": timeout_property("Seconds to wait for an answer"),
    }

    def wants_credentials(self) -> bool:
        return bool(self.config.get("include_credentials"))

    def deliver(self, event: ResourceEvent) -> None:
        body = json.dumps(self.payload(event), separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        host = urlsplit(self.config["url"]).hostname  # the URL itself may hold a token
        try:
            response = destinations.session().post(
                self.config["url"],
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "resourcemanager-webhook",
                    "X-Timestamp": timestamp,
                    "X-Signature": signature(self.config["secret"], timestamp, body),
                    # The body's id: the same on every attempt, for dropping repeats.
                    "Idempotency-Key": str(event.id),
                },
                timeout=self.config.get("timeout") or 10,
                allow_redirects=False,  # a redirect would resend the event elsewhere
            )
        except requests.Timeout:
            raise DeliveryError(f"the webhook at {host} did not answer in time") from None
        except requests.ConnectionError:
            raise DeliveryError(f"cannot reach the webhook at {host}") from None
        except requests.RequestException as exc:
            raise DeliveryError(
                f"cannot call the webhook at {host} ({type(exc).__name__})", transient=False
            ) from None
        if response.status_code >= 300:
            raise DeliveryError(
                f"the webhook at {host} answered HTTP {response.status_code}",
                transient=response.status_code >= 500 or response.status_code == 429,
            )

    def payload(self, event: ResourceEvent) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": event.id,
            "event": event.name,
            "scope": event.scope,
            "occurred_at": event.occurred_at,
            "actor": event.actor,
            "resource": {**event.resource, "provider_class": event.provider_class},
        }
        if event.credential:
            payload["credential"] = event.credential
        if self.config.get("include_credentials") and event.credentials is not None:
            payload["credentials"] = event.credentials.as_dict()
        return payload
