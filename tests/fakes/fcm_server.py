"""A fake FCM HTTP v1 server and OAuth token endpoint on loopback, for the real firebase-admin client.

The service account it hands out (a throwaway RSA key made at start) names the fake's ``/token``
as its ``token_uri``: google-auth signs a JWT grant with the key, the fake checks the signature
and issues an access token, and ``messages:send`` demands it. Each registration token can be
scripted to answer success, any FCM error code, 429 with Retry-After, 5xx, or slowly.

    with FakeFcm() as fcm:
        fcm.script("token-1", UNREGISTERED)
        fcm.script("token-2", Reply.unavailable(), OK)   # first 503, then success
        ... send ...
        fcm.received_for("token-2")
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
# Either grants FCM sends (firebase-admin asks for cloud-platform among others).
MESSAGING_SCOPES = {"https://www.googleapis.com/auth/firebase.messaging", "https://www.googleapis.com/auth/cloud-platform"}
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNKNOWN", 503: "UNAVAILABLE"}


@dataclass(frozen=True)
class Reply:
    """How the fake answers one send request."""

    status: int = 200
    error_code: str | None = None  # FCM's errorCode (UNREGISTERED, QUOTA_EXCEEDED, ...)
    message: str = ""
    retry_after: str | None = None
    delay: float = 0.0  # seconds before answering (slow FCM, timeouts)

    @classmethod
    def quota_exceeded(cls, retry_after: str | None = "30") -> Reply:
        return cls(429, "QUOTA_EXCEEDED", "Quota exceeded for the device.", retry_after)

    @classmethod
    def unavailable(cls, retry_after: str | None = None) -> Reply:
        return cls(503, "UNAVAILABLE", "The service is currently unavailable.", retry_after)

    @classmethod
    def internal(cls) -> Reply:
        return cls(500, "INTERNAL", "Internal error encountered.")

    @classmethod
    def slow(cls, seconds: float) -> Reply:
        return cls(delay=seconds)


OK = Reply()
UNREGISTERED = Reply(404, "UNREGISTERED", "Requested entity was not found.")
SENDER_ID_MISMATCH = Reply(403, "SENDER_ID_MISMATCH", "SenderId mismatch")
INVALID_TOKEN = Reply(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token")
INVALID_MESSAGE = Reply(400, "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl'")
THIRD_PARTY_AUTH_ERROR = Reply(401, "THIRD_PARTY_AUTH_ERROR", "Auth error from APNS or Web Push Service")


@dataclass
class Received:
    """One send request as it arrived (before the fake answered: FCM has it from that moment)."""

    token: str  # the registration token or installation ID (fid) addressed
    message: dict[str, Any]
    at: float  # time.time()
    reply: Reply

    @property
    def notification_id(self) -> str | None:
        return self.message.get("data", {}).get("notification_id")


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, deque[Reply]] = field(default_factory=dict)
    default: Reply = OK
    access_tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    refuse_tokens: bool = False
    on_receive: Callable[[Received], None] | None = None


class FakeFcm:
    def __init__(self, project_id: str = "wallet-test") -> None:
        self.project_id = project_id
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._state = _State()
        self._counter = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-fcm", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeFcm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def service_account(self) -> dict[str, Any]:
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "fake-key-1",
            "private_key": pem,
            "client_email": f"push@{self.project_id}.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }

    def write_service_account(self, path: Path) -> Path:
        path.write_text(json.dumps(self.service_account()))
        return path

    # --- scripting -------------------------------------------------------------------------

    def reset(self) -> None:
        with self._state.lock:
            self._state.received.clear()
            self._state.scripts.clear()
            self._state.token_requests = 0
            self._state.default = OK
            self._state.refuse_tokens = False
            self._state.on_receive = None

    def script(self, token: str, *replies: Reply) -> None:
        """Answer ``token``'s next requests with ``replies`` in turn; the last one then sticks."""
        with self._state.lock:
            self._state.scripts[token] = deque(replies)

    def answer_by_default(self, reply: Reply) -> None:
        with self._state.lock:
            self._state.default = reply

    def refuse_access_tokens(self, refuse: bool = True) -> None:
        with self._state.lock:
            self._state.refuse_tokens = refuse

    def on_receive(self, callback: Callable[[Received], None] | None) -> None:
        with self._state.lock:
            self._state.on_receive = callback

    # --- what arrived ----------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.received)

    def received_for(self, token: str) -> list[Received]:
        return [request for request in self.received if request.token == token]

    @property
    def token_requests(self) -> int:
        return self._state.token_requests

    def wait_for(self, condition: Callable[[list[Received]], bool], timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            received = self.received
            if condition(received):
                return received
            if time.monotonic() > deadline:
                raise AssertionError(f"fake FCM: condition not met within {timeout} s ({len(received)} received)")
            time.sleep(0.01)

    # --- handler side ----------------------------------------------------------------------

    def _issue_access_token(self, assertion: str) -> str | None:
        with self._state.lock:
            self._state.token_requests += 1
            if self._state.refuse_tokens:
                return None
        public_key = self._key.public_key()
        try:
            # google-auth names Google's token endpoint as the audience whatever the token_uri.
            claims = jwt.decode(assertion, public_key, algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE,
                                issuer=f"push@{self.project_id}.iam.gserviceaccount.com")
            if not MESSAGING_SCOPES & set(claims.get("scope", "").split()):
                return None
        except jwt.InvalidTokenError:
            return None
        token = f"fake-access-{next(self._counter)}"
        with self._state.lock:
            self._state.access_tokens.add(token)
        return token

    def _accept(self, access_token: str, body: dict[str, Any]) -> tuple[Reply | None, Received | None]:
        message = body.get("message") or {}
        token = message.get("token") or message.get("fid") or ""
        with self._state.lock:
            if access_token not in self._state.access_tokens:
                return None, None
            script = self._state.scripts.get(token)
            reply = (script.popleft() if len(script) > 1 else script[0]) if script else self._state.default
            received = Received(token, message, time.time(), reply)
            self._state.received.append(received)
            callback = self._state.on_receive
        if callback is not None:
            callback(received)
        return reply, received

    def _next_message_name(self) -> str:
        return f"projects/{self.project_id}/messages/0:{next(self._counter)}%fake"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as FCM: the client reuses its connections
    # Headers and body leave in two writes: with Nagle on, the body would wait for the client's
    # delayed ACK (40 ms), a stall real FCM does not have.
    disable_nagle_algorithm = True

    @property
    def fake(self) -> FakeFcm:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/token":
            self._token(raw)
        elif self.path == f"/v1/projects/{self.fake.project_id}/messages:send":
            self._send(raw)
        else:
            self._json(404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})

    def _token(self, raw: bytes) -> None:
        form = parse_qs(raw.decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            self._json(400, {"error": "unsupported_grant_type"})
            return
        token = self.fake._issue_access_token(form.get("assertion", [""])[0])
        if token is None:
            self._json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            return
        self._json(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _send(self, raw: bytes) -> None:
        authorization = self.headers.get("Authorization", "")
        reply, _ = self.fake._accept(authorization.removeprefix("Bearer "), json.loads(raw or b"{}"))
        if reply is None:
            self._json(401, {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                                       "status": "UNAUTHENTICATED"}})
            return
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status == 200:
            self._json(200, {"name": self.fake._next_message_name()})
            return
        error: dict[str, Any] = {"code": reply.status, "message": reply.message,
                                 "status": _STATUS_NAMES.get(reply.status, "UNKNOWN")}
        if reply.error_code:
            error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": reply.error_code}]
        headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
        self._json(reply.status, {"error": error}, headers)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout) or was killed
            pass


def running_fake(project_id: str = "wallet-test") -> Iterator[FakeFcm]:
    """For fixtures: ``yield from running_fake()``."""
    with FakeFcm(project_id) as fake:
        yield fake
