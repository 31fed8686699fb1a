"""Fixtures shared by the S3 behaviour tests: the default gateway, a client of it and a bucket.

A test marked ``schemes("http", "https")`` (a whole module, with ``pytestmark``) runs once
per scheme when it reaches the gateway through ``s3_gateway`` (as ``s3`` and ``bkt`` do):
``[http]`` against the default gateway, ``[https]`` against the session's one TLS gateway,
which the HTTPS variants of every module share. A closer ``schemes("http")`` narrows a
single test of such a module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_s3_helpers import unique
from tests.support.gateway_server import GatewayProcess, empty_bucket


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "schemes(*names): run over each of http, https (through s3_gateway)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("schemes")
    if marker is not None and "s3_gateway" in metafunc.fixturenames:
        metafunc.parametrize("s3_gateway", marker.args, indirect=True)


# The session gateway (SQLite, local) serving each scheme.
GATEWAY_BY_SCHEME = {"http": "gateway_sqlite_local", "https": "gateway_tls"}


@pytest.fixture
def s3_gateway(request: pytest.FixtureRequest) -> GatewayProcess:
    """The default gateway over HTTP, or its HTTPS twin in ``[https]`` variants."""
    gateway: GatewayProcess = request.getfixturevalue(
        GATEWAY_BY_SCHEME[getattr(request, "param", "http")]
    )
    return gateway


@pytest.fixture
def s3(s3_gateway: GatewayProcess) -> Any:
    """A boto3 client of the admin on that gateway."""
    return s3_gateway.client()


@pytest.fixture
def bkt(s3: Any) -> Iterator[str]:
    """A fresh empty bucket on that gateway, emptied and deleted afterwards."""
    name = unique("bkt")
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)
