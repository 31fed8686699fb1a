"""PROPFIND's own answers (``gateway.dav.propfind``) over real sockets, checked two ways.

Every answer of the fast path is compared with wsgidav's answer to the same request
(the fast path switched off for it), and the values themselves are checked: files,
folders with and without a marker, the bucket, locked entries, dead properties, names
that need quoting and escaping. Requests the fast path leaves to wsgidav must get
wsgidav's answers, and a listing reads the database a fixed number of times whatever
its size.

The gateway's WebDAV application runs in this process, on cheroot and a free port, so
that the fast path can be switched off and the SQL statements counted.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import httpx
import pytest
from cheroot.wsgi import Server as WSGIServer
from defusedxml import ElementTree
from sqlalchemy import Engine

from adapters.sql.metadata import SqlMetadata
from gateway.core.identity import hash_password
from gateway.core.storage import Storage
from gateway.dav.propfind import PropfindResponder
from gateway.records import Actor, ObjectAttributes, User
from gateway.server import dav_application, open_storage
from gateway.settings import Settings
from tests.integration.test_dav_big_folders import QueryCounter, bulk_insert
from tests.support.webdav import (
    DAV,
    DavResponse,
    clark,
    lock_body,
    lock_token,
    parse_multistatus,
    propfind_body,
    proppatch,
)

NS = "urn:example:propfind"
COLOR = clark(NS, "color")
NESTED = clark(NS, "nested")
BUCKET = "propfind-names"
OPEN_BUCKET = "propfind-open"
COUNT_BUCKET = "propfind-count"
OWNER, PASSWORD = "lister", "lister-password"
STRANGER, STRANGER_PASSWORD = "stranger", "stranger-password"
# File names in docs/ and how wsgidav quotes them in hrefs.
QUOTED_NAMES = {
    "plain.txt": "plain.txt",
    "with space.txt": "with%20space.txt",
    "a&b.txt": "a%26b.txt",
    "ümlaut-日本.txt": "%C3%BCmlaut-%E6%97%A5%E6%9C%AC.txt",
    "100%.txt": "100%25.txt",
    "quote'(x)!.txt": "quote'(x)!.txt",
    "<tag>.txt": "%3Ctag%3E.txt",
    "semi;colon+plus=.txt": "semi%3Bcolon%2Bplus%3D.txt",
}
# Sub-folders of docs/ made with MKCOL, and how wsgidav quotes them in hrefs.
FOLDERS = {"sub folder": "sub%20folder/", "r&d (1)": "r%26d%20(1)/"}
# Stored and answered as the client sent it, XML escaped.
CONTENT_TYPE = 'text/plain; name="a&b<c>"'
MTIME = 1577836800  # 2020-01-01T00:00:00Z, as a client sets it with X-OC-Mtime
ISO_8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

LIVE = [
    clark(DAV, name)
    for name in (
        "resourcetype",
        "creationdate",
        "getcontentlength",
        "getcontenttype",
        "getlastmodified",
        "displayname",
        "getetag",
        "lockdiscovery",
        "supportedlock",
        "quota-used-bytes",
        "quota-available-bytes",
        "getcontentlanguage",
    )
]
WIN32_TIME = clark("urn:schemas-microsoft-com:", "Win32LastModifiedTime")
NAMED = propfind_body([*LIVE, COLOR, NESTED, clark(NS, "absent"), WIN32_TIME])
# A name without namespace, and a namespace that must be escaped in XML.
ODD_NAMES = (
    b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:x?a=1&amp;b=&lt;&quot;&gt;">'
    b'<D:prop><D:displayname/><bare xmlns=""/><Z:odd/></D:prop></D:propfind>'
)
ODD = clark('urn:x?a=1&b=<">', "odd")
BODIES = {
    "none": b"",
    "allprop": propfind_body(mode="allprop"),
    "named": NAMED,
    "odd-names": ODD_NAMES,
}


@dataclass
class Site:
    """The in-process gateway and the caller that owns its buckets."""

    url: str
    storage: Storage
    engine: Engine
    counter: QueryCounter
    owner: User
    # Lock tokens by the path they lock.
    tokens: dict[str, str]

    def client(self, user: str | None = OWNER, password: str = PASSWORD) -> httpx.Client:
        """An httpx client of the gateway, with Basic credentials unless ``user`` is None."""
        auth = None if user is None else httpx.BasicAuth(user, password)
        return httpx.Client(base_url=self.url, auth=auth, timeout=120)


def dav_url(bucket: str, path: str = "") -> str:
    """The request path of ``path`` in ``bucket``, percent-encoded."""
    return f"/dav/{bucket}/{quote(path)}"


def put(site: Site, bucket: str, key: str, body: bytes) -> None:
    """Store ``key`` straight through the storage service (no folder markers made)."""
    actor = Actor(user_id=site.owner.id, remote_addr=None, protocol="test")
    attributes = ObjectAttributes("text/plain; charset=utf-8")
    site.storage.put_object(site.owner, bucket, key, io.BytesIO(body), attributes, actor)


def populate(site: Site) -> None:
    """The names bucket: a marker folder ``docs/`` of files with awkward names, a marker
    sub-folder, a folder without marker, dead properties and locks."""
    with site.client() as dav:
        assert dav.request("MKCOL", dav_url(BUCKET, "docs")).status_code == 201
        for folder in FOLDERS:
            assert dav.request("MKCOL", dav_url(BUCKET, f"docs/{folder}")).status_code == 201
        for name in QUOTED_NAMES:
            made = dav.put(
                dav_url(BUCKET, f"docs/{name}"),
                content=name.encode(),
                headers={"Content-Type": CONTENT_TYPE},
            )
            assert made.status_code == 201, made.text
        stamped = dav.put(
            dav_url(BUCKET, "docs/mtime.txt"), content=b"old", headers={"X-OC-Mtime": str(MTIME)}
        )
        assert stamped.status_code == 201
        put(site, BUCKET, "docs/implicit/inner.txt", b"inner")
        for path in ("docs/with space.txt", "docs/", "docs/sub folder/", ""):
            proppatch(dav, dav_url(BUCKET, path), {COLOR: "blue & <green>"})
        proppatch(dav, dav_url(BUCKET, "docs/a&b.txt"), {NESTED: "x"})
        held = {
            "docs/a&b.txt": ("exclusive", "0"),
            "docs/sub folder/": ("exclusive", "infinity"),
            "docs/plain.txt": ("shared", "0"),
        }
        for path, (scope, depth) in held.items():
            locked = dav.request(
                "LOCK",
                dav_url(BUCKET, path),
                content=lock_body(scope, owner=escape(f"owner of {path} & co")),
                headers={"Depth": depth, "Timeout": "Second-3600"},
            )
            assert locked.status_code == 200, locked.text
            site.tokens[path] = lock_token(locked)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The WebDAV application on cheroot in this process, its buckets filled (module-wide:
    the tests only read, but for the listings they add to their own folders)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("propfind") / "data")
    storage = open_storage(settings, auto_migrate=True)
    metadata = storage.metadata
    assert isinstance(metadata, SqlMetadata)
    server = WSGIServer(("127.0.0.1", 0), dav_application(settings, storage), numthreads=4)
    server.prepare()
    thread = threading.Thread(target=server.serve, name="dav-propfind", daemon=True)
    thread.start()
    try:
        owner = metadata.create_user(OWNER, hash_password(PASSWORD))
        metadata.create_user(STRANGER, hash_password(STRANGER_PASSWORD))
        actor = Actor(user_id=owner.id, remote_addr=None, protocol="test")
        for name in (BUCKET, OPEN_BUCKET, COUNT_BUCKET):
            storage.create_bucket(owner, name, actor)
        opened = metadata.get_bucket(OPEN_BUCKET)
        metadata.set_bucket_anonymous_read(opened, True, actor)
        host, port = server.bind_addr
        found = Site(
            f"http://{host}:{port}",
            storage,
            metadata.engine,
            QueryCounter(metadata.engine),
            owner,
            {},
        )
        populate(found)
        put(found, OPEN_BUCKET, "open/file.txt", b"open")
        yield found
    finally:
        server.stop()
        thread.join(timeout=30)
        storage.close()


# --- comparing with wsgidav ---------------------------------------------------------------

Canonical = tuple[str, str, tuple[tuple[str, str], ...], tuple[Any, ...]]


def canonical(element: Element) -> Canonical:
    """An element as names and values, whatever prefixes it was written with; the free
    space and the seconds a lock has left change between two requests, so they are
    reduced to their form."""
    text = (element.text or "").strip()
    if element.tag == clark(DAV, "quota-available-bytes") and text.isdigit():
        text = "<bytes>"
    if element.tag == clark(DAV, "timeout") and re.fullmatch(r"Second-\d+", text):
        text = "<seconds>"
    children = tuple(sorted(canonical(child) for child in element))
    return (str(element.tag), text, tuple(sorted(element.attrib.items())), children)


def answer_of(body: bytes) -> list[tuple[str, dict[str, tuple[str, Canonical]]]]:
    """The responses of a multistatus in order: href and, by property, status and value."""
    root = ElementTree.fromstring(body)
    assert root.tag == clark(DAV, "multistatus")
    found = []
    for response in root.findall(clark(DAV, "response")):
        properties: dict[str, tuple[str, Canonical]] = {}
        for propstat in response.findall(clark(DAV, "propstat")):
            status = propstat.findtext(clark(DAV, "status"), "")
            prop = propstat.find(clark(DAV, "prop"))
            assert prop is not None
            for element in prop:
                properties[str(element.tag)] = (status, canonical(element))
        found.append((response.findtext(clark(DAV, "href"), ""), properties))
    return found


Send = Callable[[], httpx.Response]


@dataclass
class Compared:
    """One request answered by the gateway as it is and by wsgidav alone."""

    fast: httpx.Response
    reference: httpx.Response
    # Whether the fast path, rather than wsgidav, gave the first answer.
    fast_path: bool


def fast_and_reference(monkeypatch: pytest.MonkeyPatch, send: Send) -> Compared:
    """``send`` answered by the gateway as it is, then with the fast path switched off."""
    answered: list[bool] = []
    original = PropfindResponder.answer

    def spy(responder: PropfindResponder, *args: Any) -> Any:
        found = original(responder, *args)
        answered.append(found is not None)
        return found

    with monkeypatch.context() as patch:
        patch.setattr(PropfindResponder, "answer", spy)
        fast = send()
    with monkeypatch.context() as patch:
        patch.setattr(PropfindResponder, "answer", lambda *_args: None)
        reference = send()
    return Compared(fast, reference, answered == [True])


def sender(client: httpx.Client, path: str, depth: str | None, body: bytes, **headers: str) -> Send:
    """A PROPFIND of ``path`` to send (without a Depth header when ``depth`` is None)."""
    all_headers = dict(headers)
    if depth is not None:
        all_headers["Depth"] = depth
    return lambda: client.request("PROPFIND", path, content=body, headers=all_headers)


TARGETS = [
    dav_url(BUCKET),
    f"/dav/{BUCKET}",
    dav_url(BUCKET, "docs/"),
    dav_url(BUCKET, "docs"),
    dav_url(BUCKET, "docs/sub folder/"),
    dav_url(BUCKET, "docs/implicit"),
    dav_url(BUCKET, "docs/a&b.txt"),
    dav_url(BUCKET, "docs/plain.txt"),
    dav_url(BUCKET, "docs/ümlaut-日本.txt"),
    dav_url(BUCKET, "docs/mtime.txt"),
]


@pytest.mark.parametrize("kind", sorted(BODIES))
@pytest.mark.parametrize("depth", ["0", "1"])
@pytest.mark.parametrize("target", TARGETS)
def test_answers_like_wsgidav(
    site: Site, monkeypatch: pytest.MonkeyPatch, target: str, depth: str, kind: str
) -> None:
    with site.client() as dav:
        compared = fast_and_reference(monkeypatch, sender(dav, target, depth, BODIES[kind]))
    assert compared.fast_path
    assert compared.fast.status_code == compared.reference.status_code == 207
    assert answer_of(compared.fast.content) == answer_of(compared.reference.content)


@pytest.mark.parametrize("user", [OWNER, None])
def test_anonymous_reading_like_wsgidav(
    site: Site, monkeypatch: pytest.MonkeyPatch, user: str | None
) -> None:
    with site.client(user) as dav:
        compared = fast_and_reference(
            monkeypatch, sender(dav, dav_url(OPEN_BUCKET, "open/"), "1", b"")
        )
    assert compared.fast_path
    assert compared.fast.status_code == 207
    assert answer_of(compared.fast.content) == answer_of(compared.reference.content)
    folder = parse_multistatus(compared.fast.content)[f"/dav/{OPEN_BUCKET}/open/"]
    # Quota is the caller's own: nobody's for an anonymous caller.
    assert (clark(DAV, "quota-used-bytes") in folder.props) == (user is not None)


LEFT_TO_WSGIDAV = {
    "depth infinity": (dav_url(BUCKET, "docs/"), "infinity", b"", {}),
    "no depth": (dav_url(BUCKET, "docs/"), None, b"", {}),
    "bad depth": (dav_url(BUCKET, "docs/"), "2", b"", {}),
    "root": ("/dav/", "1", b"", {}),
    "missing": (dav_url(BUCKET, "docs/nothing.txt"), "0", b"", {}),
    "missing bucket": (dav_url("propfind-nowhere"), "1", b"", {}),
    "bad xml": (dav_url(BUCKET, "docs/"), "1", b"<D:propfind xmlns:D='DAV:'><D:prop>", {}),
    "not propfind": (dav_url(BUCKET, "docs/"), "1", b"<D:lockinfo xmlns:D='DAV:'/>", {}),
    "propname": (dav_url(BUCKET, "docs/"), "1", propfind_body(mode="propname"), {}),
    "empty prop": (dav_url(BUCKET, "docs/"), "1", b"<propfind xmlns='DAV:'><prop/></propfind>", {}),
    "entity": (
        dav_url(BUCKET, "docs/"),
        "1",
        b'<!DOCTYPE x [<!ENTITY e "e">]><propfind xmlns="DAV:"><prop><x>&e;</x></prop></propfind>',
        {},
    ),
    "conditional": (
        dav_url(BUCKET, "docs/"),
        "1",
        b"",
        {"If-Modified-Since": "Tue, 31 Dec 2019 00:00:00 GMT"},
    ),
}


@pytest.mark.parametrize("case", sorted(LEFT_TO_WSGIDAV))
def test_other_requests_get_wsgidavs_answers(
    site: Site, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    path, depth, body, headers = LEFT_TO_WSGIDAV[case]
    with site.client() as dav:
        compared = fast_and_reference(monkeypatch, sender(dav, path, depth, body, **headers))
    assert not compared.fast_path
    assert compared.fast.status_code == compared.reference.status_code
    if compared.fast.status_code == 207:
        assert answer_of(compared.fast.content) == answer_of(compared.reference.content)


def test_other_callers_buckets_are_refused_as_before(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    with site.client(STRANGER, STRANGER_PASSWORD) as dav:
        compared = fast_and_reference(monkeypatch, sender(dav, dav_url(BUCKET, "docs/"), "1", b""))
    assert not compared.fast_path
    assert compared.fast.status_code == compared.reference.status_code == 403
    with site.client(None) as anonymous:
        refused = anonymous.request("PROPFIND", dav_url(BUCKET, "docs/"), headers={"Depth": "1"})
    assert refused.status_code == 401


# --- the values themselves ----------------------------------------------------------------


def listing(site: Site, body: bytes = b"") -> dict[str, DavResponse]:
    """PROPFIND Depth 1 of ``docs/``, by decoded href."""
    with site.client() as dav:
        response = dav.request(
            "PROPFIND", dav_url(BUCKET, "docs/"), content=body, headers={"Depth": "1"}
        )
    assert response.status_code == 207, response.text[:500]
    return parse_multistatus(response.content)


def raw_hrefs(body: bytes) -> list[str]:
    """The hrefs of a multistatus as written, in order."""
    root = ElementTree.fromstring(body)
    return [
        response.findtext(clark(DAV, "href"), "")
        for response in root.findall(clark(DAV, "response"))
    ]


def test_hrefs_are_quoted_and_collections_end_in_a_slash(site: Site) -> None:
    with site.client() as dav:
        response = dav.request("PROPFIND", dav_url(BUCKET, "docs"), headers={"Depth": "1"})
    base = f"/dav/{BUCKET}/docs/"
    expected = {
        base,
        base + "implicit/",
        *(base + quoted for quoted in FOLDERS.values()),
        base + "mtime.txt",
        *(base + quoted for quoted in QUOTED_NAMES.values()),
    }
    hrefs = raw_hrefs(response.content)
    assert hrefs[0] == base
    assert sorted(hrefs) == sorted(expected)


def test_file_properties(site: Site) -> None:
    found = listing(site)
    for name in QUOTED_NAMES:
        entry = found[f"/dav/{BUCKET}/docs/{name}"]
        data = name.encode()
        assert not entry.is_collection
        assert entry.text("displayname") == name
        assert entry.text("getcontentlength") == str(len(data))
        assert entry.text("getcontenttype") == CONTENT_TYPE
        assert re.fullmatch(r'"[0-9a-f]{32}"', entry.text("getetag"))
        assert ISO_8601.match(entry.text("creationdate"))
        parsedate_to_datetime(entry.text("getlastmodified"))
        assert entry.props[clark(DAV, "supportedlock")].findall(f".//{clark(DAV, 'lockentry')}")
        assert clark(DAV, "quota-used-bytes") not in entry.props
    stamped = found[f"/dav/{BUCKET}/docs/mtime.txt"]
    assert stamped.text("getlastmodified") == "Wed, 01 Jan 2020 00:00:00 GMT"
    assert stamped.text("getcontentlength") == "3"


def test_folder_properties(site: Site) -> None:
    found = listing(site)
    used = site.storage.metadata.bytes_used(site.owner.id)
    for path, name in (("docs/", "docs"), *((f"docs/{name}/", name) for name in FOLDERS)):
        entry = found[f"/dav/{BUCKET}/{path}"]
        assert entry.is_collection
        assert entry.text("displayname") == name
        assert int(entry.text("quota-used-bytes")) == used
        assert int(entry.text("quota-available-bytes")) > 0
        assert ISO_8601.match(entry.text("creationdate"))
        for absent in ("getcontentlength", "getcontenttype", "getetag"):
            assert clark(DAV, absent) not in entry.props
    implicit = found[f"/dav/{BUCKET}/docs/implicit/"]
    assert implicit.is_collection and implicit.text("displayname") == "implicit"
    # Listed, a folder without marker carries the time of what is in it.
    inner = datetime.fromisoformat(implicit.text("creationdate").replace("Z", "+00:00"))
    assert parsedate_to_datetime(implicit.text("getlastmodified")) == inner


def test_dead_properties_are_listed_with_their_values(site: Site) -> None:
    found = listing(site)
    for path in ("docs/", "docs/with space.txt", "docs/sub folder/"):
        assert found[f"/dav/{BUCKET}/{path}"].text(COLOR) == "blue & <green>"
    nested = found[f"/dav/{BUCKET}/docs/a&b.txt"]
    assert nested.text(NESTED) == "x"
    assert COLOR not in found[f"/dav/{BUCKET}/docs/plain.txt"].props


def test_named_properties_and_404s(site: Site) -> None:
    found = listing(site, NAMED)
    folder = found[f"/dav/{BUCKET}/docs/"]
    assert folder.text(COLOR) == "blue & <green>"
    for missing in ("getcontentlength", "getcontenttype", "getetag", "getcontentlanguage"):
        assert folder.statuses[clark(DAV, missing)] == 404
    assert folder.statuses[clark(NS, "absent")] == 404
    assert folder.statuses[WIN32_TIME] == 404
    file = found[f"/dav/{BUCKET}/docs/with space.txt"]
    assert file.statuses[NESTED] == 404
    assert file.text(COLOR) == "blue & <green>"
    # Asked for by name, a file's quota is there but empty, as wsgidav answers it.
    assert file.statuses[clark(DAV, "quota-used-bytes")] == 200
    assert file.text("quota-used-bytes") == ""


def test_names_without_or_with_odd_namespaces(site: Site) -> None:
    found = listing(site, ODD_NAMES)
    entry = found[f"/dav/{BUCKET}/docs/plain.txt"]
    assert entry.text("displayname") == "plain.txt"
    assert entry.statuses["bare"] == entry.statuses[ODD] == 404


def active_locks(entry: DavResponse) -> list[Element]:
    return list(entry.props[clark(DAV, "lockdiscovery")].findall(clark(DAV, "activelock")))


def test_locks_are_discovered(site: Site) -> None:
    found = listing(site)
    held = {
        "docs/a&b.txt": ("exclusive", "0"),
        "docs/sub folder/": ("exclusive", "infinity"),
        "docs/plain.txt": ("shared", "0"),
    }
    for path, (scope, depth) in held.items():
        href = f"/dav/{BUCKET}/{quote(path)}"
        entry = found[f"/dav/{BUCKET}/{path}"]
        (active,) = active_locks(entry)
        assert active.find(f"{clark(DAV, 'lockscope')}/{clark(DAV, scope)}") is not None
        assert active.find(f"{clark(DAV, 'locktype')}/{clark(DAV, 'write')}") is not None
        assert active.findtext(clark(DAV, "depth")) == depth
        owner = active.find(clark(DAV, "owner"))
        assert owner is not None
        assert owner.findtext(clark(DAV, "href")) == f"owner of {path} & co"
        token = active.findtext(f"{clark(DAV, 'locktoken')}/{clark(DAV, 'href')}")
        assert token == site.tokens[path]
        assert active.findtext(f"{clark(DAV, 'lockroot')}/{clark(DAV, 'href')}") == href
        seconds = int((active.findtext(clark(DAV, "timeout")) or "").removeprefix("Second-"))
        assert 3000 < seconds <= 3600
    for path in ("docs/", "docs/with space.txt", "docs/implicit/"):
        assert active_locks(found[f"/dav/{BUCKET}/{path}"]) == []


# --- size: streamed, and a fixed number of queries ---------------------------------------


def test_big_listing_is_streamed_and_small_answers_have_a_length(site: Site) -> None:
    bulk_insert(
        site.engine,
        COUNT_BUCKET,
        [f"stream/file-{index:04d}" for index in range(1000)],
    )
    with site.client() as dav:
        big = dav.request("PROPFIND", dav_url(COUNT_BUCKET, "stream/"), headers={"Depth": "1"})
        small = dav.request("PROPFIND", dav_url(COUNT_BUCKET, "stream/"), headers={"Depth": "0"})
    assert big.status_code == small.status_code == 207
    assert big.headers.get("Transfer-Encoding") == "chunked"
    assert len(parse_multistatus(big.content)) == 1001
    assert int(small.headers["Content-Length"]) == len(small.content)


@pytest.mark.parametrize("kind", ["none", "named"])
def test_statements_do_not_grow_with_entries(site: Site, kind: str) -> None:
    for size in (10, 1000):
        files = [f"c{kind}{size}/file-{index:05d}" for index in range(size)]
        folders = [f"c{kind}{size}/dir-{index:04d}/x" for index in range(size // 10)]
        bulk_insert(
            site.engine, COUNT_BUCKET, files + folders, {key: "tagged" for key in files[::7]}
        )
    counts = {}
    with site.client() as dav:
        for size in (10, 1000):
            site.counter.statements.clear()
            site.counter.counting = True
            response = dav.request(
                "PROPFIND",
                dav_url(COUNT_BUCKET, f"c{kind}{size}/"),
                content=BODIES[kind],
                headers={"Depth": "1"},
            )
            site.counter.counting = False
            assert response.status_code == 207
            assert len(parse_multistatus(response.content)) == 1 + size + size // 10
            counts[size] = list(site.counter.statements)
    assert len(counts[10]) == len(counts[1000]) <= 8, counts[1000]
