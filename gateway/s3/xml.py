"""S3 XML documents: building responses and parsing request bodies safely.

Request bodies are parsed with defusedxml (no entity expansion, no external
entities, no DTDs) and capped in size before parsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException

from gateway.s3.errors import MalformedXML

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_REQUEST_XML = 2 * 1024 * 1024

Value = str | int | bool | datetime | None


def timestamp(moment: datetime) -> str:
    """ISO 8601 with milliseconds and ``Z``, as S3 writes times in XML."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return timestamp(value)
    return "" if value is None else str(value)


def add(parent: Element, tag: str, value: Value = None) -> Element:
    """Append ``<tag>value</tag>`` to ``parent`` and return the new element."""
    child = SubElement(parent, tag)
    if value is not None:
        child.text = _text(value)
    return child


def add_all(parent: Element, fields: Mapping[str, Value]) -> Element:
    """Append one child per field whose value is not None; return ``parent``."""
    for tag, value in fields.items():
        if value is not None:
            add(parent, tag, value)
    return parent


def document(tag: str, fields: Mapping[str, Value] | None = None) -> Element:
    """A root element in the S3 namespace, with optional simple children."""
    root = Element(tag, xmlns=NAMESPACE)
    return add_all(root, fields or {})


def serialize(root: Element) -> bytes:
    """The bytes of a complete XML document."""
    text = tostring(root, encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text.encode("utf-8")


def parse(body: bytes, expected_root: str) -> Element:
    """Parse a request body whose root element must be ``expected_root``.

    Namespaces are stripped from tags so ``find`` works with bare names. Raises
    MalformedXML for anything that is not well-formed, too large, or unsafe.
    """
    if len(body) > MAX_REQUEST_XML:
        raise MalformedXML("The XML document is too large.")
    try:
        root: Any = SafeTree.fromstring(body, forbid_dtd=True)
    except (SafeTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedXML() from exc
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    if root.tag != expected_root:
        raise MalformedXML(f"Expected a {expected_root} document.")
    result: Element = root
    return result


def child_text(element: Element, tag: str) -> str | None:
    """The exact text of the first child called ``tag`` ("" when empty), None when absent.

    Never stripped: an object key may begin or end with white space. Callers reading
    numbers, flags or ETags strip what they read themselves.
    """
    found = element.find(tag)
    return None if found is None else (found.text or "")


def children(element: Element, tag: str) -> Iterable[Element]:
    """Every direct child called ``tag``."""
    return element.findall(tag)
