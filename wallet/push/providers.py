"""Push providers: FCM (HTTP v1 through firebase-admin) and ``log`` (prints what would be sent).

A provider takes a list of messages (one per device) and tells, for each, what became of it:
accepted, a dead token (retire the device), worth retrying (with the server's Retry-After if
given), or a permanent failure. Retry policy is the dispatcher's, not the HTTP client's.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wallet.config import ConfigurationError
from wallet.push.models import FID

log = logging.getLogger(__name__)

# What became of one message.
ACCEPTED, DEAD_TOKEN, RETRY, FAILED = "accepted", "dead_token", "retry", "failed"
# FCM HTTP v1 accepts at most 500 messages per send_each call.
FCM_MAX_BATCH = 500
FCM_DEFAULT_ENDPOINT = "https://fcm.googleapis.com"


@dataclass(frozen=True)
class PushMessage:
    """One notification to one device."""

    notification_id: uuid.UUID
    device_id: uuid.UUID
    token: str
    token_kind: str  # registration_token or fid
    platform: str
    title: str
    body: str
    data: dict[str, str]
    collapse_key: str
    ttl_seconds: int  # what is left of the coupon's relevance when the message leaves


@dataclass(frozen=True)
class SendResult:
    outcome: str
    reason: str | None = None  # unregistered, quota_exceeded, unavailable, timeout, ...
    message_id: str | None = None
    retry_after: float | None = None  # seconds, from the server's Retry-After
    detail: str | None = None


class Provider(Protocol):
    name: str

    def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        """One result per message, in order; never raises for a delivery failure."""

    def close(self) -> None: ...


def make_provider(config: Mapping[str, Any]) -> Provider:
    """The configured provider: ``fcm`` when Google credentials are configured, else ``log``."""
    choice = str(config.get("PUSH_PROVIDER") or "auto").lower()
    if choice == "auto":
        choice = "fcm" if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") else "log"
    if choice == "log":
        return LogProvider()
    if choice == "fcm":
        return FcmProvider(
            project_id=config.get("FCM_PROJECT_ID") or None,
            endpoint=str(config.get("FCM_ENDPOINT") or FCM_DEFAULT_ENDPOINT),
            timeout=float(config.get("FCM_TIMEOUT", 10.0)),
            android_channel_id=str(config.get("FCM_ANDROID_CHANNEL_ID") or "coupons"),
        )
    raise ConfigurationError(f"WALLET_PUSH_PROVIDER must be fcm, log or auto, not {choice!r}")


# --- log ------------------------------------------------------------------------------------


@dataclass
class LogProvider:
    """Sends nothing: prints each message and keeps the last ones (the demo and tests read them)."""

    echo: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    sent: deque[PushMessage] = field(default_factory=lambda: deque(maxlen=1000))
    name: str = "log"

    def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            self.sent.append(message)
            self.echo(f"push [log] -> {message.platform} …{message.token[-8:]}: {message.title!r} "
                      f"{message.body!r} (notification {message.notification_id}, ttl {message.ttl_seconds} s, "
                      f"collapse {message.collapse_key}, link {message.data.get('deep_link')})")
            results.append(SendResult(ACCEPTED, message_id=f"log/{uuid.uuid4()}"))
        return results

    def close(self) -> None:
        pass


# --- FCM ------------------------------------------------------------------------------------


class FcmProvider:
    """FCM HTTP v1 through the firebase-admin SDK, authenticated with the standard Google
    application credentials (``GOOGLE_APPLICATION_CREDENTIALS``)."""

    name = "fcm"

    def __init__(self, *, project_id: str | None, endpoint: str, timeout: float, android_channel_id: str,
                 credential: Any = None) -> None:
        import firebase_admin
        from firebase_admin import credentials
        from google.auth.exceptions import DefaultCredentialsError

        options: dict[str, Any] = {"httpTimeout": timeout}
        if project_id:
            options["projectId"] = project_id
        self.android_channel_id = android_channel_id
        # An app of our own (not the SDK's default app), so that several providers can coexist.
        self._app = firebase_admin.initialize_app(credential or credentials.ApplicationDefault(), options,
                                                  name=f"wallet-push-{uuid.uuid4().hex[:12]}")
        try:
            _configure_transport(self._app, endpoint=endpoint)
        except (DefaultCredentialsError, ValueError) as error:
            firebase_admin.delete_app(self._app)
            raise ConfigurationError(f"FCM is not usable: {error}") from error
        self.project_id = self._app.project_id

    def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        from firebase_admin import exceptions, messaging

        results: list[SendResult | None] = [None] * len(messages)
        built: list[tuple[int, Any]] = []
        expiry_base = int(time.time())
        for position, message in enumerate(messages):
            try:
                built.append((position, self.build(message, now_epoch=expiry_base)))
            except ValueError as error:  # the SDK validates fields as it builds
                results[position] = SendResult(FAILED, reason="invalid_message", detail=str(error))
        if built:
            self._refresh_access_token()
        for start in range(0, len(built), FCM_MAX_BATCH):
            chunk = built[start:start + FCM_MAX_BATCH]
            try:
                batch = messaging.send_each([fcm_message for _, fcm_message in chunk], app=self._app)
            except exceptions.FirebaseError as error:  # e.g. no access token: nothing was sent
                for position, _ in chunk:
                    results[position] = SendResult(RETRY, reason="provider_error", detail=str(error))
                continue
            for (position, _), response in zip(chunk, batch.responses, strict=True):
                results[position] = (SendResult(ACCEPTED, message_id=response.message_id) if response.success
                                     else classify(response.exception))
        return [result for result in results if result is not None]

    def _refresh_access_token(self) -> None:
        """Fetch the OAuth token once, before the batch: send_each sends from one thread per
        message, and each thread would otherwise fetch its own when none is cached."""
        import google.auth.exceptions
        import google.auth.transport.requests

        credential = self._app.credential.get_credential()
        if not credential.valid:
            try:
                credential.refresh(google.auth.transport.requests.Request())
            except google.auth.exceptions.GoogleAuthError as error:
                log.warning("FCM access token refresh failed: %s", error)  # each send will say so too

    def build(self, message: PushMessage, *, now_epoch: int) -> Any:
        """The FCM message: notification + data, Android and APNs delivery options."""
        from firebase_admin import messaging

        ttl = max(0, int(message.ttl_seconds))
        fcm_message = messaging.Message(
            fid=message.token if message.token_kind == FID else None,
            notification=messaging.Notification(title=message.title, body=message.body),
            data={key: str(value) for key, value in message.data.items()},
            android=messaging.AndroidConfig(
                ttl=ttl,  # FCM keeps an undelivered message 4 weeks by default: a coupon is worth minutes
                collapse_key=message.collapse_key,  # a newer coupon of the offer replaces an undelivered one
                priority="high",
                # The tag replaces a shown notification of the same offer (also a duplicate of one).
                notification=messaging.AndroidNotification(channel_id=self.android_channel_id,
                                                           tag=message.collapse_key),
            ),
            apns=messaging.APNSConfig(headers={
                "apns-expiration": str(now_epoch + ttl),
                "apns-collapse-id": message.collapse_key,
                "apns-priority": "10",
                "apns-push-type": "alert",
            }),
        )
        if message.token_kind != FID:
            # firebase-admin 7 deprecates registration tokens (passing one to Message() warns) in
            # favour of installation IDs, but apps not yet in FID mode only have a token, and FCM
            # HTTP v1 still takes it in the same ``token`` field the SDK encodes.
            fcm_message.token = message.token
        return fcm_message

    def close(self) -> None:
        import firebase_admin

        firebase_admin.delete_app(self._app)


def _configure_transport(app: Any, *, endpoint: str) -> None:
    """Point the SDK's FCM client at ``endpoint`` and leave retrying to the dispatcher.

    firebase-admin has no public option for either: the FCM URL is fixed (the Go SDK added an
    endpoint option, Python has none) and its HTTP adapter retries 500/503 four times and sleeps
    through a 429's Retry-After inside ``send_each`` (firebase-admin-python#554 asks for a custom
    retry policy). A dispatcher must not sleep minutes inside one batch, nor resend a request
    whose answer it lost (read retries could duplicate a push), so we mount our own adapter:
    connection failures are retried once (nothing was sent), nothing else. The private names
    used here are checked, so an SDK upgrade that moves them fails at start-up, not silently.
    """
    import requests.adapters
    from firebase_admin import messaging
    from urllib3.util.retry import Retry

    service = messaging._get_messaging_service(app)  # noqa: SLF001 (see docstring)
    client = getattr(service, "_client", None)
    if client is None or not hasattr(service, "_fcm_url"):
        raise ConfigurationError("this firebase-admin version is not supported (no _client/_fcm_url)")
    endpoint = endpoint.rstrip("/")
    if endpoint != FCM_DEFAULT_ENDPOINT:
        service._fcm_url = f"{endpoint}/v1/projects/{app.project_id}/messages:send"
    # read=False (not 0): a read timeout then surfaces as a timeout, not as "max retries exceeded".
    retries = Retry(total=1, connect=1, read=False, status=0, other=0, redirect=0,
                    raise_on_status=False, respect_retry_after_header=False, allowed_methods=None)
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=FCM_MAX_BATCH, max_retries=retries)
    client.session.mount(endpoint + "/", adapter)


def classify(error: Exception | None) -> SendResult:
    """What to do about one FCM error (FCM HTTP v1 error codes, as firebase-admin types them)."""
    from firebase_admin import exceptions, messaging

    detail = str(error)
    if isinstance(error, messaging.UnregisteredError):
        return SendResult(DEAD_TOKEN, reason="unregistered", detail=detail)
    if isinstance(error, messaging.SenderIdMismatchError):
        return SendResult(DEAD_TOKEN, reason="sender_id_mismatch", detail=detail)
    if isinstance(error, exceptions.InvalidArgumentError):
        # INVALID_ARGUMENT is either a malformed token (dead) or a malformed message (ours: no retry).
        if "token" in detail.lower():
            return SendResult(DEAD_TOKEN, reason="invalid_token", detail=detail)
        return SendResult(FAILED, reason="invalid_argument", detail=detail)
    retry_after = retry_after_seconds(getattr(error, "http_response", None))
    for kind, reason in (
        (exceptions.ResourceExhaustedError, "quota_exceeded"),  # 429, QUOTA_EXCEEDED or not
        (exceptions.UnavailableError, "unavailable"),  # 503, and connections refused or reset
        (exceptions.InternalError, "internal"),  # 500
        (exceptions.DeadlineExceededError, "timeout"),  # FCM may have accepted it: a retry may duplicate
        (messaging.ThirdPartyAuthError, "third_party_auth"),  # APNs certificate or key rejected
        (exceptions.UnauthenticatedError, "unauthenticated"),
        (exceptions.PermissionDeniedError, "permission_denied"),
    ):
        if isinstance(error, kind):
            return SendResult(RETRY, reason=reason, retry_after=retry_after, detail=detail)
    return SendResult(RETRY, reason="unknown", retry_after=retry_after, detail=detail)


def retry_after_seconds(response: Any, *, now: dt.datetime | None = None) -> float | None:
    """The Retry-After of an HTTP response, in seconds: a delay or an HTTP date (RFC 9110)."""
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())
