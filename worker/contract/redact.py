"""Secret redaction, in one place: passwords in URLs, ``password=``/``token=`` query values, and named secrets
(the Discord token). The log formatters, the bot's and the worker's settings and every error message that
may show a URL use it (torch-free, standard library only)."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
MIN_SECRET_LEN = 8  # shorter "secrets" would mask ordinary words
# scheme://user:PASSWORD@host — the user part may be empty (redis://:pw@host); never across whitespace.
_URL_PASSWORD_RE = re.compile(r"(://[^:/@\s]*:)[^@/\s]+@")
# ?password=... / &token=... in a URL's query
_QUERY_SECRET_RE = re.compile(r"([?&](?:password|passwd|pwd|token|access_token|secret)=)[^&#\s]+", re.IGNORECASE)


def redact_url(text: str) -> str:
    """Mask the password of every URL in ``text`` (a URL, or a message that shows some).

    ``redis://:secret@host`` → ``redis://:***@host``; ``user:secret@`` and ``?password=secret`` likewise.
    """
    return _QUERY_SECRET_RE.sub(rf"\1{MASK}", _URL_PASSWORD_RE.sub(rf"\1{MASK}@", text))


class Redactor:
    """Masks the given secret values (at least 8 characters long) and URL passwords in a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return redact_url(text)
