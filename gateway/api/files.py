"""The ``/v1`` file routes: announce, pre-signed parts, resume, finalize, status, download.

See ``docs/api.md`` ("Files") for the request and response shapes. Handlers translate
JSON and HTTP to ``gateway.core.files`` and back; every permission check is the core's.
Pre-signed URLs (parts, downloads, ranges) are public routes: their HMAC signature,
checked by the core, is their authorization.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from gateway.api.problem import ApiError, domain_problem
from gateway.api.router import (
    ApiRequest,
    ApiResponse,
    Route,
    integer_member,
    json_response,
    text_member,
    timestamp,
)
from gateway.api.url_signing import UrlSigner
from gateway.core.checksums import full_object_sha256
from gateway.core.files import (
    DEFAULT_CONTENT_TYPE,
    TRANSPORT_BACKEND,
    FileRequest,
    Files,
    FileView,
)
from gateway.errors import GatewayError
from gateway.records import BackendPart, FilePart, NativeFile
from gateway.request_body import request_body
from gateway.s3.ranges import UnsatisfiableRange, parse_range

# At most this many files per batch announce, and ids per batch metadata request.
MAX_BATCH = 1000


def _file_request(item: Any) -> FileRequest:
    if not isinstance(item, dict):
        raise ApiError(400, "invalid_request", "each file must be a JSON object")
    content_type = item.get("content_type", DEFAULT_CONTENT_TYPE)
    sha256 = item.get("sha256")
    return FileRequest(
        bucket=text_member(item.get("bucket"), "bucket"),
        key=text_member(item.get("name"), "name"),
        size=integer_member(item.get("size"), "size"),
        content_type=text_member(content_type, "content_type"),
        sha256=None if sha256 is None else text_member(sha256, "sha256").lower(),
    )


class FileRoutes:
    """The handlers of the file routes over ``files``."""

    def __init__(self, files: Files, urls: UrlSigner) -> None:
        self._files = files
        self._urls = urls

    def routes(self) -> list[Route]:
        """Every file route, public (signed) ones included."""
        return [
            Route("POST", "/v1/files", self.CreateFile),
            Route("POST", "/v1/files:batch", self.CreateFiles),
            Route("GET", "/v1/files", self.GetFiles),
            Route("GET", "/v1/files/{file_id}", self.DownloadFile),
            Route("GET", "/v1/files/{file_id}/metadata", self.GetFileMetadata),
            Route("GET", "/v1/files/{file_id}/parts", self.ListFileParts),
            Route("POST", "/v1/files/{file_id}/finalize", self.FinalizeFile),
            Route("GET", "/v1/files/{file_id}/chunks", self.ListFileChunks),
            Route("PUT", "/v1/uploads/{file_id}/parts/{number}", self.UploadPart, public=True),
            Route("GET", "/v1/downloads/{file_id}", self.SignedDownload, public=True),
        ]

    # --- uploads ---------------------------------------------------------------------

    def CreateFile(self, request: ApiRequest) -> ApiResponse:
        result = self._files.announce(request.caller, [_file_request(request.json_object())])[0]
        if isinstance(result, GatewayError):
            raise result
        return json_response(201, self._announced(request, result))

    def CreateFiles(self, request: ApiRequest) -> ApiResponse:
        items = request.json_object().get("files")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            raise ApiError(400, "invalid_request", f"files must list 1 to {MAX_BATCH} files")
        parsed: list[FileRequest | ApiError] = []
        for item in items:
            try:
                parsed.append(_file_request(item))
            except ApiError as error:
                parsed.append(error)
        valid = [p for p in parsed if isinstance(p, FileRequest)]
        results = iter(self._files.announce(request.caller, valid))
        answers: list[dict[str, Any]] = []
        for entry in parsed:
            outcome: NativeFile | GatewayError | ApiError = (
                entry if isinstance(entry, ApiError) else next(results)
            )
            if isinstance(outcome, NativeFile):
                answers.append(self._announced(request, outcome))
            else:
                refusal = outcome if isinstance(outcome, ApiError) else domain_problem(outcome)
                answers.append({"error": _problem(refusal)})
        return json_response(200, {"files": answers})

    def UploadPart(self, request: ApiRequest) -> ApiResponse:
        file_id, number_text = request.params["file_id"], request.params["number"]
        number = int(number_text) if number_text.isdigit() else 0
        file = self._files.store.get_file(file_id)
        if file is None or not 1 <= number <= file.part_count:
            # Verified all the same, so a URL that is not genuine learns nothing.
            self._urls.verify(request, "part", [file_id, number_text, "-"])
            raise ApiError(404, "not_found", "no such part")
        self._urls.verify(request, "part", self._files.part_url_fields(file, number))
        part = self._files.receive_part(file, number, request_body(request.environ))
        return json_response(200, _part(part), [("ETag", f'"{part.sha256}"')])

    def ListFileParts(self, request: ApiRequest) -> ApiResponse:
        file, parts, missing = self._files.upload_state(request.caller, request.params["file_id"])
        return json_response(
            200,
            {
                "id": file.id,
                "status": file.status,
                "part_size": file.part_size,
                "parts": [_part(p) for p in parts],
                "missing": missing,
                "urls": [self._part_url(request, file, n) for n in missing]
                if file.status == "uploading"
                else [],
            },
        )

    def FinalizeFile(self, request: ApiRequest) -> ApiResponse:
        body = request.json_object()
        file = self._files.finalize(
            request.caller,
            request.params["file_id"],
            integer_member(body.get("size"), "size"),
            text_member(body.get("sha256"), "sha256"),
        )
        view = self._files.view(request.caller, file.id)
        return json_response(202, self._metadata(view))

    # --- status ----------------------------------------------------------------------

    def GetFileMetadata(self, request: ApiRequest) -> ApiResponse:
        view = self._files.view(request.caller, request.params["file_id"])
        return json_response(200, self._metadata(view))

    def GetFiles(self, request: ApiRequest) -> ApiResponse:
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if not 1 <= len(ids) <= MAX_BATCH:
            raise ApiError(400, "invalid_request", f"ids must name 1 to {MAX_BATCH} files")
        found, missing = self._files.views(request.caller, ids)
        return json_response(200, {"files": [self._metadata(v) for v in found], "missing": missing})

    # --- downloads -------------------------------------------------------------------

    def DownloadFile(self, request: ApiRequest) -> ApiResponse:
        view = self._files.view(request.caller, request.params["file_id"])
        self._files.check_readable(view)
        if request.arg("redirect") in ("1", "true"):
            url = self._signed_url(request, view.file_id, "download", [view.file_id], {})
            return ApiResponse(302, b"", [("Location", url), ("Cache-Control", "no-store")])
        return self._serve(request, view, 0, view.size)

    def ListFileChunks(self, request: ApiRequest) -> ApiResponse:
        view = self._files.view(request.caller, request.params["file_id"])
        self._files.check_readable(view)
        chunks = [
            {
                "offset": offset,
                "length": length,
                "url": self._signed_url(
                    request,
                    view.file_id,
                    "range",
                    [view.file_id, str(offset), str(length)],
                    {"offset": offset, "length": length},
                ),
            }
            for offset, length in self._files.ranges(view)
        ]
        return json_response(200, {"id": view.file_id, "size": view.size, "chunks": chunks})

    def SignedDownload(self, request: ApiRequest) -> ApiResponse:
        file_id = request.params["file_id"]
        offset, length = request.arg("offset"), request.arg("length")
        end: int | None = None
        if offset is None and length is None:
            self._urls.verify(request, "download", [file_id])
            start = 0
        else:
            self._urls.verify(request, "range", [file_id, offset or "", length or ""])
            if not (offset or "").isdigit() or not (length or "").isdigit():
                raise ApiError(400, "invalid_request", "offset and length must be numbers")
            start = int(offset or 0)
            end = start + int(length or 0)
        view = self._files.find(file_id)
        if view is None:
            raise ApiError(404, "not_found", f"file {file_id}")
        self._files.check_readable(view)
        if end is None:
            return self._serve(request, view, 0, view.size)
        if end > view.size:
            raise ApiError(416, "range_not_satisfiable", "the range ends past the file")
        return self._stream(view, start, end, 200, [])

    def _serve(self, request: ApiRequest, view: FileView, start: int, end: int) -> ApiResponse:
        """The whole file, or the single byte range its ``Range`` header asks for."""
        etag = self._etag(view)
        headers = [("ETag", etag), ("Accept-Ranges", "bytes")]
        if request.header("If-None-Match") == etag:
            return ApiResponse(304, b"", headers)
        try:
            chosen = parse_range(request.header("Range"), view.size)
        except UnsatisfiableRange:
            raise ApiError(
                416,
                "range_not_satisfiable",
                f"the range selects no byte of a {view.size}-byte file",
                headers=(("Content-Range", f"bytes */{view.size}"),),
            ) from None
        if chosen is None:
            return self._stream(view, start, end, 200, headers)
        return self._stream(
            view,
            chosen.start,
            chosen.end,
            206,
            [*headers, ("Content-Range", chosen.content_range)],
        )

    def _stream(
        self, view: FileView, start: int, end: int, status: int, headers: list[tuple[str, str]]
    ) -> ApiResponse:
        content_type = (
            view.version.attributes.content_type
            if view.version is not None
            else view.upload.content_type
            if view.upload is not None
            else DEFAULT_CONTENT_TYPE
        )
        pieces = self._files.read(view, start, end)
        return ApiResponse(
            status,
            _bytes(pieces),
            [
                *headers,
                ("Content-Type", content_type),
                ("Content-Length", str(end - start)),
            ],
        )

    # --- answers ---------------------------------------------------------------------

    def _announced(self, request: ApiRequest, file: NativeFile) -> dict[str, Any]:
        return {
            "id": file.id,
            "bucket": file.bucket_name,
            "name": file.key,
            "size": file.size,
            "content_type": file.content_type,
            "status": file.status,
            "part_size": file.part_size,
            "transport": file.transport,
            "expires_at": timestamp(file.expires_at),
            "parts": [self._part_url(request, file, n) for n in range(1, file.part_count + 1)],
        }

    def _part_url(self, request: ApiRequest, file: NativeFile, number: int) -> dict[str, Any]:
        ttl = self._files.limits.url_ttl_seconds
        if file.transport == TRANSPORT_BACKEND:
            url = self._files.part_url(file, number)
            expires = int(time.time()) + ttl
        else:
            fields = self._files.part_url_fields(file, number)
            query, expires = self._urls.sign("part", fields, ttl)
            url = f"{_base(request)}/v1/uploads/{file.id}/parts/{number}?{query}"
        return {
            "number": number,
            "offset": (number - 1) * file.part_size,
            "size": file.part_length(number),
            "url": url,
            "method": "PUT",
            "expires_at": timestamp(datetime.fromtimestamp(expires, UTC)),
        }

    def _signed_url(
        self,
        request: ApiRequest,
        file_id: str,
        purpose: str,
        fields: list[str],
        extra: dict[str, int],
    ) -> str:
        query, _ = self._urls.sign(purpose, fields, self._files.limits.url_ttl_seconds)
        prefix = urlencode(extra) + "&" if extra else ""
        return f"{_base(request)}/v1/downloads/{quote(file_id)}?{prefix}{query}"

    @staticmethod
    def _etag(view: FileView) -> str:
        if view.version is not None:
            return f'"{view.version.etag}"'
        assert view.upload is not None
        return f'"{view.upload.sha256 or view.upload.id}"'

    def _metadata(self, view: FileView) -> dict[str, Any]:
        upload, version = view.upload, view.version
        sha256 = upload.sha256 if upload is not None else None
        if sha256 is None and version is not None:
            sha256 = full_object_sha256(version.checksum)
        if version is not None:
            name, content_type = version.key, version.attributes.content_type
            modified = version.last_modified
        else:
            assert upload is not None
            name, content_type, modified = upload.key, upload.content_type, upload.updated_at
        return {
            "id": view.file_id,
            "bucket": view.bucket,
            "name": name,
            "size": view.size,
            "content_type": content_type,
            "sha256": sha256,
            "etag": version.etag if version is not None else None,
            "status": view.status,
            "created_at": timestamp(upload.created_at if upload else modified),
            "updated_at": timestamp(max(upload.updated_at, modified) if upload else modified),
            "finalized_at": timestamp(upload.finalized_at if upload else None),
            "error": upload.error if upload else None,
        }


def _part(part: FilePart | BackendPart) -> dict[str, Any]:
    if isinstance(part, BackendPart):
        return {"number": part.number, "size": part.size, "etag": part.etag}
    return {"number": part.number, "size": part.size, "sha256": part.sha256}


def _problem(error: ApiError) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(error.body())
    return document


def _bytes(pieces: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    for piece in pieces:
        yield bytes(piece)


def _base(request: ApiRequest) -> str:
    environ = request.environ
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
