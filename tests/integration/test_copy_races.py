"""CopyObject racing overwrites and deletes of its source, on PostgreSQL.

Under READ COMMITTED a copy that read the source's version just before a concurrent
writer dropped that version's manifest could copy no entries at all and commit an empty
object. Every copy must instead be a whole copy of some version the source had, or be
refused as a missing source; nothing else, and fsck stays clean.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from tests.integration.test_s3_helpers import unique
from tests.support.gateway_server import GatewayProcess

BODY_SIZE = 1536 * 1024
ROUNDS = 60
COPIERS = 4


def test_copies_racing_overwrites_and_deletes_are_whole_or_refused(
    start_gateway: Callable[..., GatewayProcess],
    postgres_database_factory: Callable[[], str],
) -> None:
    gateway = start_gateway({"GATEWAY_DATABASE_URL": postgres_database_factory()})
    s3 = gateway.client()
    bucket = unique("copyrace")
    s3.create_bucket(Bucket=bucket)
    rng = random.Random(7)
    bodies = [rng.randbytes(BODY_SIZE) for _ in range(4)]
    digests = {hashlib.sha256(body).hexdigest() for body in bodies}
    stop = threading.Event()
    failures: list[str] = []
    copied: list[str] = []

    def writer() -> None:
        for n in range(ROUNDS):
            if n % 3 == 2:
                s3.delete_object(Bucket=bucket, Key="src")
            else:
                s3.put_object(Bucket=bucket, Key="src", Body=bodies[n % len(bodies)])
        stop.set()

    def copier(index: int) -> None:
        target = f"dst-{index}"
        while not stop.is_set():
            try:
                s3.copy_object(
                    Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": "src"}
                )
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code not in ("NoSuchKey", "SlowDown"):
                    failures.append(f"copy refused with {code}")
                continue
            body: Any = s3.get_object(Bucket=bucket, Key=target)["Body"].read()
            digest = hashlib.sha256(body).hexdigest()
            if digest not in digests:
                failures.append(f"copy of {len(body)} bytes matches no source version")
            copied.append(digest)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=copier, args=(i,)) for i in range(COPIERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures[:5]
    assert copied, "no copy succeeded: the race was not exercised"
    checked = gateway.cli("fsck", "--quiet", check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
