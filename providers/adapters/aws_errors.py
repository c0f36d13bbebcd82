"""What S3 and IAM answers mean: a short reason, whether a retry may help, "no such ..."."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

#: Longest reason kept from an answer, in characters.
MAX_REASON = 200
#: Error codes S3 and IAM answer when an object we look for does not exist.
MISSING = frozenset({"NoSuchEntity", "NoSuchBucket", "404", "NotFound"})
TRANSIENT_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                             "ServiceUnavailable", "InternalError"})


def error_code(exc: ClientError) -> str:
    """The error code of an S3 or IAM answer (``NoSuchBucket`` ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def reason(exc: BotoCoreError | ClientError) -> str:
    """``NoSuchBucket: The specified bucket does not exist``, or ``connection refused``."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        text = ": ".join(filter(None, (str(error.get("Code", "")), str(error.get("Message", "")))))
    else:  # "... Failed to establish a new connection: [Errno 111] Connection refused"
        cause = str(exc.kwargs.get("error", "")) or str(exc)
        cause = re.sub(r"^<[^>]*>:\s*", "", cause)  # "<...HTTPConnection object at 0x..>: "
        errno = re.search(r"\[Errno -?\d+\]\s*(.+)$", cause)
        text = errno.group(1) if errno else cause
        text = text[0].lower() + text[1:] if text[:2].istitle() else text
    return (text or type(exc).__name__)[:MAX_REASON]


def transient(exc: BotoCoreError | ClientError) -> bool:
    """Throttling and server-side failures are worth retrying; other refusals are not."""
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status >= 500 or error_code(exc) in TRANSIENT_CODES


@contextmanager
def missing_ok() -> Iterator[None]:
    """Swallow the "no such bucket/user/policy/key" answers of idempotent deletes."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) not in MISSING:
            raise
