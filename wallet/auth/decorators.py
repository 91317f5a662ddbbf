"""The route-side gate: authenticate the caller and admit only the roles an endpoint serves."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from flask_smorest.utils import deepupdate

from wallet.auth import services
from wallet.auth.principal import Principal
from wallet.core.errors import AuthenticationRequired, PermissionDenied

F = TypeVar("F", bound=Callable[..., Any])

BEARER_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
API_KEY_SCHEME = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
API_KEY_HEADER = "X-API-Key"


def authenticate(companion: services.SessionCompanion | None = None) -> Principal | None:
    """The principal named by the request's bearer token or POS API key, or None if neither."""
    authorization = request.headers.get("Authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationRequired("Use 'Authorization: Bearer <access token>'.", reason="invalid_token")
        return services.authenticate_access_token(token.strip(), companion)
    api_key = request.headers.get(API_KEY_HEADER)
    if api_key:
        return services.authenticate_api_key(api_key.strip())
    return None


def requires(*roles: str, companion: services.SessionCompanion | None = None) -> Callable[[F], F]:
    """Admit callers holding one of ``roles`` (staff roles, ``"shopper"``, ``"pos_key"``); a shopper's
    ``companion`` values are read with the session (``services.companion_values``)."""
    allowed = frozenset(roles)
    security = []
    if allowed - {"pos_key"}:
        security.append({"bearerAuth": []})
    if "pos_key" in allowed:
        security.append({"posApiKey": []})

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate(companion)
            if principal is None:
                raise AuthenticationRequired()
            if principal.role not in allowed:
                raise PermissionDenied(f"This endpoint is not available to the role '{principal.role}'.")
            g.principal = principal
            return view(*args, **kwargs)

        doc = {
            "security": security,
            "x-allowed-roles": sorted(allowed),
            "responses": {
                "401": "UNAUTHORIZED",
                "403": "FORBIDDEN",
            },
        }
        wrapper._apidoc = deepupdate(getattr(wrapper, "_apidoc", {}), {"manual_doc": doc})  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def optional_principal() -> Principal | None:
    """For public endpoints: who is calling, if anyone; a bad credential is still refused."""
    return authenticate()


def current_principal() -> Principal:
    return g.principal  # type: ignore[no-any-return]
