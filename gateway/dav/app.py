"""The WebDAV front end: wsgidav over the gateway's provider, locks and properties.

Served under ``/dav`` on the HTTP listener. This application authenticates the
request itself (wsgidav's authenticator knows only Basic and Digest), records the
caller for the provider, and then hands the request to wsgidav; PROPFIND goes to
``gateway.dav.propfind`` first, which answers the common shapes itself. It also answers
OPTIONS and PROPFIND on ``/``, which Windows' Mini-Redirector sends before it maps
a drive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from wsgidav.error_printer import ErrorPrinter
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

from adapters.sql.dav_locks import SqlLockStorage, request_scope
from adapters.sql.dav_properties import SqlDeadProperties
from gateway.core.tree import FileTree
from gateway.dav.auth import READ_METHODS, DavAuthenticator, Unauthorized, challenge_headers
from gateway.dav.context import DavRequest
from gateway.dav.properties import DeadPropertyManager
from gateway.dav.propfind import PropfindResponder
from gateway.dav.provider import GatewayProvider
from gateway.records import Actor, User
from gateway.s3.response import StartResponse

MOUNT = "/dav"
# wsgidav reads request bodies and serves files in blocks of this size.
BLOCK_SIZE = 1 << 20
DAV_HEADERS = [("DAV", "1, 2"), ("MS-Author-Via", "DAV")]

log = logging.getLogger("gateway.dav")


class DavApplication:
    """WSGI application for ``/dav/...`` and the Windows probes of ``/``."""

    def __init__(
        self,
        tree: FileTree,
        properties: SqlDeadProperties,
        locks: SqlLockStorage,
        authenticator: DavAuthenticator,
        free_space: Callable[[], int | None],
    ) -> None:
        self._tree = tree
        self._authenticator = authenticator
        provider = GatewayProvider(tree, properties, free_space)
        self._dav = WsgiDAVApp(
            {
                "provider_mapping": {"/": provider},
                "mount_path": MOUNT,
                "middleware_stack": [ErrorPrinter, RequestResolver],
                "lock_storage": locks,
                "property_manager": DeadPropertyManager(properties, provider),
                "block_size": BLOCK_SIZE,
                "add_header_MS_Author_Via": True,
                "hotfixes": {"emulate_win32_lastmod": True},
                "suppress_version_info": True,
                "logging": {"enable": False},
                "verbose": 1,
            }
        )
        self._propfind = PropfindResponder(provider, properties, locks)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "")
        try:
            user = self._authenticator.authenticate(environ)
        except Unauthorized as exc:
            return self._unauthorized(start_response, str(exc))
        inside = path == MOUNT or path.startswith(MOUNT + "/")
        if user is None and not self._anonymous_allowed(method, path[len(MOUNT) :], inside):
            return self._unauthorized(start_response, "credentials required")
        request = DavRequest(user, self._actor(environ, user), read_only=method in READ_METHODS)
        request.attach(environ)
        if not inside:
            return self._probe(environ, start_response, method)
        if "," in environ.get("HTTP_RANGE", ""):
            # wsgidav serves one range only; RFC 9110 (14.2) lets a server ignore Range and
            # send the whole body, which beats answering a range the client did not ask for.
            del environ["HTTP_RANGE"]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + MOUNT
        environ["PATH_INFO"] = path[len(MOUNT) :] or "/"
        environ["wsgidav.auth.user_name"] = user.name if user else ""
        environ["wsgidav.auth.realm"] = "gateway"
        return self._serve(environ, start_response, request)

    def _serve(
        self, environ: dict[str, Any], start_response: StartResponse, request: DavRequest
    ) -> Iterator[bytes]:
        def respond(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            if request.created and status.startswith("204"):
                status = "201 Created"
            return start_response(status, headers, *exc_info)

        with request_scope():
            body = None
            if environ.get("REQUEST_METHOD") == "PROPFIND":
                body = self._propfind.answer(environ, respond)
            if body is None:
                body = self._dav(environ, respond)
            try:
                yield from body
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
                # The resources found refer to environ, which refers to them through the
                # request state: dropped now, they need not wait for a full garbage collection.
                request.resources.clear()

    def _anonymous_allowed(self, method: str, dav_path: str, inside: bool) -> bool:
        if method not in READ_METHODS:
            return False
        bucket_name = dav_path.strip("/").split("/", 1)[0]
        if not inside or not bucket_name:
            return method == "OPTIONS"
        bucket = self._tree.storage.metadata.get_bucket(bucket_name)
        return bucket is not None and bucket.anonymous_read

    @staticmethod
    def _actor(environ: dict[str, Any], user: User | None) -> Actor:
        return Actor(
            user_id=user.id if user else None,
            remote_addr=environ.get("REMOTE_ADDR"),
            protocol="webdav",
        )

    @staticmethod
    def _unauthorized(start_response: StartResponse, reason: str) -> list[bytes]:
        body = f"401 Unauthorized: {reason}\n".encode()
        start_response(
            "401 Unauthorized",
            [
                *challenge_headers(),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    @staticmethod
    def _probe(environ: dict[str, Any], start_response: StartResponse, method: str) -> list[bytes]:
        """OPTIONS or PROPFIND on a path outside the mount (``/``): describe a collection."""
        if method == "OPTIONS":
            start_response(
                "200 OK",
                [*DAV_HEADERS, ("Allow", "OPTIONS, PROPFIND"), ("Content-Length", "0")],
            )
            return []
        if method != "PROPFIND" or environ.get("PATH_INFO", "/") != "/":
            body = b"404 Not Found\n"
            start_response(
                "404 Not Found",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
            )
            return [body]
        body = _ROOT_DEPTH_0 if environ.get("HTTP_DEPTH") == "0" else _ROOT_DEPTH_1
        start_response(
            "207 Multi-Status",
            [
                *DAV_HEADERS,
                ("Content-Type", 'application/xml; charset="utf-8"'),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]


def _collection_response(href: str, name: str) -> str:
    return (
        f"<D:response><D:href>{href}</D:href><D:propstat><D:prop>"
        "<D:resourcetype><D:collection/></D:resourcetype>"
        f"<D:displayname>{name}</D:displayname>"
        "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
    )


def _multistatus(*responses: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">'
        + "".join(responses)
        + "</D:multistatus>"
    ).encode()


# PROPFIND / describes the server root as a collection whose one member is the mount.
_ROOT_DEPTH_0 = _multistatus(_collection_response("/", ""))
_ROOT_DEPTH_1 = _multistatus(
    _collection_response("/", ""), _collection_response(MOUNT + "/", MOUNT.strip("/"))
)
