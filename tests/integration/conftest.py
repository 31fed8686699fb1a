"""Fixtures shared by the S3 behaviour tests: a client of the default gateway and a bucket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_s3_helpers import unique
from tests.support.gateway_server import GatewayProcess, empty_bucket


@pytest.fixture
def s3(gateway_sqlite_local: GatewayProcess) -> Any:
    """A boto3 client of the admin on the default (SQLite, local) gateway."""
    return gateway_sqlite_local.client()


@pytest.fixture
def bkt(s3: Any) -> Iterator[str]:
    """A fresh empty bucket on that gateway, emptied and deleted afterwards."""
    name = unique("bkt")
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)
