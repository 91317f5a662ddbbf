"""Rate limits (flask-limiter) per client address and per account on the endpoints worth abusing:
a view method marked ``@rate_limited(blp, "sign_in")`` is limited by the settings
``RATE_LIMIT_SIGN_IN`` (per client address) and ``RATE_LIMIT_SIGN_IN_PER_ACCOUNT``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from werkzeug.middleware.proxy_fix import ProxyFix

from wallet.core.errors import error_body

_MARK = "_wallet_rate_limit"
REASON = "rate_limited"


def rate_limited(blp: Any, name: str, *, exempt_when: Callable[[], bool] | None = None) -> Callable[[Any], Any]:
    """Mark a view method as limited by the ``RATE_LIMIT_<NAME>`` settings (applied per app in ``init_app``)."""

    def mark(method: Any) -> Any:
        documented = blp.alt_response(429, description=f"Too many requests (reason {REASON}); see Retry-After")(method)
        setattr(documented, _MARK, (name.upper(), exempt_when))
        return documented

    return mark


def client_address() -> str:
    """The client's address: the peer's, or, behind ``PROXY_FIX_X_FOR`` trusted proxies, the one they saw."""
    return request.remote_addr or "unknown"


def account_key() -> str:
    """Whose account a request acts for, without reading the database: the e-mail it signs up or in
    with, the refresh token it spends, the POS key or the access token's subject; else the address."""
    from wallet.auth.decorators import API_KEY_HEADER
    from wallet.auth.secrets import digest
    from wallet.auth.services import normalize_email
    from wallet.auth.tokens import decode_access_token
    from wallet.core.errors import WalletError

    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        if isinstance(body.get("email"), str):
            return "email:" + normalize_email(body["email"])
        if isinstance(body.get("refresh_token"), str):
            return "refresh:" + digest(body["refresh_token"])
    api_key = request.headers.get(API_KEY_HEADER)
    if api_key:
        return "key:" + digest(api_key.strip())
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            return f"account:{decode_access_token(token.strip()).subject}"
        except WalletError:  # refused later by authentication; counted by address meanwhile
            pass
    return "address:" + client_address()


def _refuse(limit: RequestLimit) -> Response:
    wait = max(1, int(limit.reset_at - time.time()))
    response = Response(status=429)
    response.set_data(current_app.json.dumps(error_body(
        429, f"Too many requests; try again in {wait} seconds.", REASON)))
    response.mimetype = "application/json"
    response.headers["Retry-After"] = str(wait)
    return response


def _render_refusal(error: RateLimitExceeded) -> Response:
    return error.response if error.response is not None else _refuse_without_window()


def _refuse_without_window() -> Response:
    response = Response(current_app.json.dumps(error_body(429, "Too many requests.", REASON)), status=429,
                        mimetype="application/json")
    response.headers["Retry-After"] = "1"
    return response


def _setting(key: str) -> Callable[[], str]:
    return lambda: current_app.config[key]


def init_app(app: Flask) -> None:
    """Trust ``PROXY_FIX_X_FOR`` proxies for the client address, and limit every marked view of ``app``
    with a limiter of its own (settings ``RATELIMIT_*``: storage, key prefix, on/off)."""
    proxies = int(app.config["PROXY_FIX_X_FOR"])
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies)  # type: ignore[method-assign]
    limiter = Limiter(key_func=client_address, app=app, on_breach=_refuse)
    app.extensions["wallet.limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _render_refusal)
    for endpoint, view in list(app.view_functions.items()):
        view_class = getattr(view, "view_class", None)
        for method in getattr(view_class, "methods", None) or ():
            mark = getattr(getattr(view_class, method.lower(), None), _MARK, None)
            if mark is None:
                continue
            name, exempt_when = mark
            view = limiter.limit(_setting(f"RATE_LIMIT_{name}"), key_func=client_address, methods=[method],
                                 exempt_when=exempt_when, scope=f"{name.lower()}:address")(view)
            view = limiter.limit(_setting(f"RATE_LIMIT_{name}_PER_ACCOUNT"), key_func=account_key,
                                 methods=[method], exempt_when=exempt_when, scope=f"{name.lower()}:account")(view)
        app.view_functions[endpoint] = view
