"""Helpers for driving the gateway's WebDAV front end: raw HTTP and the Debian clients.

``DavHttp`` sends WebDAV requests with httpx (HTTP Basic as the admin) and parses
multistatus answers. ``litmus``, ``rclone`` (the ``webdav`` backend) and ``cadaver``
are run like the S3 clients of ``tests.support.clients``: configured from scratch under
the test's directory (``HOME`` too), always with a timeout, and a failure shows the
command, its output and what the gateway logged meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import defusedxml.ElementTree as SafeTree
import httpx

from tests.support.clients import (
    RCLONE,
    SMALL_TIMEOUT,
    Result,
    base_env,
    gateway_log_offset,
    gateway_log_since,
    rclone_env,
    run,
)
from tests.support.gateway_server import GatewayProcess

LITMUS = "/usr/bin/litmus"
CADAVER = "/usr/bin/cadaver"
LITMUS_SUITES = ("basic", "copymove", "props", "locks", "http")
ADMIN = "admin"
DAV = "{DAV:}"
#: The namespace cadaver's ``propset`` gives its properties.
CADAVER_NS = "http://webdav.org/cadaver/custom-properties/"
#: The remote name of the rclone ``webdav`` backend configured by ``rclone_dav_env``.
RCLONE_DAV_REMOTE = "dav"


def admin_password(gateway: GatewayProcess) -> str:
    """The admin user's password (HTTP Basic for WebDAV)."""
    return gateway.env["GATEWAY_ADMIN_PASSWORD"]


def dav_path(bucket: str, path: str = "") -> str:
    """The URL path of ``path`` in ``bucket`` under ``/dav``, percent-encoded."""
    return "/dav/" + quote(bucket) + ("/" + quote(path) if path else "")


def dav_href(bucket: str, path: str = "") -> str:
    """The decoded URL path of ``path`` in ``bucket``: how ``parse_multistatus`` keys it."""
    return f"/dav/{bucket}" + (f"/{path}" if path else "")


def dav_url(gateway: GatewayProcess, bucket: str, path: str = "") -> str:
    """The absolute URL of ``path`` in ``bucket``."""
    return gateway.http_url + dav_path(bucket, path)


# --- raw WebDAV over httpx -----------------------------------------------------------------


@dataclass
class DavEntry:
    """One ``<response>`` of a multistatus: the properties found (status 200)."""

    href: str
    props: dict[str, str] = field(default_factory=dict)
    collection: bool = False
    missing: set[str] = field(default_factory=set)


def parse_multistatus(body: bytes) -> dict[str, DavEntry]:
    """The responses of a multistatus by decoded href path (``/dav/bucket/dir/``).

    A property's value is its element's text ("" when empty); properties answered with
    another status than 200 are listed in ``missing``.
    """
    root = SafeTree.fromstring(body)
    assert root.tag == f"{DAV}multistatus", body[:500]
    found: dict[str, DavEntry] = {}
    for response in root.findall(f"{DAV}response"):
        href_element = response.find(f"{DAV}href")
        assert href_element is not None and href_element.text, body[:500]
        href = unquote(urlsplit(href_element.text).path)
        entry = DavEntry(href)
        for propstat in response.findall(f"{DAV}propstat"):
            status = propstat.findtext(f"{DAV}status", "")
            prop = propstat.find(f"{DAV}prop")
            if prop is None:
                continue
            for element in prop:
                if " 200 " not in status:
                    entry.missing.add(element.tag)
                    continue
                entry.props[element.tag] = "".join(element.itertext())
                if (
                    element.tag == f"{DAV}resourcetype"
                    and element.find(f"{DAV}collection") is not None
                ):
                    entry.collection = True
        found[href] = entry
    return found


def propfind_body(*names: str) -> bytes:
    """A PROPFIND body asking for ``names`` (``{DAV:}getetag`` ...), or allprop without any."""
    if not names:
        return (
            b'<?xml version="1.0" encoding="utf-8"?>'
            b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
        )
    elements = []
    for index, name in enumerate(names):
        namespace, _, local = name[1:].partition("}")
        elements.append(f'<p{index}:{local} xmlns:p{index}="{namespace}"/>')
    return (
        '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
        + "".join(elements)
        + "</D:prop></D:propfind>"
    ).encode()


class DavHttp:
    """WebDAV requests to one gateway as the admin, over a pooled httpx client."""

    def __init__(self, gateway: GatewayProcess, timeout: float = SMALL_TIMEOUT) -> None:
        self.gateway = gateway
        self.client = httpx.Client(
            base_url=gateway.http_url, auth=(ADMIN, admin_password(gateway)), timeout=timeout
        )

    def __enter__(self) -> DavHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def request(
        self,
        method: str,
        bucket: str,
        path: str = "",
        *,
        headers: dict[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
    ) -> httpx.Response:
        """``method`` on ``/dav/<bucket>/<path>``; an iterable ``content`` goes chunked."""
        return self.client.request(
            method, dav_path(bucket, path), headers=headers or {}, content=content
        )

    def expect(
        self,
        status: int | tuple[int, ...],
        method: str,
        bucket: str,
        path: str = "",
        **options: Any,
    ) -> httpx.Response:
        """``request`` that must answer ``status``; the failure shows the exchange and log."""
        offset = gateway_log_offset(self.gateway)
        response = self.request(method, bucket, path, **options)
        wanted = status if isinstance(status, tuple) else (status,)
        assert response.status_code in wanted, self.story(response, offset, wanted)
        return response

    def story(self, response: httpx.Response, offset: int, wanted: object = None) -> str:
        """A failure message: request, response and what the gateway logged meanwhile."""
        request = response.request
        request_headers = {
            name: value for name, value in request.headers.items() if name != "authorization"
        }
        return (
            f"{request.method} {request.url} -> {response.status_code}"
            + (f" (wanted {wanted})" if wanted is not None else "")
            + f"\nrequest headers: {request_headers}"
            + f"\nresponse headers: {dict(response.headers)}"
            + f"\nresponse body: {response.content[:2000]!r}"
            + f"\n--- gateway log meanwhile ---\n{gateway_log_since(self.gateway, offset)[-6000:]}"
        )

    def put(
        self,
        bucket: str,
        path: str,
        data: bytes | Iterable[bytes],
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """PUT that must create (201) or replace (204) the file."""
        return self.expect((201, 204), "PUT", bucket, path, content=data, headers=headers)

    def mkcol(self, bucket: str, path: str = "") -> httpx.Response:
        """MKCOL that must answer 201 Created."""
        return self.expect(201, "MKCOL", bucket, path)

    def transfer(
        self,
        method: str,
        bucket: str,
        path: str,
        destination: str,
        *,
        status: int | tuple[int, ...] = 201,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """COPY or MOVE of ``path`` to ``destination`` (a path in the same bucket)."""
        all_headers = {"Destination": dav_url(self.gateway, bucket, destination)}
        all_headers.update(headers or {})
        return self.expect(status, method, bucket, path, headers=all_headers)

    def propfind(
        self, bucket: str, path: str = "", *, depth: str = "1", names: Sequence[str] = ()
    ) -> dict[str, DavEntry]:
        """PROPFIND (207 required), parsed by href."""
        response = self.expect(
            207,
            "PROPFIND",
            bucket,
            path,
            headers={"Depth": depth, "Content-Type": "application/xml"},
            content=propfind_body(*names),
        )
        return parse_multistatus(response.content)


# --- litmus -----------------------------------------------------------------------------

_LITMUS_SUMMARY = re.compile(
    r"<- summary for `(?P<suite>[\w-]+)': of (?P<run>\d+) tests run: "
    r"(?P<passed>\d+) passed, (?P<failed>\d+) failed\. (?P<percent>[\d.]+)%"
)


@dataclass(frozen=True)
class LitmusSuite:
    """One suite's summary line."""

    name: str
    run: int
    passed: int
    failed: int
    percent: float


def litmus_summaries(output: str) -> dict[str, LitmusSuite]:
    """The summaries litmus printed, by suite name."""
    return {
        found["suite"]: LitmusSuite(
            found["suite"],
            int(found["run"]),
            int(found["passed"]),
            int(found["failed"]),
            float(found["percent"]),
        )
        for found in _LITMUS_SUMMARY.finditer(output)
    }


_LITMUS_TEST = re.compile(r"^\s*(?P<number>\d+)\.\s(?P<name>\w+?)\.*\s(?P<status>\S.*)$")


def litmus_lines(output: str) -> list[str]:
    """litmus's output as printed on a terminal: each line as its last ``\\r`` left it."""
    return [line.split("\r")[-1] for line in output.split("\n")]


def litmus_results(output: str) -> list[tuple[str, str, str]]:
    """(suite, test, result) of every test litmus ran: "pass", "FAIL (...)", "SKIPPED",
    "pass (with 1 warning)" ..."""
    results: list[tuple[str, str, str]] = []
    suite = "?"
    for line in litmus_lines(output):
        if line.startswith("-> running `"):
            suite = line.split("`", 1)[1].split("'", 1)[0]
        found = _LITMUS_TEST.match(line)
        if found:
            results.append((suite, f"{found['number']}. {found['name']}", found["status"]))
    return results


def run_litmus(gateway: GatewayProcess, bucket: str, workdir: Path, timeout: float) -> Result:
    """Run every litmus suite (``-k``: go on after a failing one) against ``bucket``.

    litmus writes ``debug.log`` (and ``child.log``) into its working directory.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    env = base_env(workdir / "home")
    env["TESTS"] = " ".join(LITMUS_SUITES)
    url = dav_url(gateway, bucket) + "/"
    return run(
        [LITMUS, "-k", url, ADMIN, admin_password(gateway)],
        env=env,
        timeout=timeout,
        gateway=gateway,
        check=False,
        cwd=workdir,
    )


# --- rclone webdav ------------------------------------------------------------------------


def rclone_dav_env(
    gateway: GatewayProcess, workdir: Path, bucket: str, vendor: str
) -> dict[str, str]:
    """Environment for ``/usr/bin/rclone``: a ``webdav`` remote ``dav`` on ``bucket``
    (plus the ``s3`` remote ``gw`` of ``tests.support.clients``), empty config file."""
    env = rclone_env(gateway, workdir)
    obscured = run(
        [RCLONE, "obscure", admin_password(gateway)], env=env, timeout=SMALL_TIMEOUT
    ).text.strip()
    prefix = f"RCLONE_CONFIG_{RCLONE_DAV_REMOTE.upper()}_"
    env.update(
        {
            f"{prefix}TYPE": "webdav",
            f"{prefix}URL": dav_url(gateway, bucket),
            f"{prefix}VENDOR": vendor,
            f"{prefix}USER": ADMIN,
            f"{prefix}PASS": obscured,
        }
    )
    return env


# --- cadaver -------------------------------------------------------------------------------


def cadaver_home(gateway: GatewayProcess, workdir: Path) -> Path:
    """A ``HOME`` whose ``.netrc`` holds the admin's credentials for the gateway's host."""
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    host = urlsplit(gateway.http_url).hostname
    netrc = home / ".netrc"
    netrc.write_text(f"machine {host}\nlogin {ADMIN}\npassword {admin_password(gateway)}\n")
    netrc.chmod(0o600)
    return home


def run_cadaver(
    gateway: GatewayProcess,
    url: str,
    commands: Sequence[str],
    workdir: Path,
    timeout: float = SMALL_TIMEOUT,
) -> Result:
    """Run one cadaver session on ``url`` reading ``commands`` (one a line) from stdin,
    in ``workdir`` (where ``put``/``get`` find and leave local files)."""
    env = base_env(workdir / "home")
    env["HOME"] = str(cadaver_home(gateway, workdir))
    script = "".join(f"{command}\n" for command in commands)
    return run([CADAVER, url], env=env, timeout=timeout, gateway=gateway, cwd=workdir, stdin=script)
