"""GetObjectAttributes (``GET /bucket/key?attributes``): metadata of a version, no body.

``x-amz-object-attributes`` names what to return (ETag, Checksum, ObjectParts,
StorageClass, ObjectSize); ``x-amz-max-parts`` and ``x-amz-part-number-marker`` page
through the parts of a multipart object.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from gateway.records import StoredObject
from gateway.s3.call import Call
from gateway.s3.errors import InvalidArgument, InvalidRequest
from gateway.s3.handlers.tagging import addressed_version
from gateway.s3.object_checksums import XML_NAMES
from gateway.s3.response import Response, http_date
from gateway.s3.versioning import version_headers
from gateway.s3.xml import add, add_all, document

ATTRIBUTES = frozenset({"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"})
MAX_PARTS = 1000


def requested_attributes(value: str | None) -> set[str]:
    """The names in ``x-amz-object-attributes``.

    InvalidRequest when there is none, InvalidArgument when one is unknown.
    """
    names = {name.strip() for name in (value or "").split(",") if name.strip()}
    if not names:
        raise InvalidRequest(
            "The x-amz-object-attributes header specifying the attributes "
            "to be retrieved is either missing or empty"
        )
    if not names <= ATTRIBUTES:
        raise InvalidArgument("Invalid attribute name specified.")
    return names


def _header_integer(call: Call, name: str, default: int) -> int:
    raw = call.request.header(name)
    if raw is None:
        return default
    if not raw.strip().isdigit():
        raise InvalidArgument(f"Invalid value for {name}.", ArgumentName=name, ArgumentValue=raw)
    return int(raw)


def _add_parts(root: Element, obj: StoredObject, marker: int, max_parts: int) -> None:
    after = [part for part in obj.parts if part.number > marker]
    page = after[:max_parts]
    parts = add_all(
        add(root, "ObjectParts"),
        {
            "PartsCount": len(obj.parts),
            "PartNumberMarker": marker,
            "NextPartNumberMarker": page[-1].number if page else marker,
            "MaxParts": max_parts,
            "IsTruncated": len(after) > len(page),
        },
    )
    for part in page:
        fields: dict[str, str | int] = {"PartNumber": part.number, "Size": part.size}
        if part.checksum is not None and obj.checksum is not None:
            fields[XML_NAMES[obj.checksum.algorithm]] = part.checksum
        add_all(add(parts, "Part"), fields)


def GetObjectAttributes(call: Call) -> Response:
    """``GET /bucket/key?attributes``: the requested attributes of the version."""
    names = requested_attributes(call.request.header("x-amz-object-attributes"))
    max_parts = min(_header_integer(call, "x-amz-max-parts", MAX_PARTS), MAX_PARTS)
    marker = _header_integer(call, "x-amz-part-number-marker", 0)
    obj = addressed_version(call)
    root = document("GetObjectAttributesResponse")
    if "ETag" in names:
        add(root, "ETag", obj.etag)
    if "Checksum" in names and obj.checksum is not None:
        value = obj.checksum.value.partition("-")[0]
        add_all(
            add(root, "Checksum"),
            {XML_NAMES[obj.checksum.algorithm]: value, "ChecksumType": obj.checksum.type},
        )
    if "ObjectParts" in names and obj.parts:
        _add_parts(root, obj, marker, max_parts)
    if "StorageClass" in names:
        add(root, "StorageClass", "STANDARD")
    if "ObjectSize" in names:
        add(root, "ObjectSize", obj.size)
    response = Response.xml(root)
    response.headers["Last-Modified"] = http_date(obj.last_modified)
    response.headers.update(version_headers(obj))
    return response
