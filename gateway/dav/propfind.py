"""PROPFIND Depth 0 and 1 on buckets, folders and files, answered without wsgidav's machinery.

For a listing wsgidav builds a resource object per member, asks each for each property
one call at a time, looks up locks and dead properties resource by resource, and builds
an element tree of the whole answer before it sends a byte: seconds and tens of MiB for
a folder of 10,000 files. This module answers the usual requests (no body,
``<allprop/>``, a ``<prop>`` list) from one listing query, one read of the locks and one
of the dead properties, and writes the multistatus in blocks as it goes, describing each
member as it writes it.

An answer here MUST mean what wsgidav's would: the target found by the provider as
wsgidav finds it, the same hrefs (quoted alike, collections with a trailing ``/``), the
live properties ``FileResource`` and ``FolderResource`` report with the values they
report, written as wsgidav writes them, the dead properties, and 404 for names without a
value. What is not certain to get that is left to wsgidav, which answers it as it always
did: Depth infinity, the root, other body shapes (``<propname/>`` included), conditional
headers, bodies that do not parse, missing and forbidden resources.
"""

from __future__ import annotations

import functools
import io
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate
from itertools import chain
from typing import Any, NamedTuple
from urllib.parse import quote
from xml.etree.ElementTree import ParseError, tostring

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException
from wsgidav.dav_error import DAVError
from wsgidav.lock_man.lock_manager import normalize_lock_root
from wsgidav.util import normalize_path, re_encode_wsgi

from adapters.sql.dav_locks import LockDict, SqlLockStorage
from adapters.sql.dav_properties import SqlDeadProperties
from gateway.core.tree import Entry
from gateway.dav.provider import GatewayProvider
from gateway.dav.resources import FileResource, FolderResource, modification_time
from gateway.records import Bucket, FolderListing, StoredObject
from gateway.s3.response import StartResponse

DAV = "{DAV:}"
# PROPFIND bodies are short lists of property names; a longer one goes to wsgidav.
MAX_BODY = 64 * 1024
# The answer is sent in pieces of about this many characters.
BLOCK_SIZE = 64 * 1024
# Headers whose evaluation (RFC 4918 10.4, RFC 9110 13) is left to wsgidav.
CONDITIONAL_HEADERS = (
    "HTTP_IF",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
)
# What wsgidav leaves unquoted in hrefs besides letters and digits (``get_href``).
HREF_SAFE = "/!*'(),$-_|."
STATUS = "207 Multi-Status"
HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">'
TAIL = "</D:multistatus>"
OK = "HTTP/1.1 200 OK"
NOT_FOUND = "HTTP/1.1 404 Not Found"
SUPPORTED_LOCK = (
    "<D:supportedlock>"
    "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope>"
    "<D:locktype><D:write/></D:locktype></D:lockentry>"
    "<D:lockentry><D:lockscope><D:shared/></D:lockscope>"
    "<D:locktype><D:write/></D:locktype></D:lockentry>"
    "</D:supportedlock>"
)

_Resource = FileResource | FolderResource


class _LeftToWsgidav(Exception):
    """The request is one wsgidav answers."""


@dataclass(frozen=True)
class _Request:
    """What a PROPFIND asks for: ``depth`` "0" or "1", and the Clark names of ``names``,
    or None for all properties (no body, or ``<allprop/>``)."""

    depth: str
    names: tuple[str, ...] | None

    @staticmethod
    def read(environ: dict[str, Any]) -> _Request:
        """The request in ``environ``; raises _LeftToWsgidav for any other shape.

        A body is read in full and put back as ``wsgi.input``, for wsgidav to read again.
        """
        depth = str(environ.get("HTTP_DEPTH", "infinity")).lower()
        if depth not in ("0", "1"):
            raise _LeftToWsgidav("depth")
        if any(header in environ for header in CONDITIONAL_HEADERS):
            raise _LeftToWsgidav("conditional request")
        body = _read_body(environ)
        return _Request(depth, _requested_names(body) if body else None)


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body (empty without ``Content-Length``, as wsgidav reads it), kept in
    ``environ`` for another reader."""
    if "HTTP_TRANSFER_ENCODING" in environ:
        raise _LeftToWsgidav("body without a length")
    declared = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if not declared.isdigit() or int(declared) > MAX_BODY:
        raise _LeftToWsgidav("body length")
    length = int(declared)
    if not length:
        return b""
    body: bytes = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _requested_names(body: bytes) -> tuple[str, ...] | None:
    """The names of a ``<propfind>`` body holding one ``<prop>`` list, or None for one
    holding ``<allprop/>``."""
    try:
        root = SafeTree.fromstring(body)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise _LeftToWsgidav("body") from exc
    children = list(root)
    if root.tag != f"{DAV}propfind" or len(children) != 1:
        raise _LeftToWsgidav("body shape")
    (only,) = children
    if only.tag == f"{DAV}allprop" and not len(only):
        return None
    names = tuple(str(element.tag) for element in only)
    if only.tag != f"{DAV}prop" or not names:
        raise _LeftToWsgidav("body shape")
    return names


# --- what one answer describes ------------------------------------------------------------


class _File(NamedTuple):
    """A file of an answer: its key, name, href and current version."""

    path: str
    name: str
    href: str
    obj: StoredObject


class _Folder(NamedTuple):
    """A folder of an answer, or the bucket (``path`` ""): its marker object when known,
    and its time when a listing told it."""

    path: str
    name: str
    href: str
    marker: StoredObject | None
    modified: datetime | None


_Member = _File | _Folder


@dataclass(frozen=True)
class _Listing:
    """What one answer describes: ``target``, then (Depth 1 on a folder) the folders and
    files of ``children``, whose paths start after ``start`` characters.

    ``properties`` holds dead properties by path (Clark name: element XML), ``locks`` the
    live locks by lock root (see ``normalize_lock_root``), ``used_bytes`` and
    ``available_bytes`` the quota of collections (None: not known).
    """

    bucket: Bucket
    target: _Member
    children: FolderListing | None
    start: int
    properties: Mapping[str, Mapping[str, str]]
    locks: Mapping[str, Sequence[LockDict]]
    used_bytes: int | None
    available_bytes: int | None
    now: float

    def members(self) -> Iterator[_Member]:
        """The target, then its folders and files as ``FolderResource`` lists them; made
        one at a time, as they are written."""
        yield self.target
        if self.children is None:
            return
        base = self.target.href
        for sub in self.children.folders:
            name = sub.prefix[self.start : -1]
            if name:
                href = f"{base}{quote(name, safe=HREF_SAFE)}/"
                yield _Folder(sub.prefix, name, href, None, sub.last_modified)
        for obj in self.children.files:
            name = obj.key[self.start :]
            yield _File(obj.key, name, base + quote(name, safe=HREF_SAFE), obj)

    def dead_properties(self, member: _Member) -> Mapping[str, str]:
        """The member's dead properties."""
        return self.properties.get(member.path) or {}


def _escape(text: str) -> str:
    """``text`` as XML character data."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _empty_element(name: str) -> str:
    """The empty element ``name`` (Clark notation, or a name without namespace)."""
    if name.startswith(DAV):
        return f"<D:{name[len(DAV) :]}/>"
    if not name.startswith("{"):
        return f"<{name}/>"
    namespace, _, local = name[1:].partition("}")
    quoted = _escape(namespace).replace('"', "&quot;")
    return f'<{local} xmlns="{quoted}"/>'


# Listed files mostly share their times with many others (uploads of the same second).
@functools.lru_cache(maxsize=4096)
def _rfc3339(second: int) -> str:
    """A ``creationdate`` as wsgidav writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


@functools.lru_cache(maxsize=4096)
def _rfc1123(second: int) -> str:
    """A ``getlastmodified`` as wsgidav writes it."""
    return formatdate(second, usegmt=True)


def _creationdate(seconds: float) -> str:
    return f"<D:creationdate>{_rfc3339(math.floor(seconds))}</D:creationdate>"


def _getlastmodified(seconds: float) -> str:
    return f"<D:getlastmodified>{_rfc1123(math.floor(seconds))}</D:getlastmodified>"


# Each live property of a file and of a folder as ``FileResource`` and ``FolderResource``
# report it, written as wsgidav writes it; None: the resource has none.


def _file_creationdate(_listing: _Listing, file: _File) -> str | None:
    return _creationdate(file.obj.last_modified.timestamp())


def _file_getcontentlength(_listing: _Listing, file: _File) -> str | None:
    return f"<D:getcontentlength>{file.obj.size}</D:getcontentlength>"


def _file_getcontenttype(_listing: _Listing, file: _File) -> str | None:
    return f"<D:getcontenttype>{_escape(file.obj.attributes.content_type)}</D:getcontenttype>"


def _file_getlastmodified(_listing: _Listing, file: _File) -> str | None:
    return _getlastmodified(modification_time(file.obj))


def _file_getetag(_listing: _Listing, file: _File) -> str | None:
    return f'<D:getetag>"{_escape(file.obj.etag)}"</D:getetag>'


def _folder_created(listing: _Listing, folder: _Folder) -> float | None:
    if folder.marker is not None:
        return folder.marker.last_modified.timestamp()
    if folder.modified is not None:
        return folder.modified.timestamp()
    return None if folder.path else listing.bucket.created_at.timestamp()


def _folder_creationdate(listing: _Listing, folder: _Folder) -> str | None:
    seconds = _folder_created(listing, folder)
    return None if seconds is None else _creationdate(seconds)


def _folder_getlastmodified(listing: _Listing, folder: _Folder) -> str | None:
    if folder.marker is not None:
        return _getlastmodified(modification_time(folder.marker))
    seconds = _folder_created(listing, folder)
    return None if seconds is None else _getlastmodified(seconds)


def _folder_quota_used(listing: _Listing, _folder: _Folder) -> str | None:
    if listing.used_bytes is None:
        return None
    return f"<D:quota-used-bytes>{listing.used_bytes}</D:quota-used-bytes>"


def _folder_quota_available(listing: _Listing, _folder: _Folder) -> str | None:
    if listing.available_bytes is None:
        return None
    return f"<D:quota-available-bytes>{listing.available_bytes}</D:quota-available-bytes>"


def _displayname(_listing: _Listing, member: _Member) -> str | None:
    return f"<D:displayname>{_escape(member.name)}</D:displayname>"


def _lockdiscovery(listing: _Listing, member: _Member) -> str | None:
    if not listing.locks:
        return "<D:lockdiscovery/>"
    root = normalize_lock_root(quote(f"/{listing.bucket.name}/{member.path}"))
    locks = listing.locks.get(root, ())
    active = "".join(_active_lock(lock, member.href, listing.now) for lock in locks)
    return f"<D:lockdiscovery>{active}</D:lockdiscovery>" if active else "<D:lockdiscovery/>"


def _active_lock(lock: LockDict, href: str, now: float) -> str:
    """One ``<activelock>`` of ``lockdiscovery``; the lock's root is the resource ``href``."""
    owner = ""
    if lock["owner"]:
        owner = tostring(SafeTree.fromstring(lock["owner"]), encoding="unicode")
    return (
        f"<D:activelock><D:locktype><D:{lock['type']}/></D:locktype>"
        f"<D:lockscope><D:{lock['scope']}/></D:lockscope>"
        f"<D:depth>{_escape(lock['depth'])}</D:depth>{owner}"
        f"<D:timeout>Second-{int(lock['expire'] - now)}</D:timeout>"
        f"<D:locktoken><D:href>{_escape(lock['token'])}</D:href></D:locktoken>"
        f"<D:lockroot><D:href>{href}</D:href></D:lockroot></D:activelock>"
    )


def _constant(element: str) -> Callable[[_Listing, _Member], str | None]:
    """A live property that is the same for every resource of its kind."""
    return lambda _listing, _member: element


_FileLive = Callable[[_Listing, _File], str | None]
_FolderLive = Callable[[_Listing, _Folder], str | None]

# The live properties of each kind, in the order wsgidav reports them for allprop.
FILE_LIVE: tuple[tuple[str, _FileLive], ...] = (
    (f"{DAV}resourcetype", _constant("<D:resourcetype/>")),
    (f"{DAV}creationdate", _file_creationdate),
    (f"{DAV}getcontentlength", _file_getcontentlength),
    (f"{DAV}getcontenttype", _file_getcontenttype),
    (f"{DAV}getlastmodified", _file_getlastmodified),
    (f"{DAV}displayname", _displayname),
    (f"{DAV}getetag", _file_getetag),
    (f"{DAV}lockdiscovery", _lockdiscovery),
    (f"{DAV}supportedlock", _constant(SUPPORTED_LOCK)),
)
FOLDER_LIVE: tuple[tuple[str, _FolderLive], ...] = (
    (f"{DAV}resourcetype", _constant("<D:resourcetype><D:collection/></D:resourcetype>")),
    (f"{DAV}creationdate", _folder_creationdate),
    (f"{DAV}quota-used-bytes", _folder_quota_used),
    (f"{DAV}quota-available-bytes", _folder_quota_available),
    (f"{DAV}getlastmodified", _folder_getlastmodified),
    (f"{DAV}displayname", _displayname),
    (f"{DAV}lockdiscovery", _lockdiscovery),
    (f"{DAV}supportedlock", _constant(SUPPORTED_LOCK)),
)
FILE_NAMES = dict(FILE_LIVE)
FOLDER_NAMES = dict(FOLDER_LIVE)
# Asked for by name, a quota that is not known is an empty element, not a 404.
QUOTA_NAMES = frozenset({f"{DAV}quota-used-bytes", f"{DAV}quota-available-bytes"})


def _live(listing: _Listing, member: _Member, name: str) -> str | None:
    """The live property ``name`` of ``member``, or None when it has none."""
    if isinstance(member, _File):
        file_live = FILE_NAMES.get(name)
        found = None if file_live is None else file_live(listing, member)
    else:
        folder_live = FOLDER_NAMES.get(name)
        found = None if folder_live is None else folder_live(listing, member)
    return _empty_element(name) if found is None and name in QUOTA_NAMES else found


def _all_live(listing: _Listing, member: _Member) -> list[str]:
    """Every live property the member has, in wsgidav's allprop order."""
    if isinstance(member, _File):
        return [xml for _, live in FILE_LIVE if (xml := live(listing, member)) is not None]
    return [xml for _, live in FOLDER_LIVE if (xml := live(listing, member)) is not None]


def _response(listing: _Listing, member: _Member, names: tuple[str, ...] | None) -> str:
    """The ``<response>`` of one resource."""
    if names is None:
        found = _all_live(listing, member)
        found.extend(listing.dead_properties(member).values())
        return f"<D:response><D:href>{member.href}</D:href>{_propstat(found, OK)}</D:response>"
    found, missing = [], []
    for name in names:
        if name.startswith(DAV):
            xml = _live(listing, member, name)
        else:
            xml = listing.dead_properties(member).get(name)
        if xml is None:
            missing.append(_empty_element(name))
        else:
            found.append(xml)
    statuses = _propstat(found, OK) + _propstat(missing, NOT_FOUND)
    return f"<D:response><D:href>{member.href}</D:href>{statuses}</D:response>"


def _propstat(elements: list[str], status: str) -> str:
    """A ``<propstat>`` of ``elements`` with ``status``; nothing without elements."""
    if not elements:
        return ""
    inner = "".join(elements)
    return f"<D:propstat><D:prop>{inner}</D:prop><D:status>{status}</D:status></D:propstat>"


def _document(listing: _Listing, names: tuple[str, ...] | None) -> Iterator[str]:
    """The multistatus answering ``names`` (None: all properties), response by response."""
    yield HEAD
    for member in listing.members():
        yield _response(listing, member, names)
    yield TAIL


def _blocks(pieces: Iterable[str]) -> Iterator[bytes]:
    """``pieces`` joined into UTF-8 blocks of about ``BLOCK_SIZE`` characters."""
    buffered: list[str] = []
    size = 0
    for piece in pieces:
        buffered.append(piece)
        size += len(piece)
        if size >= BLOCK_SIZE:
            yield "".join(buffered).encode()
            buffered.clear()
            size = 0
    if buffered:
        yield "".join(buffered).encode()


def _send(start_response: StartResponse, blocks: Iterator[bytes]) -> Iterable[bytes]:
    """Start the 207 answer: with its length when it fits one block, else streamed."""
    first = next(blocks, b"")
    second = next(blocks, None)
    headers = [
        ("Content-Type", "application/xml; charset=utf-8"),
        ("Date", formatdate(usegmt=True)),
    ]
    if second is None:
        start_response(STATUS, [*headers, ("Content-Length", str(len(first)))])
        return [first]
    start_response(STATUS, headers)
    return chain((first, second), blocks)


def _describe(target: _Resource) -> _Member:
    """The target resource as a member of its answer."""
    entry = target.entry
    name, href = target.get_display_name(), target.get_href()
    if entry.is_folder:
        return _Folder(entry.path, name, href, entry.obj, entry.modified)
    if entry.obj is None:
        raise _LeftToWsgidav("a file without a version")
    return _File(entry.path, name, href, entry.obj)


# --- the responder ------------------------------------------------------------------------


class PropfindResponder:
    """Answers PROPFIND Depth 0 and 1 on buckets, folders and files (see the module)."""

    def __init__(
        self, provider: GatewayProvider, properties: SqlDeadProperties, locks: SqlLockStorage
    ) -> None:
        self._provider = provider
        self._properties = properties
        self._locks = locks

    def answer(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes] | None:
        """The 207 answer to the PROPFIND in ``environ``, or None when wsgidav must answer
        it; its body is then still there to read.

        ``environ`` MUST carry the request state (``DavRequest``) and ``PATH_INFO`` below
        the mount, as wsgidav gets them.
        """
        try:
            request = _Request.read(environ)
            target = self._target(environ)
            member = _describe(target)
        except _LeftToWsgidav:
            return None
        listing = self._listing(environ, target, member, request)
        return _send(start_response, _blocks(_document(listing, request.names)))

    def _target(self, environ: dict[str, Any]) -> _Resource:
        """The resource the request names, found as wsgidav finds it."""
        try:
            path = normalize_path(re_encode_wsgi(environ["PATH_INFO"]))
        except (UnicodeError, DAVError) as exc:
            raise _LeftToWsgidav("path") from exc
        # The provider's resources expect what wsgidav puts in environ for its one share.
        environ["wsgidav.provider"] = self._provider
        try:
            found = self._provider.get_resource_inst(path, environ)
        except DAVError as exc:
            raise _LeftToWsgidav("forbidden") from exc
        if not isinstance(found, FileResource | FolderResource):
            raise _LeftToWsgidav("the root or nothing")
        return found

    def _listing(
        self, environ: dict[str, Any], target: _Resource, member: _Member, request: _Request
    ) -> _Listing:
        """What the answer describes, read with one query per kind of thing."""
        entry = target.entry
        listed = request.depth == "1" and isinstance(member, _Folder)
        names = request.names
        quota = isinstance(member, _Folder) and (names is None or not QUOTA_NAMES.isdisjoint(names))
        properties = self._dead_properties(entry, listed, names)
        locks = self._live_locks(target, listed, names)
        used = self._provider.bytes_used(environ) if quota else None
        available = self._provider.bytes_available() if quota else None
        # The listing comes last: what the database driver keeps of each query is then
        # allocated before the listing's many short-lived objects, not among them, where
        # it would keep their memory from being returned after the request.
        children = self._provider.tree.children(entry) if listed else None
        return _Listing(
            entry.bucket,
            member,
            children,
            len(entry.path),
            properties,
            locks,
            used,
            available,
            time.time(),
        )

    def _dead_properties(
        self, entry: Entry, listed: bool, names: tuple[str, ...] | None
    ) -> Mapping[str, Mapping[str, str]]:
        """Dead properties by path, read in one query (none when none are asked for)."""
        if names is not None and all(name.startswith(DAV) for name in names):
            return {}
        if listed:
            return self._properties.properties_of_children(entry.bucket.id, entry.path)
        return {entry.path: self._properties.properties(entry.bucket.id, entry.path)}

    def _live_locks(
        self, target: _Resource, listed: bool, names: tuple[str, ...] | None
    ) -> dict[str, list[LockDict]]:
        """The live locks on the target and its members, by root, in one read."""
        if names is not None and f"{DAV}lockdiscovery" not in names:
            return {}
        found = self._locks.get_lock_list(
            target.get_ref_url(), include_root=True, include_children=listed, token_only=False
        )
        by_root: dict[str, list[LockDict]] = {}
        for lock in found:
            by_root.setdefault(lock["root"], []).append(lock)
        return by_root
