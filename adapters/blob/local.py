"""A blob store on a local filesystem, one file per key.

Layout: the key's directories are kept as directories and its last segment is
fanned out over two directory levels made from the segment's first four
characters, so millions of chunk keys never land in one directory::

    chunks/abcdef0123  ->  <root>/chunks/ab/cd/abcdef0123
    a/xyz              ->  <root>/a/xy/z~/xyz
    a/..x.y            ->  <root>/a/~~/x~/..x.y

A last segment shorter than four characters is padded with ``~``, and dots in
the fan-out part become ``~`` too. ``~`` is a character no key may contain, so
a fan-out directory is never ``.`` or ``..``, and one holding ``~`` never
coincides with a directory of some other key.

Writes go to a temporary file in the target directory (named with
``TEMP_PREFIX``, which contains ``~`` and therefore cannot be a key segment)
and are then renamed over the target, so readers and listings never observe a
partial object.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from gateway.ports import Allocate, BlobNotFound, BlobStoreUnavailable, Bytes

TEMP_PREFIX = ".tmp~"
"""Name prefix of in-flight writes; files with this prefix are never listed."""

_PAD = "~"
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
# Linux NAME_MAX; a longer segment would fail with an OSError that would
# otherwise be mistaken for an unavailable disk.
_MAX_SEGMENT = 255
# ``read_stream`` yields pieces of at most this many bytes.
READ_PIECE = 1024 * 1024


def _segments(key: str) -> list[str]:
    """Split ``key`` into path segments, or raise ``ValueError`` if it is not a safe key."""
    segments = key.split("/")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment) or segment in {".", ".."}:
            raise ValueError(f"invalid blob key {key!r}: bad segment {segment!r}")
        if len(segment) > _MAX_SEGMENT:
            raise ValueError(f"invalid blob key {key!r}: segment longer than {_MAX_SEGMENT}")
    return segments


def _fan_out(name: str) -> tuple[str, str]:
    """Return the two fan-out directory names for a key's last segment."""
    # Dots become the pad character so a fan-out directory is never "." or "..",
    # which would let "x/..." address a path outside its directory.
    head = name[:4].ljust(4, _PAD).replace(".", _PAD)
    return head[:2], head[2:]


def _load_syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs(2)``: flush one file system, not every mounted one."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        syncfs: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return syncfs


_SYNCFS = _load_syncfs()


def _write_all(fd: int, parts: Sequence[Bytes]) -> None:
    """Write ``parts`` to ``fd`` in order, gathered into as few system calls as possible."""
    views = [memoryview(part).cast("B") for part in parts if len(part)]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if views:
            views[0] = views[0][written:]


def _raise_unless_absent(error: OSError) -> None:
    # A directory that does not exist (or is a key's file) holds no keys; any
    # other walk error would silently drop keys from a listing, which garbage
    # collection must never see.
    if error.errno not in {errno.ENOENT, errno.ENOTDIR}:
        raise error


class _StreamFailed(Exception):
    """The stream given to ``put_stream`` raised (its exception is the cause)."""


class LocalBlobStore:
    """``BlobStore`` over a directory tree. Thread-safe; safe across processes.

    Keys must match the port's alphabet ``[A-Za-z0-9/._-]`` with no empty,
    ``.`` or ``..`` segment and no segment over 255 characters; any other key
    raises ``ValueError`` so it can never address a path outside ``root``.

    A key whose file would sit where another key needs a directory (for
    example ``x/abcd``, stored at ``x/ab/cd/abcd``, and ``x/ab/cd/abcd/y``)
    cannot be stored next to it: ``put`` raises ``ValueError``.

    ``put`` is atomic (temp file, then rename) but returns before the bytes are
    on disk; ``flush`` makes every earlier ``put`` durable with one ``syncfs``
    of the store's file system, which costs far less than an fsync of every
    file and directory. Concurrent ``flush`` calls share their ``syncfs``: a call
    returns as soon as one that started after it was made has finished. ``delete``
    is not made durable: after a crash a deleted object may reappear, which a
    content-addressed store tolerates as garbage. Empty
    directories are left in place so a concurrent ``put`` never loses the
    directory it is writing into. Any ``OSError`` becomes
    ``BlobStoreUnavailable``.
    """

    def __init__(self, root: Path) -> None:
        """Use ``root`` as the store's directory, creating it if missing."""
        self._root = root.absolute()
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BlobStoreUnavailable(
                f"cannot create blob store root {self._root}: {exc}"
            ) from exc
        # Flush requests are numbered; ``_flushed`` is the highest number a finished
        # syncfs covers (it started after that request was made).
        self._requests = 0
        self._flushed = 0
        self._request_lock = threading.Lock()
        self._sync_lock = threading.Lock()

    @property
    def root(self) -> Path:
        """The directory holding the store's files."""
        return self._root

    def path_of(self, key: str) -> Path:
        """Return the file that holds ``key``; raise ``ValueError`` for an invalid key."""
        *dirs, name = _segments(key)
        return self._root.joinpath(*dirs, *_fan_out(name), name)

    def put(self, key: str, *parts: Bytes) -> None:
        """Store ``parts`` one after the other under ``key`` atomically; durable after the
        next ``flush``."""
        self._store(key, lambda fd: _write_all(fd, parts))

    def put_stream(self, key: str, stream: Iterable[Bytes]) -> None:
        """Store the pieces of ``stream`` under ``key`` atomically, one write per piece."""

        pieces = iter(stream)

        def write(fd: int) -> None:
            while True:
                try:
                    piece = next(pieces)
                except StopIteration:
                    return
                except BaseException as exc:
                    # Kept apart from the store's own OSErrors, which become unavailability.
                    raise _StreamFailed from exc
                _write_all(fd, (piece,))

        try:
            self._store(key, write)
        except _StreamFailed as failed:
            cause = failed.__cause__
            assert cause is not None
            raise cause from None

    def _store(self, key: str, write: Callable[[int], None]) -> None:
        """Run ``write`` on a temporary file beside ``key``'s, then rename it over that."""
        path = self.path_of(key)
        try:
            self._make_dirs(path.parent)
            fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
            try:
                try:
                    write(fd)
                finally:
                    os.close(fd)
                os.replace(tmp_name, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
                raise
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            raise ValueError(f"blob key {key!r} collides with another key's file: {exc}") from exc
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot write blob {key!r}: {exc}") from exc

    def get(self, key: str) -> bytes:
        """Return the bytes under ``key``; ``BlobNotFound`` if it was never completely put."""
        path = self.path_of(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot read blob {key!r}: {exc}") from exc

    def get_into(self, key: str, allocate: Allocate) -> memoryview:
        """Read the file of ``key`` straight into ``allocate(its size)``; errors as ``get``."""
        path = self.path_of(key)
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot read blob {key!r}: {exc}") from exc
        try:
            return self._read_file(key, fd, allocate)
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot read blob {key!r}: {exc}") from exc
        finally:
            os.close(fd)

    @staticmethod
    def _read_file(key: str, fd: int, allocate: Allocate) -> memoryview:
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):
            raise BlobNotFound(key)
        view = allocate(status.st_size)
        filled = 0
        while filled < len(view):
            count = os.readv(fd, [view[filled:]])
            if count == 0:
                # Blobs are replaced by rename, never rewritten in place.
                raise BlobStoreUnavailable(f"blob {key!r} ended after {filled} bytes")
            filled += count
        return view

    def read_stream(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield bytes ``[start, end)`` of ``key``'s file in pieces of ``READ_PIECE``."""
        path = self.path_of(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot read blob {key!r}: {exc}") from exc
        with handle:
            try:
                size = os.fstat(handle.fileno()).st_size
                stop = size if end is None else min(end, size)
                handle.seek(min(start, stop))
                left = stop - min(start, stop)
                while left > 0:
                    piece = handle.read(min(READ_PIECE, left))
                    if not piece:
                        raise BlobStoreUnavailable(f"blob {key!r} ended {left} bytes early")
                    left -= len(piece)
                    yield piece
            except OSError as exc:
                raise BlobStoreUnavailable(f"cannot read blob {key!r}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        path = self.path_of(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot delete blob {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` holds an object."""
        path = self.path_of(key)
        try:
            return path.is_file()
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot stat blob {key!r}: {exc}") from exc

    def ping(self) -> None:
        """Open the root directory and read one entry of it; ``BlobStoreUnavailable`` when
        the root is missing, not a directory, or cannot be read. Writes nothing."""
        try:
            with os.scandir(self._root) as entries:
                next(entries, None)
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot list blob store root {self._root}: {exc}") from exc

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Yield every key starting with ``prefix`` (a plain string prefix).

        Only the subtree of the prefix's directory part is walked. Temporary
        files and files that do not sit at their key's fan-out position are
        skipped, so the listing holds exactly the keys ``put`` completed.
        """
        top = self._root
        directory, _, _ = prefix.rpartition("/")
        if directory:
            try:
                top = self._root.joinpath(*_segments(directory))
            except ValueError:
                return  # No valid key can start with this prefix.
        try:
            for dirpath, _, filenames in os.walk(top, onerror=_raise_unless_absent):
                parts = Path(dirpath).relative_to(self._root).parts
                if len(parts) < 2:
                    continue
                for name in filenames:
                    if not _SEGMENT.fullmatch(name) or parts[-2:] != _fan_out(name):
                        continue
                    key = "/".join((*parts[:-2], name))
                    if key.startswith(prefix):
                        yield key
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot list blobs under {prefix!r}: {exc}") from exc

    def flush(self) -> None:
        """Make every ``put`` that returned before this call durable (file and entry)."""
        with self._request_lock:
            self._requests += 1
            request = self._requests
        with self._sync_lock:
            if self._flushed >= request:
                return
            with self._request_lock:
                covered = self._requests
            self._sync()
            self._flushed = covered

    def _sync(self) -> None:
        """One syncfs of the store's file system (a full sync where syncfs is missing)."""
        try:
            fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if _SYNCFS is None or _SYNCFS(fd) != 0:
                    os.sync()
            finally:
                os.close(fd)
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot flush {self._root}: {exc}") from exc

    def close(self) -> None:
        """Release nothing: the store holds no open handles between calls."""

    def _make_dirs(self, directory: Path) -> None:
        """Create ``directory`` and missing parents (a concurrent put may race us)."""
        if directory.is_dir():
            return
        self._make_dirs(directory.parent)
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise
