"""The message a failed job keeps: what went wrong, without secrets or tracebacks."""

from __future__ import annotations

import re

MAX_MESSAGE = 1000
# ``scheme://user:password@host``: the credentials part of a URL.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")


def failure_message(exc: BaseException) -> str:
    """``Type: first line of the message``, credentials in URLs masked, at most 1000 chars.

    Only the first line is kept: database errors append the SQL statement and its
    parameters on the following lines, and those may carry data that is not ours to
    show. Handlers that want a precise message raise an exception whose first line says
    it (and holds no secret).
    """
    lines = str(exc).strip().splitlines()
    text = _URL_CREDENTIALS.sub(r"\g<scheme>***@", lines[0] if lines else "")
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
