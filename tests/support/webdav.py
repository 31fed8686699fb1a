"""Helpers for driving the gateway's WebDAV front end over real sockets with httpx.

``dav_client`` makes an httpx client for ``<http_url>`` with Basic or Bearer credentials;
``propfind`` sends PROPFIND and parses the 207 answer into ``DavResponse`` objects keyed
by their (percent-decoded) href; ``proppatch_body``, ``lock_body`` and ``lock`` build the
request bodies clients send; ``dav_bucket`` makes a bucket over S3 and removes it with
everything in it afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element

import httpx
from defusedxml import ElementTree

from tests.support.gateway_server import GatewayProcess, empty_bucket

DAV = "DAV:"
MS = "urn:schemas-microsoft-com:"
MOUNT = "/dav"


def clark(namespace: str, name: str) -> str:
    """A property name in Clark notation: ``{namespace}name``."""
    return f"{{{namespace}}}{name}"


def unique(prefix: str) -> str:
    """A bucket, user or file name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def dav_client(
    gateway: GatewayProcess,
    user: str | None = "admin",
    password: str | None = None,
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> httpx.Client:
    """An httpx client of the gateway's HTTP listener.

    Basic credentials of ``user`` (the admin's password by default), a bearer ``token``
    instead when given, and none at all when ``user`` is None.
    """
    auth: httpx.Auth | None = None
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    elif user is not None:
        if password is None:
            password = gateway.env["GATEWAY_ADMIN_PASSWORD"]
        auth = httpx.BasicAuth(user, password)
    return httpx.Client(base_url=gateway.http_url, auth=auth, headers=all_headers, timeout=timeout)


@dataclass
class DavResponse:
    """One ``<D:response>`` of a multistatus answer."""

    href: str
    props: dict[str, Element] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    status: int | None = None

    def text(self, name: str) -> str:
        """The text of a property that was found (200), by Clark name or DAV: local name."""
        key = name if name.startswith("{") else clark(DAV, name)
        element = self.props[key]
        return element.text or ""

    @property
    def is_collection(self) -> bool:
        """Whether ``resourcetype`` holds ``collection``."""
        kind = self.props.get(clark(DAV, "resourcetype"))
        return kind is not None and kind.find(clark(DAV, "collection")) is not None


_STATUS = re.compile(r"HTTP/1\.[01]\s+(\d{3})")


def _status(element: Element | None) -> int | None:
    if element is None or element.text is None:
        return None
    found = _STATUS.search(element.text)
    return int(found.group(1)) if found else None


def parse_multistatus(body: bytes) -> dict[str, DavResponse]:
    """The responses of a 207 body by href, percent-decoded and without scheme and host."""
    root = ElementTree.fromstring(body)
    assert root.tag == clark(DAV, "multistatus"), body[:500]
    found: dict[str, DavResponse] = {}
    for response in root.findall(clark(DAV, "response")):
        href_element = response.find(clark(DAV, "href"))
        assert href_element is not None and href_element.text
        href = unquote(urlsplit(href_element.text).path)
        entry = DavResponse(href, status=_status(response.find(clark(DAV, "status"))))
        for propstat in response.findall(clark(DAV, "propstat")):
            code = _status(propstat.find(clark(DAV, "status")))
            prop = propstat.find(clark(DAV, "prop"))
            assert code is not None and prop is not None
            for element in prop:
                entry.statuses[element.tag] = code
                if code == 200:
                    entry.props[element.tag] = element
        assert href not in found, f"duplicate href {href}"
        found[href] = entry
    return found


def propfind_body(props: Iterable[str] | None = None, *, mode: str = "prop") -> bytes:
    """A PROPFIND body: ``mode`` "prop" with Clark names, "allprop" or "propname"."""
    if mode != "prop":
        return (
            f'<?xml version="1.0" encoding="utf-8"?>'
            f'<D:propfind xmlns:D="DAV:"><D:{mode}/></D:propfind>'
        ).encode()
    names: list[str] = []
    namespaces: dict[str, str] = {DAV: "D"}
    for name in props or ():
        namespace, _, local = name[1:].partition("}")
        prefix = namespaces.setdefault(namespace, f"ns{len(namespaces)}")
        names.append(f"<{prefix}:{local}/>")
    declarations = " ".join(f'xmlns:{p}="{ns}"' for ns, p in namespaces.items())
    return (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f"<D:propfind {declarations}><D:prop>{''.join(names)}</D:prop></D:propfind>"
    ).encode()


def propfind(
    client: httpx.Client,
    path: str,
    depth: str = "1",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, DavResponse]:
    """PROPFIND ``path`` and return the parsed responses; asserts the answer is 207."""
    all_headers = {"Depth": depth, **(headers or {})}
    if body:
        all_headers.setdefault("Content-Type", 'application/xml; charset="utf-8"')
    response = client.request("PROPFIND", path, content=body or b"", headers=all_headers)
    assert response.status_code == 207, (response.status_code, response.text[:2000])
    return parse_multistatus(response.content)


def proppatch_body(set_props: Mapping[str, str] | None = None, remove: Iterable[str] = ()) -> bytes:
    """A PROPPATCH body setting ``set_props`` (Clark name: text) and removing ``remove``."""
    namespaces: dict[str, str] = {DAV: "D"}

    def element(name: str, text: str | None) -> str:
        namespace, _, local = name[1:].partition("}")
        prefix = namespaces.setdefault(namespace, f"ns{len(namespaces)}")
        if text is None:
            return f"<{prefix}:{local}/>"
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f"<{prefix}:{local}>{escaped}</{prefix}:{local}>"

    parts: list[str] = []
    if set_props:
        inner = "".join(element(name, text) for name, text in set_props.items())
        parts.append(f"<D:set><D:prop>{inner}</D:prop></D:set>")
    removed = list(remove)
    if removed:
        inner = "".join(element(name, None) for name in removed)
        parts.append(f"<D:remove><D:prop>{inner}</D:prop></D:remove>")
    declarations = " ".join(f'xmlns:{p}="{ns}"' for ns, p in namespaces.items())
    return (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f"<D:propertyupdate {declarations}>{''.join(parts)}</D:propertyupdate>"
    ).encode()


def proppatch(
    client: httpx.Client,
    path: str,
    set_props: Mapping[str, str] | None = None,
    remove: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
) -> DavResponse:
    """PROPPATCH ``path``; asserts 207 and returns its single response."""
    response = client.request(
        "PROPPATCH",
        path,
        content=proppatch_body(set_props, remove),
        headers={"Content-Type": 'application/xml; charset="utf-8"', **(headers or {})},
    )
    assert response.status_code == 207, (response.status_code, response.text[:2000])
    (only,) = parse_multistatus(response.content).values()
    return only


def lock_body(scope: str = "exclusive", owner: str = "pytest") -> bytes:
    """A LOCK request body for a write lock of ``scope`` ("exclusive" or "shared")."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:lockinfo xmlns:D="DAV:">'
        f"<D:lockscope><D:{scope}/></D:lockscope>"
        "<D:locktype><D:write/></D:locktype>"
        f"<D:owner><D:href>{owner}</D:href></D:owner>"
        "</D:lockinfo>"
    ).encode()


def lock_token(response: httpx.Response) -> str:
    """The token of a successful LOCK (``Lock-Token`` header, without the angle brackets)."""
    header = str(response.headers.get("Lock-Token", ""))
    assert header.startswith("<") and header.endswith(">"), (response.status_code, header)
    return header[1:-1]


def lock(
    client: httpx.Client,
    path: str,
    *,
    scope: str = "exclusive",
    depth: str = "0",
    timeout: str = "Second-600",
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Send a LOCK with a body; the caller checks the status (``lock_token`` for the token)."""
    return client.request(
        "LOCK",
        path,
        content=lock_body(scope),
        headers={
            "Content-Type": 'application/xml; charset="utf-8"',
            "Depth": depth,
            "Timeout": timeout,
            **(headers or {}),
        },
    )


def unlock(client: httpx.Client, path: str, token: str) -> httpx.Response:
    """UNLOCK ``path`` with ``token``."""
    return client.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"})


def if_token(token: str, resource_url: str | None = None) -> str:
    """An ``If`` header value submitting a lock token (tagged with ``resource_url`` if given)."""
    return f"<{resource_url}> (<{token}>)" if resource_url else f"(<{token}>)"


def error_text(response: httpx.Response) -> str:
    """Status and the start of the body, for assertion messages."""
    return (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        + (response.text[:800])
    )


@contextmanager
def dav_bucket(gateway: GatewayProcess, prefix: str = "dav") -> Iterator[str]:
    """A fresh bucket of the admin; emptied and deleted (with its properties) afterwards."""
    s3: Any = gateway.client()
    name = unique(prefix)
    s3.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        empty_bucket(s3, name)


def url(bucket: str, path: str = "") -> str:
    """The WebDAV path of ``path`` in ``bucket`` (relative to the HTTP listener)."""
    return f"{MOUNT}/{bucket}/{path}" if path else f"{MOUNT}/{bucket}/"
