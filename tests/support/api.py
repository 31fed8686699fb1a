"""Clients of the native API (``/v1``) of a test gateway: tokens, users, httpx clients."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tests.integration.test_s3_helpers import parse_fields, unique
from tests.support.gateway_server import GatewayProcess


@dataclass(frozen=True)
class ApiUser:
    """A user of a test gateway with the credentials to sign in."""

    name: str
    password: str
    access_key: str
    secret_key: str


def add_api_user(gateway: GatewayProcess, prefix: str = "user") -> ApiUser:
    """A new user (with a generated password and S3 key pair) on ``gateway``."""
    name = unique(prefix)
    fields = parse_fields(gateway.cli("user", "add", name).stdout)
    return ApiUser(name, fields["password"], fields["access key"], fields["secret key"])


def sign_in(gateway: GatewayProcess, access_key: str, secret_key: str) -> dict[str, object]:
    """The token response for an S3 key pair."""
    response = httpx.post(
        f"{gateway.http_url}/v1/auth/token",
        json={"access_key_id": access_key, "secret_access_key": secret_key},
        verify=gateway.ssl_context,
    )
    response.raise_for_status()
    return dict(response.json())


def api_client(
    gateway: GatewayProcess, access_key: str | None = None, secret_key: str | None = None
) -> httpx.Client:
    """An httpx client of ``gateway``'s ``/v1`` signed in with the key pair (the admin's
    by default)."""
    tokens = sign_in(gateway, access_key or gateway.access_key, secret_key or gateway.secret_key)
    return httpx.Client(
        base_url=gateway.http_url,
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        verify=gateway.ssl_context,
        timeout=60,
    )
