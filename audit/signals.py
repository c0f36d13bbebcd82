"""Sign-ins, failed sign-ins and lockouts go to the audit trail (never the password tried)."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.models import AuditEntry
from audit.services import record, record_denied


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs) -> None:
    record(user.get_username(), "auth.login", AuditEntry.Outcome.SUCCESS)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        record(user.get_username(), "auth.logout", AuditEntry.Outcome.SUCCESS)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str(credentials.get("username", ""))[:150]
    record(username or "anonymous", "auth.login", AuditEntry.Outcome.FAILURE)


@receiver(user_locked_out)
def _locked_out(sender, request, username, ip_address, **kwargs) -> None:
    record_denied(str(username or "anonymous")[:150], "auth.lockout",
                  message=f"too many failed sign-ins from {ip_address}")
