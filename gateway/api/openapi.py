"""The OpenAPI 3.1 description of ``/v1``, served at ``GET /v1/openapi.json``.

The document is data built from small schema pieces below. Its paths and methods are
exactly the assembled application's routes, and an operation has ``security: []``
exactly when its route is public; ``tests/unit/test_openapi.py`` holds the two to that,
and the schemathesis run in ``tests/integration/test_api_openapi.py`` holds the schemas
and status codes to what the gateway really answers. ``servers`` is the origin the
request for the document reached, so it is right behind any listen address.
"""

from __future__ import annotations

import copy
import json
from typing import Any
from wsgiref.util import application_uri

from gateway.api.problem import PROBLEM_TYPE
from gateway.api.router import JSON_TYPE, ApiRequest, ApiResponse, Route

Schema = dict[str, Any]

DOCUMENT_PATH = "/v1/openapi.json"

# --- schema pieces -----------------------------------------------------------------------

STRING: Schema = {"type": "string"}
TEXT: Schema = {"type": "string", "minLength": 1}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}


def obj(properties: dict[str, Schema], *, required: tuple[str, ...] = (), extra: bool) -> Schema:
    """An object schema; ``extra`` says whether members not named are allowed (the
    handlers ignore unknown request members, so request bodies allow them)."""
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": extra}
    if required:
        schema["required"] = list(required)
    return schema


def reply(properties: dict[str, Schema]) -> Schema:
    """A response object holding every one of ``properties``."""
    return obj(properties, required=tuple(properties), extra=False)


PROBLEM: Schema = {
    "description": "RFC 9457 problem details; ``code`` is a stable machine name.",
    **obj(
        {"type": STRING, "title": STRING, "status": INTEGER, "detail": STRING, "code": TEXT},
        required=("type", "title", "status", "detail", "code"),
        extra=True,
    ),
}

TOKEN_RESPONSE = reply(
    {
        "access_token": TEXT,
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "minimum": 1},
        "refresh_token": TEXT,
    }
)


def grant(name: str, members: tuple[str, ...], implied_unless: tuple[str, ...]) -> Schema:
    """The token request of grant ``name``: its ``members`` as non-empty strings, and
    ``grant_type`` either ``name`` or absent; when absent the grant is implied by the
    members, so none of ``implied_unless`` (the members of grants that take precedence)
    may be there."""
    schema = obj(
        {"grant_type": {"const": name}, **{member: TEXT for member in members}},
        required=members,
        extra=True,
    )
    if implied_unless:
        schema["anyOf"] = [
            {"required": ["grant_type"]},
            {"not": {"anyOf": [{"required": [member]} for member in implied_unless]}},
        ]
    return schema


TOKEN_REQUEST: Schema = {
    "anyOf": [
        grant("refresh_token", ("refresh_token",), ()),
        grant("access_key", ("access_key_id", "secret_access_key"), ("refresh_token",)),
        grant("password", ("username", "password"), ("refresh_token", "access_key_id")),
    ]
}


def ref(name: str) -> Schema:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Schema, **limits: int) -> Schema:
    """An array of ``items``."""
    return {"type": "array", "items": items, **limits}


NULLABLE_STRING: Schema = {"type": ["string", "null"]}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
SIZE: Schema = {"type": "integer", "minimum": 0}
SHA256: Schema = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}
# An object key: non-empty, no NUL (the core also caps it at 1024 bytes of UTF-8).
NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^\\u0000]+$"}
FILE_STATUS: Schema = {"enum": ["uploading", "processing", "ready", "quarantined", "failed"]}

FILE_REQUEST = obj(
    {
        "bucket": TEXT,
        "name": NAME,
        "size": SIZE,
        "content_type": TEXT,
        "sha256": SHA256,
    },
    required=("bucket", "name", "size"),
    extra=True,
)

PART_URL = reply(
    {
        "number": {"type": "integer", "minimum": 1},
        "offset": SIZE,
        "size": SIZE,
        "url": TEXT,
        "method": {"const": "PUT"},
        "expires_at": TIMESTAMP,
    }
)

ANNOUNCED = reply(
    {
        "id": TEXT,
        "bucket": TEXT,
        "name": TEXT,
        "size": SIZE,
        "content_type": TEXT,
        "status": FILE_STATUS,
        "part_size": {"type": "integer", "minimum": 1},
        "transport": TEXT,
        "expires_at": NULLABLE_TIMESTAMP,
        "parts": array(ref("PartUrl")),
    }
)

PART = reply({"number": {"type": "integer", "minimum": 1}, "size": SIZE, "sha256": SHA256})

# A part as the S3 backend lists it, for direct-to-backend uploads (``transport: backend``).
BACKEND_PART = reply({"number": {"type": "integer", "minimum": 1}, "size": SIZE, "etag": TEXT})

METADATA = reply(
    {
        "id": TEXT,
        "bucket": TEXT,
        "name": NULLABLE_STRING,
        "size": SIZE,
        "content_type": NULLABLE_STRING,
        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "etag": NULLABLE_STRING,
        "status": FILE_STATUS,
        "created_at": NULLABLE_TIMESTAMP,
        "updated_at": NULLABLE_TIMESTAMP,
        "finalized_at": NULLABLE_TIMESTAMP,
        "error": NULLABLE_STRING,
    }
)

BUCKET_ENTRY = reply(
    {
        "name": TEXT,
        "id": TEXT,
        "size": SIZE,
        "etag": STRING,
        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "modified": TIMESTAMP,
    }
)


def path_param(name: str, schema: Schema = TEXT) -> dict[str, Any]:
    """A path parameter (always required)."""
    return {"name": name, "in": "path", "required": True, "schema": schema}


def query_param(name: str, schema: Schema, *, required: bool = False) -> dict[str, Any]:
    """A query parameter."""
    return {"name": name, "in": "query", "required": required, "schema": schema}


def header_param(name: str) -> dict[str, Any]:
    """An optional request header."""
    return {"name": name, "in": "header", "required": False, "schema": STRING}


# The query of a pre-signed URL; a missing or altered one is refused with 403.
SIGNATURE_QUERY = [
    query_param("expires", {"type": "string", "pattern": "^[0-9]+$"}),
    query_param("kid", STRING),
    query_param("signature", STRING),
]

BYTES: dict[str, Any] = {"*/*": {"schema": {}}}


def body_bytes(status: int, description: str) -> dict[str, Any]:
    """A response whose body is the file's bytes, of its own media type."""
    return {str(status): {"description": description, "content": BYTES}}


def empty(status: int, description: str) -> dict[str, Any]:
    """A response without a body."""
    return {str(status): {"description": description}}


CURSOR: Schema = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}
CHANGE = reply(
    {
        "cursor": CURSOR,
        "event": {"enum": ["created", "updated", "moved", "deleted", "quarantined"]},
        "bucket": TEXT,
        "name": TEXT,
        "file_id": NULLABLE_STRING,
        "size": {"type": ["integer", "null"], "minimum": 0},
        "etag": NULLABLE_STRING,
        "at": TIMESTAMP,
        "source": {"anyOf": [{"type": "null"}, reply({"bucket": TEXT, "name": TEXT})]},
    }
)


# --- responses ---------------------------------------------------------------------------

_ERROR_MEANINGS = {
    400: "The request is malformed (``code`` says how).",
    401: "No valid access token, or wrong credentials.",
    403: "The caller may not do this.",
    404: "No such resource the caller may see.",
    405: "The path does not take this method.",
    409: "The resource is in a state that does not allow this.",
    411: "A body was sent without Content-Length.",
    412: "A precondition failed.",
    413: "The body or the declared size is too large.",
    415: "The body is not ``application/json``.",
    416: "The range is not satisfiable.",
    422: "The request is well formed but its content is refused.",
    503: "Temporarily unavailable; retry after ``Retry-After`` seconds.",
}

# What every route with a JSON request body can answer before its handler looks inside.
JSON_BODY_ERRORS = (400, 411, 413, 415)


def json_content(schema: Schema, media: str = JSON_TYPE) -> dict[str, Any]:
    """The ``content`` member of a JSON body of ``schema``."""
    return {media: {"schema": schema}}


def ok(schema: Schema, description: str, status: int = 200) -> dict[str, Any]:
    """A JSON success response."""
    return {str(status): {"description": description, "content": json_content(schema)}}


def errors(*statuses: int) -> dict[str, Any]:
    """Problem-details responses for ``statuses``."""
    return {
        str(status): {
            "description": _ERROR_MEANINGS[status],
            "content": json_content({"$ref": "#/components/schemas/Problem"}, PROBLEM_TYPE),
        }
        for status in statuses
    }


def operation(
    summary: str,
    responses: dict[str, Any],
    *,
    public: bool = False,
    body: Schema | None = None,
    parameters: list[dict[str, Any]] | None = None,
    raw_body: bool = False,
) -> dict[str, Any]:
    """An operation; protected ones take a bearer token and may answer 401. ``body`` is
    a JSON request body's schema; ``raw_body`` a body of bytes."""
    op: dict[str, Any] = {"summary": summary, "responses": dict(responses)}
    if body is not None:
        op["requestBody"] = {"required": True, "content": json_content(body)}
        op["responses"].update(errors(*JSON_BODY_ERRORS))
    if raw_body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/octet-stream": {"schema": {}}},
        }
    if parameters:
        op["parameters"] = parameters
    if public:
        op["security"] = []
    else:
        op["security"] = [{"bearerAuth": []}]
        op["responses"].update(errors(401))
    return op


# --- the document ------------------------------------------------------------------------

PATHS: dict[str, dict[str, Any]] = {
    "/v1/auth/token": {
        "post": operation(
            "Sign in (user name and password, or an S3 key pair) or refresh a token pair.",
            {**ok(TOKEN_RESPONSE, "An OAuth 2 token response."), **errors(401)},
            public=True,
            body=TOKEN_REQUEST,
        ),
    },
    "/v1/auth/revoke": {
        "post": operation(
            "Revoke a refresh token and every token refreshed from the same sign-in.",
            ok(reply({"revoked": {"const": True}}), "Revoked, or it was not known."),
            public=True,
            body=obj({"token": TEXT}, required=("token",), extra=True),
        ),
    },
    "/v1/me": {
        "get": operation(
            "The user the access token names.",
            ok(reply({"id": INTEGER, "name": STRING, "is_admin": BOOLEAN}), "The caller."),
        ),
    },
    "/v1/files": {
        "post": operation(
            "Announce a file; the answer gives its id and pre-signed part URLs.",
            {**ok(ref("AnnouncedFile"), "Announced.", 201), **errors(403, 404)},
            body=FILE_REQUEST,
        ),
        "get": operation(
            "Metadata of many files at once; ids the caller may not see are ``missing``.",
            {
                **ok(
                    reply({"files": array(ref("FileMetadata")), "missing": array(TEXT)}),
                    "The files found and the ids not found.",
                ),
                **errors(400),
            },
            parameters=[query_param("ids", {"type": "string", "minLength": 1}, required=True)],
        ),
    },
    "/v1/files:batch": {
        "post": operation(
            "Announce many files; each is announced or refused on its own.",
            ok(
                reply(
                    {
                        "files": array(
                            {"anyOf": [ref("AnnouncedFile"), reply({"error": ref("Problem")})]}
                        )
                    }
                ),
                "One answer per file, in order: the announced file or its problem.",
            ),
            # An item that is no file request is answered with its problem, in its place.
            body=obj(
                {"files": array({}, minItems=1, maxItems=1000)},
                required=("files",),
                extra=True,
            ),
        ),
    },
    "/v1/files/{file_id}": {
        "get": operation(
            "Download the file (one byte range with ``Range``), or with ``redirect=1`` "
            "be redirected to a pre-signed download URL.",
            {
                **body_bytes(200, "The whole file."),
                **body_bytes(206, "The range asked for."),
                **empty(302, "Redirect to a pre-signed download URL (``Location``)."),
                **empty(304, "``If-None-Match`` matched the ETag."),
                **errors(403, 404, 409, 416),
            },
            parameters=[
                path_param("file_id"),
                query_param("redirect", STRING),
                header_param("Range"),
                header_param("If-None-Match"),
            ],
        ),
        "delete": operation(
            "Delete the file's object while the file is still its name's current version.",
            {
                **empty(204, "Deleted."),
                **errors(403, 404, 409),
            },
            parameters=[path_param("file_id")],
        ),
    },
    "/v1/files/{file_id}/metadata": {
        "get": operation(
            "The file's status, size, checksums and timestamps.",
            {**ok(ref("FileMetadata"), "The file."), **errors(404)},
            parameters=[path_param("file_id")],
        ),
    },
    "/v1/files/{file_id}/parts": {
        "get": operation(
            "Which parts arrived, which are missing, and fresh URLs for the missing ones.",
            {
                **ok(
                    reply(
                        {
                            "id": TEXT,
                            "status": FILE_STATUS,
                            "part_size": {"type": "integer", "minimum": 1},
                            "parts": array({"oneOf": [ref("Part"), ref("BackendPart")]}),
                            "missing": array({"type": "integer", "minimum": 1}),
                            "urls": array(ref("PartUrl")),
                        }
                    ),
                    "The upload's state.",
                ),
                **errors(404),
            },
            parameters=[path_param("file_id")],
        ),
    },
    "/v1/files/{file_id}/finalize": {
        "post": operation(
            "Check size and checksum of the uploaded parts and start processing; idempotent.",
            {
                **ok(ref("FileMetadata"), "Accepted for processing.", 202),
                **errors(403, 404, 409, 422),
            },
            body=obj({"size": SIZE, "sha256": SHA256}, required=("size", "sha256"), extra=True),
            parameters=[path_param("file_id")],
        ),
    },
    "/v1/files/{file_id}/chunks": {
        "get": operation(
            "The file's ordered byte ranges, each with a pre-signed download URL.",
            {
                **ok(
                    reply(
                        {
                            "id": TEXT,
                            "size": SIZE,
                            "chunks": array(reply({"offset": SIZE, "length": SIZE, "url": TEXT})),
                        }
                    ),
                    "The ranges in order.",
                ),
                **errors(403, 404, 409),
            },
            parameters=[path_param("file_id")],
        ),
    },
    "/v1/uploads/{file_id}/parts/{number}": {
        "put": operation(
            "Upload one part through a pre-signed part URL (its signature authorizes it).",
            {
                **ok(ref("Part"), "Stored; ``ETag`` is the part's SHA-256."),
                **errors(400, 403, 404, 409, 411, 413),
            },
            public=True,
            raw_body=True,
            parameters=[
                path_param("file_id"),
                path_param("number", {"type": "string", "pattern": "^[0-9]+$"}),
                *SIGNATURE_QUERY,
            ],
        ),
    },
    "/v1/downloads/{file_id}": {
        "get": operation(
            "Download through a pre-signed URL: the whole file, or with ``offset`` and "
            "``length`` (both signed) one chunk range.",
            {
                **body_bytes(200, "The file or the signed range."),
                **body_bytes(206, "The range a ``Range`` header asked for."),
                **empty(304, "``If-None-Match`` matched the ETag."),
                **errors(400, 403, 404, 409, 416),
            },
            public=True,
            parameters=[
                path_param("file_id"),
                query_param("offset", STRING),
                query_param("length", STRING),
                *SIGNATURE_QUERY,
                header_param("Range"),
                header_param("If-None-Match"),
            ],
        ),
    },
    "/v1/buckets/{bucket}/files": {
        "get": operation(
            "The current files of a bucket in name order, a page at a time.",
            {
                **ok(
                    reply({"files": array(ref("BucketFile")), "next_after": NULLABLE_STRING}),
                    "A page; ``next_after`` is where the next starts (null on the last).",
                ),
                **errors(400, 403, 404),
            },
            parameters=[
                path_param("bucket"),
                query_param("prefix", STRING),
                query_param("after", STRING),
                query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
            ],
        ),
    },
    "/v1/changes": {
        "get": operation(
            "Changes after ``cursor`` to the buckets the caller may read, in commit order; "
            "``wait`` seconds long-polls for one when there is none yet.",
            {
                **ok(
                    reply({"changes": array(ref("Change")), "cursor": CURSOR, "has_more": BOOLEAN}),
                    "A page of changes and the cursor to resume from.",
                ),
                **errors(400, 403, 404),
            },
            parameters=[
                query_param("cursor", CURSOR),
                query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                query_param("wait", {"type": "number", "minimum": 0, "maximum": 60}),
                query_param("bucket", TEXT),
            ],
        ),
    },
    "/v1/changes/cursor": {
        "get": operation(
            "The feed's current end, to follow from after listing what exists.",
            ok(reply({"cursor": CURSOR}), "The cursor."),
        ),
    },
    DOCUMENT_PATH: {
        "get": operation(
            "This document.",
            ok({"type": "object"}, "The OpenAPI 3.1 document of /v1."),
            public=True,
        ),
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Storage gateway native API",
        "version": "1",
        "description": "Token auth, direct uploads, downloads and the change feed. "
        "Every refusal is an RFC 9457 problem document.",
    },
    "paths": PATHS,
    "components": {
        "schemas": {
            "Problem": PROBLEM,
            "AnnouncedFile": ANNOUNCED,
            "PartUrl": PART_URL,
            "Part": PART,
            "BackendPart": BACKEND_PART,
            "FileMetadata": METADATA,
            "BucketFile": BUCKET_ENTRY,
            "Change": CHANGE,
        },
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        },
    },
}


def document(origin: str) -> dict[str, Any]:
    """The document with ``origin`` (scheme, host and port) as its server."""
    described = copy.deepcopy(DOCUMENT)
    described["servers"] = [{"url": origin}]
    return described


def operations() -> set[tuple[str, str]]:
    """Every documented ``(METHOD, path template)``."""
    return {(method.upper(), path) for path, item in PATHS.items() for method in item}


def public_operations() -> set[tuple[str, str]]:
    """The documented operations that need no token."""
    return {
        (method.upper(), path)
        for path, item in PATHS.items()
        for method, op in item.items()
        if op["security"] == []
    }


class OpenApiRoutes:
    """``GET /v1/openapi.json``, public."""

    def routes(self) -> list[Route]:
        return [Route("GET", DOCUMENT_PATH, self.openapi_document, public=True)]

    def openapi_document(self, request: ApiRequest) -> ApiResponse:
        origin = application_uri(request.environ).rstrip("/")
        body = json.dumps(document(origin), separators=(",", ":")).encode()
        return ApiResponse(200, body, [("Content-Type", JSON_TYPE)])
