"""The OpenAPI document describes exactly the routes the assembled ``/v1`` application has.

A route added without documentation (or documentation left behind by a removed route,
or a public route documented as protected) fails here.
"""

from __future__ import annotations

import io
import json
from typing import Any

from openapi_spec_validator import validate

from gateway.api import openapi
from gateway.api.assembly import api_routes, api_services
from gateway.api.router import ApiRequest, Route
from gateway.server import api_credentials
from gateway.settings import Settings
from tests.support.core import CoreFixture


def _routes(core: CoreFixture) -> list[Route]:
    settings = Settings(data_dir=core.blob_root.parent)
    services = api_services(settings, core.storage, api_credentials(core.storage))
    return api_routes(settings, core.storage, services)


def test_every_route_is_documented_and_nothing_else(core: CoreFixture) -> None:
    routes = _routes(core)
    assert {(route.method, route.template) for route in routes} == openapi.operations()


def test_public_routes_are_exactly_the_operations_without_security(core: CoreFixture) -> None:
    routes = _routes(core)
    public = {(route.method, route.template) for route in routes if route.public}
    assert public == openapi.public_operations()
    assert ("GET", openapi.DOCUMENT_PATH) in public


def test_document_is_valid_openapi_3_1() -> None:
    described = openapi.document("http://127.0.0.1:8080")
    validate(described)
    assert described["openapi"].startswith("3.1")


def test_path_parameters_are_declared() -> None:
    for path, item in openapi.PATHS.items():
        names = {segment[1:-1] for segment in path.split("/") if segment.startswith("{")}
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, f"{method} {path}"


def test_served_document_names_the_origin_it_was_asked_at(core: CoreFixture) -> None:
    served = next(r for r in _routes(core) if r.template == openapi.DOCUMENT_PATH)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "gateway.example:8443",
        "SERVER_NAME": "0.0.0.0",
        "SERVER_PORT": "8443",
        "SCRIPT_NAME": "",
        "PATH_INFO": openapi.DOCUMENT_PATH,
        "wsgi.input": io.BytesIO(),
    }
    response = served.handler(ApiRequest(environ, {}))
    assert response.status == 200
    assert ("Content-Type", "application/json") in response.headers
    assert isinstance(response.body, bytes)
    assert json.loads(response.body)["servers"] == [{"url": "https://gateway.example:8443"}]
