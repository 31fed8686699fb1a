"""Native API sign-in and access tokens, against a real gateway over HTTP.

Every refusal is a 401 with a problem-details JSON body; nothing is served to a request
without a valid token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey, RSAKey

from tests.support.api import ApiUser, add_api_user, sign_in
from tests.support.gateway_server import GatewayProcess

PROTECTED = "/v1/me"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    pad = lambda text: text + "=" * (-len(text) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def _get(gateway: GatewayProcess, token: str, path: str = PROTECTED) -> httpx.Response:
    return httpx.get(
        f"{gateway.http_url}{path}",
        headers={"Authorization": f"Bearer {token}"},
        verify=gateway.ssl_context,
    )


def _post(gateway: GatewayProcess, path: str, body: Any) -> httpx.Response:
    return httpx.post(f"{gateway.http_url}{path}", json=body, verify=gateway.ssl_context)


def assert_refused(response: httpx.Response, status: int = 401) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["code"] and problem["detail"]
    return dict(problem)


@pytest.fixture(scope="module")
def user(gateway_sqlite_local: GatewayProcess) -> ApiUser:
    return add_api_user(gateway_sqlite_local, "tok")


def test_sign_in_by_password_and_by_key_pair(
    gateway_sqlite_local: GatewayProcess, user: ApiUser
) -> None:
    for body in (
        {"username": user.name, "password": user.password},
        {"grant_type": "password", "username": user.name, "password": user.password},
        {"access_key_id": user.access_key, "secret_access_key": user.secret_key},
    ):
        response = _post(gateway_sqlite_local, "/v1/auth/token", body)
        assert response.status_code == 200, response.text
        assert response.headers["Cache-Control"] == "no-store"
        tokens = response.json()
        assert tokens["token_type"] == "Bearer"
        assert tokens["expires_in"] == 900
        header, claims = _parts(tokens["access_token"])
        assert header["alg"] == "Ed25519" and header["kid"]
        assert claims["name"] == user.name and claims["exp"] - claims["iat"] == 900
        assert claims["iss"] == "storage-gateway" and claims["aud"] == "storage-gateway-api"
        assert _get(gateway_sqlite_local, tokens["access_token"]).status_code != 401


@pytest.mark.parametrize(
    "body",
    [
        {"username": "nobody-at-all", "password": "x"},
        {"username": "__USER__", "password": "wrong"},
        {"access_key_id": "GWNOSUCHKEY000000000", "secret_access_key": "x"},
        {"access_key_id": "__KEY__", "secret_access_key": "wrong"},
        {"refresh_token": "gwr_not-a-token"},
    ],
)
def test_wrong_credentials_are_refused_alike(
    gateway_sqlite_local: GatewayProcess, user: ApiUser, body: dict[str, str]
) -> None:
    filled = {
        k: v.replace("__USER__", user.name).replace("__KEY__", user.access_key)
        for k, v in body.items()
    }
    problem = assert_refused(_post(gateway_sqlite_local, "/v1/auth/token", filled))
    assert problem["code"] == "invalid_grant"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"grant_type": "client_credentials"}, 400),
        ({"username": 7, "password": "x"}, 400),
        ([1, 2], 400),
    ],
)
def test_malformed_sign_in_is_a_400_problem(
    gateway_sqlite_local: GatewayProcess, body: Any, status: int
) -> None:
    assert_refused(_post(gateway_sqlite_local, "/v1/auth/token", body), status)


def test_non_json_sign_in_is_refused(gateway_sqlite_local: GatewayProcess) -> None:
    response = httpx.post(
        f"{gateway_sqlite_local.http_url}/v1/auth/token",
        content=b"username=a&password=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_refused(response, 415)
    response = httpx.post(
        f"{gateway_sqlite_local.http_url}/v1/auth/token",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_refused(response, 400)


def _forge(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def test_forged_and_broken_tokens_are_refused(
    gateway_sqlite_local: GatewayProcess, user: ApiUser
) -> None:
    gateway = gateway_sqlite_local
    good = str(sign_in(gateway, user.access_key, user.secret_key)["access_token"])
    header, claims = _parts(good)
    foreign = OKPKey.generate_key("Ed25519", parameters={"kid": header["kid"]})
    rsa = RSAKey.generate_key(2048, parameters={"kid": header["kid"]})
    public_pem = rsa.as_pem(private=False)

    def hs256(secret: bytes) -> Callable[[bytes], bytes]:
        return lambda data: hmac.new(secret, data, hashlib.sha256).digest()

    admin_claims = {**claims, "name": "admin", "sub": "1"}
    tampered_payload = good.split(".")
    tampered_payload[1] = _b64(json.dumps(admin_claims).encode())
    forged = {
        "garbage": "not.a.token",
        "alg none": _forge({"alg": "none", "kid": header["kid"]}, claims, lambda _: b""),
        "alg none, no signature": _forge({"alg": "none"}, claims, lambda _: b"")[: -0 or None],
        "HS256 with the server key id": _forge(
            {"alg": "HS256", "kid": header["kid"]}, claims, hs256(b"secret")
        ),
        "HS256 keyed with an RSA public key": _forge(
            {"alg": "HS256", "kid": header["kid"]}, claims, hs256(public_pem)
        ),
        "RS256 by a foreign key with the server kid": jwt.encode(
            {"alg": "RS256", "kid": header["kid"]}, claims, rsa, algorithms=["RS256"]
        ),
        "Ed25519 by a foreign key": jwt.encode(
            {"alg": "Ed25519", "kid": header["kid"]}, claims, foreign, algorithms=["Ed25519"]
        ),
        "unknown kid": jwt.encode(
            {"alg": "Ed25519", "kid": "no-such-kid"}, claims, foreign, algorithms=["Ed25519"]
        ),
        "payload swapped to admin": ".".join(tampered_payload),
        "signature cut": good.rsplit(".", 1)[0] + ".",
    }
    for name, token in forged.items():
        response = _get(gateway, token)
        problem = assert_refused(response)
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), name
        assert "Traceback" not in problem["detail"], name
    assert assert_refused(httpx.get(f"{gateway.http_url}{PROTECTED}"))["code"] == "invalid_request"
    basic = httpx.get(f"{gateway.http_url}{PROTECTED}", auth=(user.name, user.password))
    assert_refused(basic)


def _server_key(gateway: GatewayProcess) -> OKPKey:
    """The gateway's own signing key, read from its SQLite database."""
    with sqlite3.connect(gateway.data_dir / "gateway.db") as connection:
        (jwk,) = connection.execute(
            "SELECT private_jwk FROM signing_keys WHERE retired_at IS NULL "
            "ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    return OKPKey.import_key(json.loads(jwk))


def test_claims_are_checked_on_tokens_signed_by_the_real_key(
    gateway_sqlite_local: GatewayProcess, user: ApiUser
) -> None:
    gateway = gateway_sqlite_local
    good = str(sign_in(gateway, user.access_key, user.secret_key)["access_token"])
    header, claims = _parts(good)
    key = _server_key(gateway)

    def signed(**changes: Any) -> str:
        body = {k: v for k, v in {**claims, **changes}.items() if v is not None}
        return jwt.encode(header, body, key, algorithms=["Ed25519"])

    now = int(time.time())
    assert _get(gateway, signed(jti="control")).status_code != 401
    refused = {
        "expired": signed(iat=now - 3600, nbf=now - 3600, exp=now - 600),
        "not yet valid": signed(nbf=now + 3600),
        "no expiry": signed(exp=None),
        "wrong audience": signed(aud="another-api"),
        "no audience": signed(aud=None),
        "wrong issuer": signed(iss="someone-else"),
        "subject of another user": signed(sub="1"),
        "unknown user": signed(name="nobody-here"),
    }
    for name, token in refused.items():
        problem = assert_refused(_get(gateway, token))
        assert problem["code"] == "invalid_token", name


def test_refresh_rotates_and_a_replay_revokes_the_family(
    gateway_sqlite_local: GatewayProcess, user: ApiUser
) -> None:
    gateway = gateway_sqlite_local
    first = sign_in(gateway, user.access_key, user.secret_key)
    second = _post(gateway, "/v1/auth/token", {"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    renewed = second.json()
    assert renewed["refresh_token"] != first["refresh_token"]
    assert _get(gateway, renewed["access_token"]).status_code != 401
    # Replaying the used token revokes the family: the renewed refresh token dies too.
    replay = _post(gateway, "/v1/auth/token", {"refresh_token": first["refresh_token"]})
    assert assert_refused(replay)["code"] == "invalid_grant"
    again = _post(gateway, "/v1/auth/token", {"refresh_token": renewed["refresh_token"]})
    assert_refused(again)


def test_revoked_refresh_token_is_refused(
    gateway_sqlite_local: GatewayProcess, user: ApiUser
) -> None:
    gateway = gateway_sqlite_local
    tokens = sign_in(gateway, user.access_key, user.secret_key)
    revoked = _post(gateway, "/v1/auth/revoke", {"token": tokens["refresh_token"]})
    assert revoked.status_code == 200
    assert _post(gateway, "/v1/auth/revoke", {"token": "gwr_unknown"}).status_code == 200
    refused = _post(gateway, "/v1/auth/token", {"refresh_token": tokens["refresh_token"]})
    assert assert_refused(refused)["code"] == "invalid_grant"


def test_removed_user_token_is_refused(gateway_sqlite_local: GatewayProcess) -> None:
    gone = add_api_user(gateway_sqlite_local, "gone")
    token = str(sign_in(gateway_sqlite_local, gone.access_key, gone.secret_key)["access_token"])
    assert _get(gateway_sqlite_local, token).status_code != 401
    gateway_sqlite_local.cli("user", "remove", gone.name)
    assert_refused(_get(gateway_sqlite_local, token))


def test_unknown_route_and_method_are_problems(gateway_sqlite_local: GatewayProcess) -> None:
    response = httpx.get(f"{gateway_sqlite_local.http_url}/v1/no-such-thing")
    assert_refused(response, 404)
    response = httpx.get(f"{gateway_sqlite_local.http_url}/v1/auth/token")
    assert_refused(response, 405)
    assert response.headers["Allow"] == "POST"


def test_rotation_keeps_old_tokens_until_their_key_is_removed(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    first = start_gateway()
    shared = {"GATEWAY_DATA_DIR": str(first.data_dir)}
    old = str(sign_in(first, first.access_key, first.secret_key)["access_token"])
    old_kid = _parts(old)[0]["kid"]
    rotated = first.cli("signing-key", "rotate")
    assert "signing with" in rotated.stdout
    second = start_gateway(shared)
    new = str(sign_in(second, second.access_key, second.secret_key)["access_token"])
    new_kid = _parts(new)[0]["kid"]
    assert new_kid != old_kid
    listed = second.cli("signing-key", "list").stdout
    assert f"{old_kid}\tEd25519" in listed and "verifies only" in listed
    assert "private" not in listed and '"d"' not in listed
    # Each process verifies what the other signed: the key ring is shared.
    assert _get(second, old).status_code == 200
    assert _get(first, new).status_code == 200
    second.cli("signing-key", "remove", old_kid)
    third = start_gateway(shared)
    assert_refused(_get(third, old))
    assert _get(third, new).status_code == 200
    missing = third.cli("signing-key", "remove", old_kid, check=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
