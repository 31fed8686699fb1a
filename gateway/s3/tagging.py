"""S3 object tag sets: parsed from ``x-amz-tagging`` and Tagging documents, checked, written.

S3's rules: at most 10 tags, unique keys of 1 to 128 characters, values of 0 to 256,
both made of Unicode letters, digits, spaces and ``+ - = . _ : / @``, and no key
starting with ``aws:`` (reserved for AWS). Breaking a rule is InvalidTag, more than 10
tags BadRequest, a Tagging document of another shape MalformedXML.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element

from gateway.s3.errors import BadRequest, InvalidArgument, InvalidTag, MalformedXML
from gateway.s3.xml import add, add_all, child_text, children, document

TAGGING_HEADER = "x-amz-tagging"
MAX_TAGS = 10
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_SYMBOLS = frozenset("+-=._:/@")
_ALLOWED_CATEGORIES = ("L", "N", "Z")


def _allowed(text: str) -> bool:
    return all(
        c in _SYMBOLS or unicodedata.category(c).startswith(_ALLOWED_CATEGORIES) for c in text
    )


def checked_tags(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The tag set made of ``pairs``, in order, once every S3 rule holds."""
    tags: dict[str, str] = {}
    for key, value in pairs:
        if key in tags:
            raise InvalidTag("Cannot provide multiple Tags with the same key")
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidTag(f"The TagKey you have provided is too long, max {MAX_KEY_LENGTH}")
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidTag(f"The TagValue you have provided is too long, max {MAX_VALUE_LENGTH}")
        if not _allowed(key):
            raise InvalidTag("The TagKey you have provided is invalid")
        if not _allowed(value):
            raise InvalidTag("The TagValue you have provided is invalid")
        if key.lower().startswith("aws:"):
            raise InvalidTag("Your TagKey cannot be prefixed with aws:")
        tags[key] = value
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"Object tags cannot be greater than {MAX_TAGS}")
    return tags


def tags_from_header(value: str | None) -> dict[str, str]:
    """The tag set of an ``x-amz-tagging`` header (URL query encoding: ``k1=v1&k2=v2``)."""
    if not value:
        return {}
    try:
        pairs = parse_qsl(value, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidTag(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded "
            "URL query parameters without tag name duplicates."
        ) from exc
    return checked_tags(pairs)


def tags_for_copy(source_tags: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, str]:
    """The tags of a copy: the source's (``x-amz-tagging-directive: COPY``, the default)
    or the request's ``x-amz-tagging`` (``REPLACE``); InvalidArgument for another value."""
    directive = headers.get("x-amz-tagging-directive", "COPY").strip().upper()
    if directive == "COPY":
        return dict(source_tags)
    if directive == "REPLACE":
        return tags_from_header(headers.get(TAGGING_HEADER))
    raise InvalidArgument(
        "Unknown tagging directive.",
        ArgumentName="x-amz-tagging-directive",
        ArgumentValue=directive,
    )


def tags_from_document(root: Element) -> dict[str, str]:
    """The tag set of a parsed ``<Tagging><TagSet><Tag>...`` document."""
    tag_sets = list(children(root, "TagSet"))
    if len(tag_sets) != 1:
        raise MalformedXML("A Tagging document holds exactly one TagSet.")
    pairs: list[tuple[str, str]] = []
    for tag in children(tag_sets[0], "Tag"):
        key, value = child_text(tag, "Key"), child_text(tag, "Value")
        if key is None or value is None:
            raise MalformedXML("Each Tag needs a Key and a Value.")
        pairs.append((key, value))
    return checked_tags(pairs)


def tagging_document(tags: Mapping[str, str]) -> Element:
    """The ``Tagging`` document GetObjectTagging answers."""
    root = document("Tagging")
    tag_set = add(root, "TagSet")
    for key, value in tags.items():
        add_all(add(tag_set, "Tag"), {"Key": key, "Value": value})
    return root
