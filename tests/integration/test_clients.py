"""Real S3 clients round-trip objects through the gateway on every database/backend combination.

boto3, the Debian aws CLI v2, s3cmd and rclone each upload a small file, a 100 MiB
random file (multipart with the client's default part size, except rclone, whose
default cutoff is 200 MiB: it sends one 100 MiB PutObject) and a small file under a
key with spaces, unicode and URL-special characters; then list, download and compare
SHA-256, read ranges, delete and check the key is gone. Plus: ``rclone check``
between a local tree and the bucket, and the aws CLI with wrong credentials refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import (
    AWS,
    LARGE_TIMEOUT,
    MIB,
    RCLONE,
    S3CMD,
    SMALL_TIMEOUT,
    TOOLS,
    ByteRange,
    RcloneTool,
    Result,
    S3cmdTool,
    S3Tool,
    aws_env,
    file_digest,
    object_exists,
    ranges_for,
    read_slice,
    require_binary,
    run,
    write_random_file,
)
from tests.support.gateway_server import GatewayProcess

pytestmark = pytest.mark.clients

SIZES = {"small": 300_007, "large": 100 * MIB}
# Spaces, unicode and characters that need (or must not get) URL encoding.
UNICODE_KEY = "dir one/näïve file+%&=;@?# 日本 (1)~'!$,.bin"

# case -> (sample size, key)
CASES = {
    "small": ("small", "small.bin"),
    "large": ("large", "big/large 100MiB.bin"),
    "unicode-key": ("small", UNICODE_KEY),
}

# Parts each client's default settings make of the 100 MiB file (None: one PutObject).
LARGE_PARTS = {"boto3": 13, "awscli": 13, "s3cmd": 7, "rclone": None}

BINARIES = {"awscli": AWS, "s3cmd": S3CMD, "rclone": RCLONE}


@dataclass(frozen=True)
class Sample:
    """A random file generated once per session."""

    path: Path
    size: int
    sha256: str
    md5: str


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Sample]:
    """``samples("small")`` / ``samples("large")``: made on first use, shared by the session."""
    directory = tmp_path_factory.mktemp("client-samples")
    made: dict[str, Sample] = {}

    def get(kind: str) -> Sample:
        if kind not in made:
            path = directory / f"{kind}.bin"
            write_random_file(path, SIZES[kind])
            made[kind] = Sample(path, SIZES[kind], file_digest(path), file_digest(path, "md5"))
        return made[kind]

    return get


def require(tool_name: str) -> None:
    binary = BINARIES.get(tool_name)
    if binary is not None:
        require_binary(binary)


def ranges_to_read(tool: S3Tool, size: int, case: str) -> list[ByteRange]:
    """Every range for boto3. The command-line clients pay a start-up per range (a second
    for the aws CLI): three ranges of the large file, one of each small one."""
    if tool.name == "boto3":
        return ranges_for(size)
    span = min(size // 4, 3 * MIB + 13)
    picks = {
        "closed": ByteRange(size // 3 + 7, size // 3 + 6 + span),  # across many chunks
        "open": ByteRange(size - span - 1),
        "suffix": ByteRange(None, suffix=777),
    }
    supported = [kind for kind in picks if kind in tool.range_kinds]
    if case != "large":
        preferred = "suffix" if case == "small" else "closed"
        supported = [preferred if preferred in supported else supported[0]]
    return [picks[kind] for kind in supported]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("tool_name", list(TOOLS))
def test_round_trip(
    tool_name: str,
    case: str,
    gateway: GatewayProcess,
    s3_client: Any,
    bucket: str,
    samples: Callable[[str], Sample],
    tmp_path: Path,
) -> None:
    require(tool_name)
    kind, key = CASES[case]
    sample = samples(kind)
    timeout = LARGE_TIMEOUT if kind == "large" else SMALL_TIMEOUT
    tool = TOOLS[tool_name](gateway, tmp_path / tool_name)

    tool.upload(sample.path, bucket, key, timeout)
    assert tool.listing(bucket) == {key: sample.size}
    head = s3_client.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == sample.size
    if kind == "large":
        parts = LARGE_PARTS[tool_name]
        etag = head["ETag"].strip('"')
        assert etag.endswith(f"-{parts}") if parts else "-" not in etag, etag
    if isinstance(tool, S3cmdTool):  # s3cmd keeps the MD5 of multipart uploads as metadata
        assert tool.listing_md5(bucket) == {key: (sample.size, sample.md5)}

    downloaded = tmp_path / "downloaded.bin"
    tool.download(bucket, key, downloaded, timeout)
    assert downloaded.stat().st_size == sample.size
    assert file_digest(downloaded) == sample.sha256, f"{tool_name} downloaded other bytes"
    downloaded.unlink()

    for wanted in ranges_to_read(tool, sample.size, case):
        start, end = wanted.bounds(sample.size)
        got = tool.read_range(bucket, key, wanted, sample.path)
        expected = read_slice(sample.path, start, end)
        assert len(got) == len(expected), f"{wanted.header}: {len(got)} bytes, not {end - start}"
        assert got == expected, f"{wanted.header}: wrong bytes"

    tool.delete(bucket, key)
    assert tool.listing(bucket) == {}
    assert not object_exists(s3_client, bucket, key)


def test_rclone_check(gateway: GatewayProcess, s3_client: Any, bucket: str, tmp_path: Path) -> None:
    """``rclone check`` agrees with a copied tree, then sees a changed and a missing object."""
    require("rclone")
    tree = tmp_path / "tree"
    files = {
        "a.bin": 70_001,
        UNICODE_KEY: 4096,
        "nested/deeper/c.txt": 12,
        "empty.txt": 0,
    }
    for name, size in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        write_random_file(tree / name, size)
    tool = RcloneTool(gateway, tmp_path / "rclone")
    remote = tool.remote(bucket, "tree")

    tool.rclone("copy", tree, remote)
    assert tool.listing(bucket) == {f"tree/{name}": size for name, size in files.items()}
    agreed = tool.rclone("check", tree, remote)
    assert "0 differences found" in agreed.stderr, agreed.stderr
    assert f"{len(files)} matching files" in agreed.stderr, agreed.stderr

    # Same size, other bytes: only the MD5 (the ETag of a single-part upload) tells.
    s3_client.put_object(Bucket=bucket, Key="tree/a.bin", Body=os.urandom(files["a.bin"]))
    s3_client.delete_object(Bucket=bucket, Key="tree/nested/deeper/c.txt")
    differs = tool.rclone("check", tree, remote, check=False)
    assert differs.returncode != 0, differs.stderr
    assert "2 differences found" in differs.stderr, differs.stderr
    assert "a.bin: md5 differ" in differs.stderr, differs.stderr
    assert "nested/deeper/c.txt: file not in" in differs.stderr, differs.stderr


@pytest.mark.parametrize(
    ("wrong", "error_code"),
    [("secret", "SignatureDoesNotMatch"), ("access-key", "InvalidAccessKeyId")],
)
def test_aws_cli_wrong_credentials_refused(
    wrong: str,
    error_code: str,
    gateway: GatewayProcess,
    s3_client: Any,
    bucket: str,
    samples: Callable[[str], Sample],
    tmp_path: Path,
) -> None:
    require("awscli")
    s3_client.put_object(Bucket=bucket, Key="existing.txt", Body=b"secret data")
    if wrong == "secret":
        env = aws_env(gateway, tmp_path, secret_key=gateway.secret_key[::-1] + "x")
    else:
        env = aws_env(gateway, tmp_path, access_key="GT" + "Z" * 18)
    sample = samples("small")
    commands = {
        "ListObjectsV2": ["s3", "ls", f"s3://{bucket}"],
        "GetObject": [
            *("s3api", "get-object", "--bucket", bucket, "--key", "existing.txt"),
            str(tmp_path / "got.txt"),
        ],
        "PutObject": ["s3", "cp", str(sample.path), f"s3://{bucket}/intruder.bin"],
        "DeleteObject": ["s3", "rm", f"s3://{bucket}/existing.txt"],
    }

    def attempt(args: list[str]) -> Result:
        command = [AWS, "--endpoint-url", gateway.s3_url, *args]
        return run(command, env=env, timeout=SMALL_TIMEOUT, gateway=gateway, check=False)

    # Concurrently: the aws CLI takes a second or more to start.
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        results = dict(zip(commands, pool.map(attempt, commands.values()), strict=True))
    for operation, result in results.items():
        assert result.returncode != 0, f"{operation} with a wrong {wrong} succeeded: {result.text}"
        assert error_code in result.stderr, f"{operation}: {result.stderr}"
    assert not (tmp_path / "got.txt").exists()
    assert [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket)["Contents"]] == [
        "existing.txt"
    ]
    assert s3_client.get_object(Bucket=bucket, Key="existing.txt")["Body"].read() == b"secret data"
