"""One file each way: ``push`` (announce, parallel part PUTs, finalize) and ``pull``
(parallel ranged GETs into a temporary file, verified, then renamed into place).

Both resume. A push keeps a small JSON state file per (local path, size, mtime, destination)
holding the file id; run again, it asks ``/parts`` and sends only the missing parts. A pull
keeps its partial file and a record of the pieces already written beside the target.
Memory stays bounded: at most ``parallel`` parts (or pieces) are in flight at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from gateway.client.connection import ClientError, Connection, problem_message
from gateway.client.progress import Progress

READ_BLOCK = 1 << 20
PIECE_SIZE = 8 << 20
PART_ATTEMPTS = 3
PARTIAL_SUFFIX = ".gateway-partial"
SETTLED = ("ready", "quarantined", "failed")


@dataclass(frozen=True)
class TransferOptions:
    """How transfers run: parts in flight, where push state lives, bar or not, and
    whether a push waits for the file to be ``ready``."""

    parallel: int = 4
    state_dir: Path = Path.home() / ".cache" / "gateway"
    quiet: bool = False
    wait: bool = True
    wait_seconds: float = 600.0


class PushState:
    """The file id of an unfinished push of one local file version to one destination."""

    def __init__(self, state_dir: Path, path: Path, bucket: str, name: str) -> None:
        stat = path.stat()
        identity = json.dumps(
            [str(path.resolve()), stat.st_size, stat.st_mtime_ns, bucket, name]
        ).encode()
        self.path = state_dir / f"push-{hashlib.sha256(identity).hexdigest()[:32]}.json"

    def load(self) -> str | None:
        """The remembered file id, or None."""
        try:
            file_id = json.loads(self.path.read_text()).get("id")
        except (OSError, ValueError):
            return None
        return file_id if isinstance(file_id, str) else None

    def save(self, file_id: str) -> None:
        """Remember ``file_id`` (written atomically)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"id": file_id}))
        os.replace(temporary, self.path)

    def forget(self) -> None:
        """Drop the record: the push is done or cannot resume."""
        self.path.unlink(missing_ok=True)


def _plan_push(
    conn: Connection, state: PushState, path: Path, bucket: str, name: str, size: int
) -> tuple[str, int, dict[int, dict[str, Any]], str]:
    """The file id, part size, URLs of the parts still to send, and upload status:
    resumed from the remembered upload when it is still open, else a new announce."""
    file_id = state.load()
    if file_id is not None:
        response = conn.request("GET", f"/v1/files/{quote(file_id)}/parts")
        if response.status_code == 200:
            answer = response.json()
            if answer.get("status") != "uploading":
                return file_id, int(answer["part_size"]), {}, str(answer.get("status"))
            urls = {int(entry["number"]): entry for entry in answer["urls"]}
            return file_id, int(answer["part_size"]), urls, "uploading"
        state.forget()
    announced = conn.json(
        "POST",
        "/v1/files",
        expect=(201,),
        json={"bucket": bucket, "name": name, "size": size},
    )
    state.save(announced["id"])
    urls = {int(entry["number"]): entry for entry in announced["parts"]}
    return announced["id"], int(announced["part_size"]), urls, "uploading"


def _put_part(conn: Connection, entry: dict[str, Any], data: bytes) -> None:
    url = conn.absolute(entry["url"])
    for attempt in range(PART_ATTEMPTS):
        try:
            response = conn.http.request(entry.get("method", "PUT"), url, content=data)
        except httpx.HTTPError as exc:
            if attempt + 1 == PART_ATTEMPTS:
                raise ClientError(f"part {entry['number']}: {exc}") from exc
            continue
        if response.status_code < 300:
            return
        if response.status_code < 500 or attempt + 1 == PART_ATTEMPTS:
            raise problem_message(response)


@dataclass(frozen=True)
class Pushed:
    """A finished push: the file's metadata, and how many of its parts this run sent."""

    document: dict[str, Any]
    parts_sent: int
    parts_total: int


def push(conn: Connection, path: Path, bucket: str, name: str, options: TransferOptions) -> Pushed:
    """Upload ``path`` as ``name`` in ``bucket``; the file's metadata is ``ready`` unless
    ``options.wait`` is off. Resumes an interrupted push of the same file version.
    ClientError when the gateway refuses, the checksum does not match, or the local file
    changed while it was read."""
    before = path.stat()
    state = PushState(options.state_dir, path, bucket, name)
    file_id, part_size, urls, status = _plan_push(conn, state, path, bucket, name, before.st_size)
    total = max(-(-before.st_size // part_size), max(urls, default=0))
    if status == "uploading":
        sha256 = _send_parts(conn, path, part_size, urls, options)
        after = path.stat()
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            state.forget()
            raise ClientError(f"{path} changed while it was uploaded")
        response = conn.request(
            "POST",
            f"/v1/files/{quote(file_id)}/finalize",
            json={"size": before.st_size, "sha256": sha256},
        )
        if response.status_code not in (200, 202):
            if response.status_code != 409:
                state.forget()
            raise problem_message(response)
    state.forget()
    document = wait_settled(conn, file_id, options) if options.wait else metadata(conn, file_id)
    return Pushed(document, len(urls), total)


def _send_parts(
    conn: Connection,
    path: Path,
    part_size: int,
    urls: dict[int, dict[str, Any]],
    options: TransferOptions,
) -> str:
    """Read ``path`` once in order, hashing every byte, and PUT the parts in ``urls``
    with at most ``options.parallel`` in flight; the file's sha256."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    slots = threading.BoundedSemaphore(max(1, options.parallel))
    failures: list[BaseException] = []
    with (
        Progress(path.name, size, quiet=options.quiet) as bar,
        ThreadPoolExecutor(max(1, options.parallel)) as pool,
        path.open("rb") as source,
    ):

        def sent(future: Future[None], length: int) -> None:
            slots.release()
            error = future.exception()
            if error is not None:
                failures.append(error)
            else:
                bar.advance(length)

        for number in range(1, max(-(-size // part_size), max(urls, default=0)) + 1):
            if failures:
                break
            if number in urls:
                slots.acquire()
                data = source.read(part_size)
                digest.update(data)
                future = pool.submit(_put_part, conn, urls[number], data)
                future.add_done_callback(partial(sent, length=len(data)))
                del data
                continue
            remaining = min(part_size, size - source.tell())
            while remaining > 0:
                block = source.read(min(READ_BLOCK, remaining))
                if not block:
                    break
                digest.update(block)
                remaining -= len(block)
                bar.advance(len(block))
    if failures:
        error = failures[0]
        raise error if isinstance(error, ClientError) else ClientError(str(error))
    return digest.hexdigest()


def metadata(conn: Connection, file_id: str) -> dict[str, Any]:
    """The file's metadata document."""
    answer: dict[str, Any] = conn.json("GET", f"/v1/files/{quote(file_id)}/metadata")
    return answer


def wait_settled(conn: Connection, file_id: str, options: TransferOptions) -> dict[str, Any]:
    """Poll until the file is ``ready``; ClientError if it ends quarantined or failed,
    or is still processing after ``options.wait_seconds``."""
    deadline = time.monotonic() + options.wait_seconds
    pause = 0.05
    while True:
        document = metadata(conn, file_id)
        status = document.get("status")
        if status == "ready":
            return document
        if status in SETTLED:
            raise ClientError(f"file {file_id} is {status}: {document.get('error') or ''}")
        if time.monotonic() > deadline:
            raise ClientError(f"file {file_id} still {status} after {options.wait_seconds} s")
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


class _Pieces:
    """Which pieces of a partial download are written, kept in a JSON file beside it."""

    def __init__(self, record: Path, file_id: str) -> None:
        self._record = record
        self._file_id = file_id
        self._lock = threading.Lock()
        self.done: set[int] = set()
        try:
            document = json.loads(record.read_text())
            if document.get("id") == file_id:
                self.done = {int(n) for n in document.get("done", [])}
        except (OSError, ValueError):
            pass

    def mark(self, index: int) -> None:
        with self._lock:
            self.done.add(index)
            temporary = self._record.with_suffix(".tmp")
            temporary.write_text(json.dumps({"id": self._file_id, "done": sorted(self.done)}))
            os.replace(temporary, self._record)


def pull(
    conn: Connection,
    file_id: str,
    target: Path,
    options: TransferOptions,
    document: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Download file ``file_id`` to ``target`` and return its metadata.

    Pieces of ``PIECE_SIZE`` bytes are fetched with ``Range`` requests, ``options.parallel``
    at once, into a hidden partial file beside ``target`` that a later pull resumes. The
    whole is checked against the size and sha256 the gateway knows, then renamed over
    ``target``; on a mismatch the partial file is removed and ClientError raised, so
    ``target`` is never left half-written.
    """
    document = document or metadata(conn, file_id)
    size = int(document["size"])
    temporary = target.with_name(f".{target.name}.{file_id[:16]}{PARTIAL_SUFFIX}")
    record = temporary.with_name(temporary.name + ".json")
    target.parent.mkdir(parents=True, exist_ok=True)
    pieces = _Pieces(record, file_id)
    count = max(1, -(-size // PIECE_SIZE))
    if not temporary.exists():
        pieces.done = set()
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, size)
        with Progress(target.name, size, quiet=options.quiet) as bar:
            bar.advance(sum(_piece_length(i, size) for i in pieces.done))
            _fetch_pieces(conn, file_id, fd, size, count, pieces, bar.advance, options)
        os.fsync(fd)
    finally:
        os.close(fd)
    _verify(temporary, size, document.get("sha256"), file_id, record)
    os.replace(temporary, target)
    record.unlink(missing_ok=True)
    return document


def _piece_length(index: int, size: int) -> int:
    return max(0, min(PIECE_SIZE, size - index * PIECE_SIZE))


def _fetch_pieces(
    conn: Connection,
    file_id: str,
    fd: int,
    size: int,
    count: int,
    pieces: _Pieces,
    advance: Callable[[int], None],
    options: TransferOptions,
) -> None:
    def fetch(index: int) -> None:
        start = index * PIECE_SIZE
        length = _piece_length(index, size)
        if length:
            headers = {"Range": f"bytes={start}-{start + length - 1}"}
            with conn.stream("GET", f"/v1/files/{quote(file_id)}", headers=headers) as response:
                whole = response.status_code == 200 and length == size
                if response.status_code != 206 and not whole:
                    response.read()
                    raise problem_message(response)
                offset = start
                for block in response.iter_bytes(READ_BLOCK):
                    block = block[: start + length - offset]
                    os.pwrite(fd, block, offset)
                    offset += len(block)
                    advance(len(block))
                if offset != start + length:
                    raise ClientError(f"file {file_id}: the answer to a range ended early")
        pieces.mark(index)

    todo = [i for i in range(count) if i not in pieces.done]
    with ThreadPoolExecutor(max(1, options.parallel)) as pool:
        for future in [pool.submit(fetch, i) for i in todo]:
            future.result()


def _verify(partial: Path, size: int, sha256: str | None, file_id: str, record: Path) -> None:
    """Check the finished partial file; remove it (and its record) when it is wrong."""
    digest = hashlib.sha256()
    with partial.open("rb") as source:
        while block := source.read(READ_BLOCK):
            digest.update(block)
    actual = partial.stat().st_size
    if actual != size or (sha256 and digest.hexdigest() != sha256.lower()):
        partial.unlink(missing_ok=True)
        record.unlink(missing_ok=True)
        raise ClientError(
            f"file {file_id}: the download does not match its size or sha256; nothing written"
        )
