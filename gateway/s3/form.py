"""A multipart/form-data request body, read incrementally from the request stream.

Fields before the file are collected (each at most ``MAX_FIELD_SIZE`` bytes); the file
field is then handed out as a stream of its own, so an upload of any size is never held
in memory. Anything after the file is not read, as S3 ignores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import multipart

from gateway.core.writer import Readable
from gateway.s3.errors import InvalidArgument, MalformedPOSTRequest

READ_SIZE = 64 * 1024
MAX_FIELD_SIZE = 20 * 1024
MAX_FIELDS = 100
FILE_FIELD = "file"


@dataclass(frozen=True)
class FormFile:
    """The file field: its declared name and Content-Type, and its bytes as a stream."""

    filename: str
    content_type: str | None
    stream: Readable


class _FileStream:
    """``read`` over the file field's bytes, pulling parser events as needed."""

    def __init__(self, events: Iterator[multipart.MultipartSegment | bytes | None]) -> None:
        self._events = events
        self._buffer = b""
        self._ended = False

    def read(self, size: int = -1, /) -> bytes:
        while not self._ended and (size < 0 or len(self._buffer) < size):
            event = next(self._events, None)
            if event is None:
                self._ended = True
            elif isinstance(event, bytes):
                self._buffer += event
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _events(
    source: Readable, boundary: str, content_length: int | None
) -> Iterator[multipart.MultipartSegment | bytes | None]:
    try:
        with multipart.PushMultipartParser(
            boundary, content_length if content_length is not None else -1
        ) as parser:
            while not parser.closed:
                data = source.read(READ_SIZE)
                yield from parser.parse(data)
                if not data:
                    break
    except multipart.ParserError as exc:
        raise MalformedPOSTRequest() from exc


def boundary_of(content_type: str) -> str | None:
    """The boundary of a ``multipart/form-data`` Content-Type; None for any other type."""
    kind, options = multipart.parse_options_header(content_type)
    if kind != "multipart/form-data":
        return None
    return options.get("boundary") or None


def read_form(
    source: Readable, boundary: str, content_length: int | None
) -> tuple[dict[str, str], FormFile]:
    """The fields before the file (names lower-cased, first value kept) and the file.

    MalformedPOSTRequest when the body is not multipart/form-data or has no file
    field; InvalidArgument for an oversized or non-UTF-8 field.
    """
    events = _events(source, boundary, content_length)
    fields: dict[str, str] = {}
    for event in events:
        if not isinstance(event, multipart.MultipartSegment):
            raise MalformedPOSTRequest()
        name = (event.name or "").lower()
        if name == FILE_FIELD:
            stream = _FileStream(events)
            return fields, FormFile(event.filename or "", event.content_type, stream)
        if len(fields) >= MAX_FIELDS:
            raise InvalidArgument("The POST request has too many form fields.")
        value = b""
        for chunk in events:
            if chunk is None:
                break
            if not isinstance(chunk, bytes):
                raise MalformedPOSTRequest()
            value += chunk
            if len(value) > MAX_FIELD_SIZE:
                raise InvalidArgument(f"The form field {name!r} is too large.")
        try:
            fields.setdefault(name, value.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"The form field {name!r} is not UTF-8.") from exc
    raise MalformedPOSTRequest("POST requires exactly one file upload per request.")
