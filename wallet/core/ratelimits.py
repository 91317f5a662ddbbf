"""Rate limits (flask-limiter) per client address and per account on the endpoints worth abusing:
a view method marked ``@rate_limited(blp, "sign_in")`` is limited by the settings
``RATE_LIMIT_SIGN_IN`` (per client address) and ``RATE_LIMIT_SIGN_IN_PER_ACCOUNT``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

from wallet.config import ConfigurationError
from wallet.core.errors import error_body

_MARK = "_wallet_rate_limit"
REASON = "rate_limited"


def rate_limited(blp: Any, name: str, *, account: str = "caller",
                 exempt_when: Callable[[], bool] | None = None) -> Callable[[Any], Any]:
    """Mark a view method as limited by the ``RATE_LIMIT_<NAME>`` settings (applied per app in ``init_app``).

    ``account`` says whose account a request acts for: the body's ``"email"`` or ``"refresh_token"``,
    or the ``"caller"`` (its POS key or the subject of its access token)."""

    def mark(method: Any) -> Any:
        documented = blp.alt_response(429, description=f"Too many requests (reason {REASON}); see Retry-After")(method)
        setattr(documented, _MARK, (name.upper(), _ACCOUNT_KEYS[account], exempt_when))
        return documented

    return mark


def client_address() -> str:
    """The client's address: the peer's, or, behind ``PROXY_FIX_X_FOR`` trusted proxies, the one they saw."""
    return request.remote_addr or "unknown"


def _email_key() -> str:
    from wallet.auth.services import normalize_email

    email = _body_field("email")
    return "email:" + normalize_email(email) if email is not None else _address_key()


def _refresh_token_key() -> str:
    from wallet.auth.secrets import digest

    token = _body_field("refresh_token")
    return "refresh:" + digest(token) if token is not None else _address_key()


def _caller_key() -> str:
    """The POS key or the access token's subject, without reading the database (a token that does
    not verify is refused later by authentication; it is counted by address meanwhile)."""
    from wallet.auth.decorators import API_KEY_HEADER
    from wallet.auth.secrets import digest
    from wallet.auth.tokens import decode_access_token
    from wallet.core.errors import WalletError

    api_key = request.headers.get(API_KEY_HEADER)
    if api_key:
        return "key:" + digest(api_key.strip())
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            return f"account:{decode_access_token(token.strip()).subject}"
        except WalletError:
            pass
    return _address_key()


def _address_key() -> str:
    return "address:" + client_address()


def _body_field(name: str) -> str | None:
    body = request.get_json(silent=True) if request.is_json else None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


_ACCOUNT_KEYS: dict[str, Callable[[], str]] = {
    "email": _email_key, "refresh_token": _refresh_token_key, "caller": _caller_key}


def _refuse(limit: RequestLimit) -> Response:
    return _refusal(max(1, int(limit.reset_at - time.time())))


def _render_refusal(error: RateLimitExceeded) -> Response:
    return error.response if error.response is not None else _refusal(1)


def _refusal(wait: int) -> Response:
    body = error_body(429, f"Too many requests; try again in {wait} seconds.", REASON)
    response = Response(current_app.json.dumps(body), status=429, mimetype="application/json")
    response.headers["Retry-After"] = str(wait)
    return response


def _setting(key: str) -> Callable[[], str]:
    return lambda: current_app.config[key]


def init_app(app: Flask) -> None:
    """Trust ``PROXY_FIX_X_FOR`` proxies for the client address, and limit every marked view of ``app``
    with a limiter of its own (settings ``RATELIMIT_*``: storage, key prefix, on/off)."""
    for key, value in app.config.items():
        if key.startswith("RATE_LIMIT_"):
            try:
                parse_many(value)
            except (TypeError, ValueError):
                raise ConfigurationError(f"WALLET_{key} is not a rate limit such as '10/minute', got {value!r}") from None
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
            name, account_key, exempt_when = mark
            view = limiter.limit(_setting(f"RATE_LIMIT_{name}"), key_func=client_address, methods=[method],
                                 exempt_when=exempt_when, scope=f"{name.lower()}:address")(view)
            view = limiter.limit(_setting(f"RATE_LIMIT_{name}_PER_ACCOUNT"), key_func=account_key,
                                 methods=[method], exempt_when=exempt_when, scope=f"{name.lower()}:account")(view)
        app.view_functions[endpoint] = view
