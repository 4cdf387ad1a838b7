"""Mail over SMTP (aiosmtplib): refusals the server gave become `MailNotAccepted`."""

from email.message import EmailMessage
from typing import Any

import aiosmtplib

from payments.service_layer.ports import MailNotAccepted

# The server answered and refused: the message was certainly not accepted.
_NOT_SENT = (
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPRecipientsRefused,
    aiosmtplib.SMTPDataError,
    aiosmtplib.SMTPNotSupported,
)


def _permanent(exc: Exception) -> bool:
    """A 5xx reply: sending the same mail again gets the same answer."""
    codes = [getattr(exc, "code", 0)] + [
        getattr(e, "code", 0) for e in getattr(exc, "recipients", [])
    ]
    return any(500 <= code < 600 for code in codes)


class SmtpSender:
    def __init__(
        self,
        *,
        hostname: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._smtp: dict[str, Any] = {
            "hostname": hostname,
            "port": port,
            "username": username,
            "password": password,
            "start_tls": start_tls,
            "timeout": timeout_seconds,
        }

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(message, **self._smtp)
        except _NOT_SENT as exc:
            raise MailNotAccepted(str(exc), permanent=_permanent(exc)) from exc
