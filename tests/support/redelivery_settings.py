"""Settings of worker processes that look for abandoned messages every second.

A message whose worker died unacknowledged goes back to the queue once its visibility
timeout has passed, at the next scan of a live worker: every ten seconds in production
(``config/settings.py``), every second with these settings.
"""

from tests.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
    "unacked_restore_interval": 1,
}
