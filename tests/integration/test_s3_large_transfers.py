"""Big transfers as real tools make them: a 5 GiB multipart upload with 8 parts in flight,
and rclone syncing a 300-file tree whose largest file goes up in multipart."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import blake3
import pytest

from tests.support.clients import MIB, RCLONE, RcloneTool, require_binary, write_random_file
from tests.support.gateway_server import GatewayProcess
from tests.support.memory import peak_rss

GIB = 1024 * MIB
LARGE_OBJECT = 5 * GIB
PART_SIZE = 32 * MIB
PARALLEL_PARTS = 8
# The gateway keeps a bounded number of chunks in flight per upload; eight concurrent
# parts must not make it hold anything close to a part's size each.
RSS_GROWTH_LIMIT = 200 * MIB
TREE_FILES = 300
TREE_LARGE_FILE = 200 * MIB
RCLONE_PART = 16 * MIB
RCLONE_MULTIPART = ["--s3-upload-cutoff", "16M", "--s3-chunk-size", "16M"]


def part_bytes(number: int, size: int = PART_SIZE) -> bytes:
    """The deterministic, incompressible content of part ``number`` (BLAKE3 output)."""
    return blake3.blake3(f"part-{number}".encode()).digest(length=size)


def part_sizes(total: int, part: int) -> list[int]:
    """Sizes of the parts of a ``total``-byte object cut every ``part`` bytes."""
    return [min(part, total - offset) for offset in range(0, total, part)]


@pytest.fixture
def big_gateway(start_gateway: Callable[..., GatewayProcess]) -> Iterator[GatewayProcess]:
    """A gateway of its own whose data directory is removed afterwards (gigabytes)."""
    gateway = start_gateway(name="large")
    try:
        yield gateway
    finally:
        gateway.stop()
        shutil.rmtree(gateway.data_dir, ignore_errors=True)


def upload_in_parallel(client: Any, bucket: str, key: str, sizes: list[int]) -> dict[str, Any]:
    """Multipart upload of ``part_bytes(n)`` for each size, ``PARALLEL_PARTS`` at a time,
    with CRC32 part checksums as the AWS SDKs' transfer managers send them."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32")[
        "UploadId"
    ]

    def send(number: int) -> dict[str, Any]:
        answer = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=part_bytes(number, sizes[number - 1]),
            ChecksumAlgorithm="CRC32",
        )
        return {
            "PartNumber": number,
            "ETag": answer["ETag"],
            "ChecksumCRC32": answer["ChecksumCRC32"],
        }

    with ThreadPoolExecutor(PARALLEL_PARTS) as pool:
        parts = list(pool.map(send, range(1, len(sizes) + 1)))
    completed: dict[str, Any] = client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return completed


def test_5_gib_upload_with_parallel_parts_keeps_memory_bounded(big_gateway: GatewayProcess) -> None:
    client = big_gateway.client(max_pool_connections=PARALLEL_PARTS)
    client.create_bucket(Bucket="large")
    sizes = part_sizes(LARGE_OBJECT, PART_SIZE)
    # A first, small upload warms the pools, so the figure below is what size adds.
    upload_in_parallel(client, "large", "warm-up", part_sizes(2 * PART_SIZE, PART_SIZE))

    with peak_rss(big_gateway.process.pid) as memory:
        completed = upload_in_parallel(client, "large", "big.bin", sizes)

    assert completed["ETag"].strip('"').endswith(f"-{len(sizes)}")
    assert memory.growth < RSS_GROWTH_LIMIT, f"RSS grew by {memory.growth / MIB:.1f} MiB"
    download = client.get_object(Bucket="large", Key="big.bin")
    assert download["ContentLength"] == LARGE_OBJECT
    body = download["Body"]
    for number, size in enumerate(sizes, start=1):
        assert body.read(size) == part_bytes(number, size), f"part {number} differs"
    assert body.read(1) == b""


def test_rclone_sync_and_check_of_a_tree_with_a_multipart_file(
    gateway_sqlite_local: GatewayProcess, tmp_path: Path
) -> None:
    require_binary(RCLONE)
    bucket = "rclone-tree"
    client = gateway_sqlite_local.client()
    client.create_bucket(Bucket=bucket)
    tree = tmp_path / "tree"
    for folder in range(7):
        (tree / f"dir{folder}").mkdir(parents=True)
    for index in range(TREE_FILES - 1):
        write_random_file(tree / f"dir{index % 7}" / f"file-{index:03d}.bin", 1000 + index * 37)
    write_random_file(tree / "large.bin", TREE_LARGE_FILE)
    tool = RcloneTool(gateway_sqlite_local, tmp_path / "rclone")
    remote = tool.remote(bucket, "tree")

    tool.rclone("sync", *RCLONE_MULTIPART, tree, remote, timeout=600)
    listing = tool.listing(bucket)
    assert len(listing) == TREE_FILES
    assert listing["tree/large.bin"] == TREE_LARGE_FILE
    large_etag = client.head_object(Bucket=bucket, Key="tree/large.bin")["ETag"]
    rclone_parts = len(part_sizes(TREE_LARGE_FILE, RCLONE_PART))
    assert large_etag.strip('"').endswith(f"-{rclone_parts}"), large_etag
    agreed = tool.rclone("check", tree, remote, timeout=600)
    assert "0 differences found" in agreed.stderr, agreed.stderr
    assert f"{TREE_FILES} matching files" in agreed.stderr, agreed.stderr

    # A changed, a removed and a new file: the next sync makes the bucket match again.
    write_random_file(tree / "dir0" / "file-000.bin", 5000)
    (tree / "dir1" / "file-001.bin").unlink()
    write_random_file(tree / "new.bin", 123)
    tool.rclone("sync", *RCLONE_MULTIPART, tree, remote, timeout=600)
    again = tool.rclone("check", tree, remote, timeout=600)
    assert "0 differences found" in again.stderr, again.stderr
    listing = tool.listing(bucket)
    assert "tree/dir1/file-001.bin" not in listing
    assert listing["tree/new.bin"] == 123
    assert listing["tree/dir0/file-000.bin"] == 5000
    tool.rclone("purge", tool.remote(bucket), timeout=600)
