"""The ``/v1`` application assembled from its parts: key ring, tokens, URL signer, routes."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.api.app import ApiApplication
from gateway.api.auth_routes import AuthRoutes
from gateway.api.change_routes import ChangeRoutes
from gateway.api.files import FileRoutes
from gateway.api.listing_routes import ListingRoutes
from gateway.api.openapi import OpenApiRoutes
from gateway.api.router import Route
from gateway.api.signing_keys import SigningKeys
from gateway.api.tokens import BearerAuthenticator, TokenPolicy, TokenService
from gateway.api.url_signing import UrlSigner
from gateway.core.change_feed import ChangeFeed
from gateway.core.storage import Storage
from gateway.native_files import open_files
from gateway.ports import ApiCredentialStore
from gateway.settings import Settings


@dataclass(frozen=True)
class ApiServices:
    """What the API's routes share."""

    keys: SigningKeys
    tokens: TokenService
    urls: UrlSigner


def api_services(
    settings: Settings, storage: Storage, credentials: ApiCredentialStore
) -> ApiServices:
    """The key ring (with a signing key made on first use), tokens and URL signer."""
    keys = SigningKeys(credentials, settings.api_signing_algorithm)
    keys.ensure_active()
    policy = TokenPolicy(
        issuer=settings.api_issuer,
        audience=settings.api_audience,
        access_seconds=settings.api_access_token_seconds,
        refresh_seconds=settings.api_refresh_token_seconds,
    )
    tokens = TokenService(keys, credentials, storage.metadata, policy)
    return ApiServices(keys, tokens, UrlSigner(keys))


def api_routes(settings: Settings, storage: Storage, services: ApiServices) -> list[Route]:
    """Every ``/v1`` route over ``storage``; the OpenAPI document describes exactly these."""
    files = open_files(settings, storage)
    routes = [
        *AuthRoutes(services.tokens, storage.metadata).routes(),
        *FileRoutes(files, services.urls).routes(),
        *ListingRoutes(storage, files).routes(),
        *ChangeRoutes(
            ChangeFeed(storage, max_waiters=max(1, settings.server_threads // 2))
        ).routes(),
    ]
    return [*routes, *OpenApiRoutes().routes()]


def api_application(
    settings: Settings, storage: Storage, credentials: ApiCredentialStore
) -> ApiApplication:
    """The ``/v1`` application: ``api_routes`` behind bearer-token authentication."""
    services = api_services(settings, storage, credentials)
    return ApiApplication(
        api_routes(settings, storage, services), BearerAuthenticator(services.tokens)
    )
