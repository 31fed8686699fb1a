"""Object tagging: PutObjectTagging, GetObjectTagging, DeleteObjectTagging (``?tagging``).

Each acts on the current version of the key, or on the one ``versionId`` names.
"""

from __future__ import annotations

from gateway.records import StoredObject
from gateway.s3.call import Call
from gateway.s3.response import Response
from gateway.s3.tagging import tagging_document, tags_from_document
from gateway.s3.versioning import requested_version, version_headers
from gateway.s3.xml import parse


def addressed_version(call: Call) -> StoredObject:
    """The version a key sub-resource request is about: ``versionId``'s, else the current."""
    version_id = requested_version(call.request.query)
    if version_id is None:
        return call.storage.head_object(call.user, call.bucket, call.key)
    return call.storage.version(call.user, call.bucket, call.key, version_id)


def _set_tags(call: Call, tags: dict[str, str]) -> StoredObject:
    obj = addressed_version(call)
    call.storage.set_object_tags(call.user, call.bucket, obj, tags, call.actor)
    return obj


def PutObjectTagging(call: Call) -> Response:
    """``PUT /bucket/key?tagging``: replace the version's tag set with the document's."""
    tags = tags_from_document(parse(call.read_document(), "Tagging"))
    return Response(200, version_headers(_set_tags(call, tags)))


def GetObjectTagging(call: Call) -> Response:
    """``GET /bucket/key?tagging``: the version's tag set (empty when it has none)."""
    obj = addressed_version(call)
    response = Response.xml(tagging_document(obj.attributes.tags))
    response.headers.update(version_headers(obj))
    return response


def DeleteObjectTagging(call: Call) -> Response:
    """``DELETE /bucket/key?tagging``: remove every tag of the version; 204."""
    return Response(204, version_headers(_set_tags(call, {})))
