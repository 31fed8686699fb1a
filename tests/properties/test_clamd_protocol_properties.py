"""clamd's INSTREAM framing and replies: any split of an object frames to the same bytes,
whatever the socket's short writes, and no reply but ``stream: OK`` is ever clean."""

from __future__ import annotations

import random
import socket
import struct
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.scan.clamd import (
    INSTREAM,
    LIMIT_SIGNATURE_PREFIX,
    TERMINATOR,
    frames,
    parse_reply,
    read_reply,
    send_frame,
)
from gateway.ports import Bytes
from gateway.records import Verdict, VerdictKind

pieces_strategy = st.lists(st.binary(max_size=300), max_size=12)


def unframe(stream: bytes) -> list[bytes]:
    """The payloads of a framed stream up to its terminator, which must end it."""
    payloads: list[bytes] = []
    position = 0
    while True:
        (length,) = struct.unpack_from(">I", stream, position)
        position += 4
        if length == 0:
            assert position == len(stream), "bytes after the terminator"
            return payloads
        payloads.append(stream[position : position + length])
        assert len(payloads[-1]) == length, "frame shorter than its length"
        position += length


@settings(max_examples=300, deadline=None)
@given(pieces=pieces_strategy, max_frame=st.integers(1, 64))
def test_frames_carry_the_concatenation(pieces: list[bytes], max_frame: int) -> None:
    framed = [(header, bytes(payload)) for header, payload in frames(pieces, max_frame)]
    payloads = unframe(b"".join(header + payload for header, payload in framed) + TERMINATOR)
    assert b"".join(payloads) == b"".join(pieces)
    assert all(0 < len(payload) <= max_frame for payload in payloads)


@settings(max_examples=100, deadline=None)
@given(pieces=pieces_strategy)
def test_any_buffer_type_frames_the_same(pieces: list[bytes]) -> None:
    as_bytes = [bytes(payload) for _, payload in frames(pieces)]
    kinds: tuple[type[Bytes], ...] = (bytearray, memoryview, bytes)
    mixed = [kinds[index % 3](piece) for index, piece in enumerate(pieces)]
    assert [bytes(payload) for _, payload in frames(mixed)] == as_bytes


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 700_000), max_size=5), seed=st.integers(0, 2**32))
def test_short_writes_never_break_the_framing(sizes: list[int], seed: int) -> None:
    """Large frames over a socketpair, whose small buffers make ``sendmsg`` write part."""
    rng = random.Random(seed)
    pieces = [rng.randbytes(size) for size in sizes]
    sender, receiver = socket.socketpair()
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    # With a timeout (as the scanner sets one) each ``sendmsg`` is one system call.
    sender.settimeout(30)
    received = bytearray()

    def drain() -> None:
        while data := receiver.recv(rng.choice((1, 100, 65536))):
            received.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    with sender:
        send_frame(sender, INSTREAM, b"")
        for header, payload in frames(pieces):
            send_frame(sender, header, payload)
        send_frame(sender, TERMINATOR, b"")
    reader.join(timeout=30)
    receiver.close()
    assert bytes(received[: len(INSTREAM)]) == INSTREAM
    assert b"".join(unframe(bytes(received[len(INSTREAM) :]))) == b"".join(pieces)


@settings(max_examples=500, deadline=None)
@given(reply=st.binary(max_size=80))
def test_nothing_but_stream_ok_is_clean(reply: bytes) -> None:
    verdict = parse_reply(reply)
    if verdict.is_clean:
        assert reply.removesuffix(b"\0").strip() == b"stream: OK"


signatures = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=60
)


@settings(max_examples=300, deadline=None)
@given(signature=signatures)
def test_found_names_the_signature(signature: str) -> None:
    verdict = parse_reply(f"stream: {signature} FOUND\0".encode())
    if signature.startswith(LIMIT_SIGNATURE_PREFIX):
        assert verdict.kind is VerdictKind.UNSCANNABLE
    else:
        assert verdict == Verdict.infected(signature)


@settings(max_examples=100, deadline=None)
@given(reply=st.binary(max_size=200).filter(lambda data: b"\0" not in data), split=st.data())
def test_a_reply_is_read_whole_however_it_arrives(reply: bytes, split: st.DataObject) -> None:
    cut = split.draw(st.integers(0, len(reply)))
    sender, receiver = socket.socketpair()
    with sender, receiver:
        sender.sendall(reply[:cut])
        sender.sendall(reply[cut:] + b"\0")
        assert read_reply(receiver) == reply + b"\0"
