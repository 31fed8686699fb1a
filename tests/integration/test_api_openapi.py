"""The served OpenAPI document against the real gateway: schemathesis generates requests
from it (valid and invalid ones) for every operation, with a valid bearer token, and
checks that no answer is a server error and every answer conforms to the document:
a documented status code, the documented content type, a body matching the schema.

schemathesis leaves out the operation that serves the document it was loaded from
(``GET /v1/openapi.json``); the first test covers that route.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.integration.test_api_files import upload
from tests.integration.test_s3_helpers import unique
from tests.support.api import api_client, sign_in
from tests.support.gateway_server import GatewayProcess

# Every check schemathesis has: besides the server-error and conformance checks, that
# schema-valid requests are not refused with 400/422, schema-invalid ones are refused,
# protected routes refuse requests without a valid token, and the Allow header is right.
CHECKS = "all"
# positive_data_acceptance is left out: JSON Schema counts 2.0 as an integer, the
# handlers take only JSON integers for sizes, and schemathesis sends such numbers as
# "schema-valid" requests; their 400 is intended.
EXCLUDED_CHECKS = "positive_data_acceptance"
# Examples generated per operation and phase; enough to reach every branch of the
# handlers' validation while keeping the run near a minute.
MAX_EXAMPLES = 40


def _document(gateway: GatewayProcess) -> dict[str, Any]:
    response = httpx.get(f"{gateway.http_url}/v1/openapi.json", verify=gateway.ssl_context)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    return dict(response.json())


def test_document_is_public_and_names_the_listen_address(
    gateway_sqlite_local: GatewayProcess,
) -> None:
    described = _document(gateway_sqlite_local)
    assert described["openapi"] == "3.1.0"
    assert described["servers"] == [{"url": gateway_sqlite_local.http_url}]


def _config(gateway: GatewayProcess, api: httpx.Client) -> str:
    """A schemathesis configuration that points the generated requests at real things:
    a bucket with a ready file (read, finalized again), another ready file (deleted),
    a file still uploading (its first part's signed URL) and the signed download URL of
    the first, so the runs reach the handlers' success paths, not only 404 and 403."""
    s3 = gateway.client()
    bucket = unique("openapi")
    s3.create_bucket(Bucket=bucket)
    ready = upload(api, bucket, "ready.txt", b"ready file " * 1000)
    doomed = upload(api, bucket, "doomed.txt", b"deleted by the run")
    announced = api.post("/v1/files", json={"bucket": bucket, "name": "open.bin", "size": 10})
    assert announced.status_code == 201, announced.text
    part = announced.json()["parts"][0]
    download = api.get(f"/v1/files/{ready}", params={"redirect": "1"})
    assert download.status_code == 302, download.text

    def signed(url: str) -> dict[str, str]:
        query = parse_qs(urlsplit(url).query)
        return {f"query.{name}": query[name][0] for name in ("expires", "kid", "signature")}

    def table(values: dict[str, str]) -> str:
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in values.items()) + " }"
        )

    return "\n".join(
        (
            "[parameters]",
            f'"path.bucket" = {json.dumps(bucket)}',
            f'"path.file_id" = {json.dumps(ready)}',
            "[[operations]]",
            'include-name = "DELETE /v1/files/{file_id}"',
            f"parameters = {table({'path.file_id': doomed})}",
            "[[operations]]",
            'include-name = "PUT /v1/uploads/{file_id}/parts/{number}"',
            "parameters = "
            + table(
                {"path.file_id": announced.json()["id"], "path.number": "1", **signed(part["url"])}
            ),
            "[[operations]]",
            'include-name = "GET /v1/downloads/{file_id}"',
            f"parameters = {table(signed(download.headers['Location']))}",
        )
    )


def test_schemathesis_finds_no_server_error_and_no_nonconforming_response(
    gateway_sqlite_local: GatewayProcess, tmp_path: Path
) -> None:
    gateway = gateway_sqlite_local
    token = sign_in(gateway, gateway.access_key, gateway.secret_key)["access_token"]
    with api_client(gateway) as api:
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(gateway, api))
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from schemathesis.cli import schemathesis; schemathesis()",
            "--config-file",
            str(config),
            "run",
            f"{gateway.http_url}/v1/openapi.json",
            "--checks",
            CHECKS,
            "--exclude-checks",
            EXCLUDED_CHECKS,
            "--header",
            f"Authorization: Bearer {token}",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(MAX_EXAMPLES),
            # One worker: hypothesis describing strategies from two threads at once trips
            # a CPython 3.11 AST recursion-depth check (SystemError) in the coverage phase.
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
            "--output-sanitize",
            "true",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    served = _document(gateway)["paths"]
    # Every operation but the one serving the document was exercised.
    tested = sum(len(item) for item in served.values()) - 1
    assert f"Tested: {tested}" in report, report
