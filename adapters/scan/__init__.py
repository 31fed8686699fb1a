"""Scanner adapters and the registry that picks one from a URL.

Supported URLs:

``none``
    ``NoScanner``: scanning disabled, every object is clean.
``clamd:///path/to/clamd.sock[?connect_timeout=SECONDS&timeout=SECONDS]``
    ``ClamdScanner`` on clamd's unix socket (``LocalSocket``).
``clamd://host[:port][?connect_timeout=SECONDS&timeout=SECONDS]``
    ``ClamdScanner`` on clamd's TCP socket (``TCPSocket``, port 3310 by default).

``connect_timeout`` bounds connecting and PING (default 5 s); ``timeout`` bounds each send
and the wait for a verdict (default 600 s, which must exceed clamd's MaxScanTime).
"""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from adapters.scan.clamd import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    ClamdAddress,
    ClamdScanner,
    TcpSocket,
    UnixSocket,
)
from adapters.scan.none import NoScanner
from gateway.ports import Scanner

__all__ = ["ClamdScanner", "NoScanner", "TcpSocket", "UnixSocket", "open_scanner"]

_CLAMD_PARAMS = frozenset({"connect_timeout", "timeout"})


def _clamd_address(url: SplitResult) -> ClamdAddress:
    if "@" in url.netloc:
        raise ValueError("clamd scanner URL must not carry credentials")
    if not url.netloc:
        path = unquote(url.path)
        if not path.startswith("/") or path.endswith("/"):
            raise ValueError(
                f"clamd scanner URL needs the socket's absolute path (clamd:///...), got {path!r}"
            )
        return UnixSocket(path)
    if url.path not in ("", "/"):
        raise ValueError(
            f"clamd scanner URL names a host and a path; use clamd://host:port or "
            f"clamd:///path/to/socket, got {url.geturl()!r}"
        )
    try:
        port = url.port
    except ValueError as exc:
        raise ValueError(f"clamd scanner URL has a bad port: {exc}") from exc
    if not url.hostname:
        raise ValueError(f"clamd scanner URL needs a host, got {url.geturl()!r}")
    return TcpSocket(url.hostname, DEFAULT_PORT if port is None else port)


def _timeouts(url: SplitResult) -> dict[str, float]:
    if url.fragment:
        raise ValueError("clamd scanner URL takes no fragment")
    try:
        query = parse_qs(url.query, keep_blank_values=True, strict_parsing=bool(url.query))
    except ValueError as exc:
        raise ValueError(f"clamd scanner URL has a malformed query: {exc}") from exc
    unknown = set(query) - _CLAMD_PARAMS
    if unknown:
        raise ValueError(
            f"unknown clamd scanner URL parameter(s) {sorted(unknown)}; "
            f"known: {sorted(_CLAMD_PARAMS)}"
        )
    timeouts = {"connect_timeout": DEFAULT_CONNECT_TIMEOUT, "timeout": DEFAULT_TIMEOUT}
    for name, values in query.items():
        try:
            value = float(values[0]) if len(values) == 1 else None
        except ValueError:
            value = None
        if value is None or not 0 < value < float("inf"):
            raise ValueError(f"{name} must be one positive number of seconds, got {values!r}")
        timeouts[name] = value
    return timeouts


def open_scanner(url: str, *, max_bytes: int | None = None) -> Scanner:
    """The scanner ``url`` names (see the module's docstring), scanning at most ``max_bytes``.

    Raises ``ValueError`` naming the problem when the URL is malformed or its scheme
    unknown. Nothing is contacted: an unreachable clamd shows in ``ping`` and in the
    error verdicts of ``scan``.
    """
    if url.strip() == "none":
        return NoScanner()
    try:
        parsed = urlsplit(url.strip())
    except ValueError as exc:
        raise ValueError(f"malformed scanner URL: {exc}") from exc
    if parsed.scheme != "clamd":
        raise ValueError(
            f"unsupported scanner URL {url!r}; expected none, clamd:///path/to/clamd.sock "
            "or clamd://host:port"
        )
    timeouts = _timeouts(parsed)
    return ClamdScanner(
        _clamd_address(parsed),
        max_bytes=max_bytes,
        connect_timeout=timeouts["connect_timeout"],
        timeout=timeouts["timeout"],
    )
