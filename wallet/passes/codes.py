"""Rotating pass codes: a per-pass secret yields a new TOTP every 30 s, so screenshots go stale.

Two encodings of the same idea: a QR payload carrying the time step and an 8-digit TOTP,
and a shorter code a cashier can type when the scanner cannot read the screen.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from typing import ClassVar

PERIOD = 30
DRIFT_STEPS = 1

SECRET_BYTES = 20
MIN_SECRET_BYTES = 16  # RFC 4226 section 4: at least 128 bits
SHORT_ID_MIN_LENGTH, SHORT_ID_MAX_LENGTH = 4, 16
MAX_CODE_LENGTH = 64
QR_OTP_DIGITS = 8
FALLBACK_OTP_DIGITS = 6

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Crockford's check symbols: the 32 digits plus five more for values 32..36 (mod 37).
CROCKFORD_CHECK_SYMBOLS = CROCKFORD_ALPHABET + "*~$=U"
_CROCKFORD_VALUES = {symbol: value for value, symbol in enumerate(CROCKFORD_CHECK_SYMBOLS)}
# Letters people type for the digits they look like; Crockford decodes them as such.
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SHORT_ID_PATTERN = f"[{CROCKFORD_ALPHABET}]{{{SHORT_ID_MIN_LENGTH},{SHORT_ID_MAX_LENGTH}}}"

QR_PREFIX = "W1"
# Every character here is in the QR alphanumeric set (0-9 A-Z space $ % * + - . / :), so
# the payload packs at 5.5 bits per character instead of 8.
_PASS_CODE = re.compile(
    rf"{QR_PREFIX}\.(?P<kind>[A-Z])\.(?P<short_id>{_SHORT_ID_PATTERN})"
    r"\.(?P<step>0|[1-9][0-9]{0,11})\.(?P<otp>[0-9]{8})"
)


class PassCodeRefused(ValueError):
    """A scanned or typed code that must not be honoured; ``reason`` says why, in one word."""

    reason: ClassVar[str]


class MalformedCode(PassCodeRefused):
    reason = "malformed"


class ForgedCode(PassCodeRefused):
    reason = "forged"


class ExpiredCode(PassCodeRefused):
    reason = "expired"


class NotYetValidCode(PassCodeRefused):
    """A genuine code for a step beyond the drift window: the showing device's clock is ahead."""

    reason = "not_yet_valid"


class ReplayedCode(PassCodeRefused):
    reason = "replayed"


@dataclass(frozen=True)
class ParsedPassCode:
    kind: str
    short_id: str
    step: int
    otp: str


@dataclass(frozen=True)
class ParsedFallbackCode:
    short_id: str
    otp6: str


def generate_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def generate_short_id(length: int = 8) -> str:
    """A random public identifier in Crockford base32, which survives being read aloud."""
    if not SHORT_ID_MIN_LENGTH <= length <= SHORT_ID_MAX_LENGTH:
        raise ValueError(
            f"short ids are {SHORT_ID_MIN_LENGTH} to {SHORT_ID_MAX_LENGTH} characters long"
        )
    return "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(length))


def step_at(t: float) -> int:
    """The TOTP time step (RFC 6238 ``T``) containing Unix time ``t``."""
    return math.floor(t / PERIOD)


def totp(secret: bytes, step: int, digits: int = 8) -> str:
    """RFC 6238 TOTP for time step ``step``: RFC 4226 HOTP (HMAC-SHA1) with the step as counter."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"a TOTP secret needs at least {MIN_SECRET_BYTES} bytes")
    if not 0 <= step < 2**64:
        raise ValueError("a time step is a non-negative 64-bit counter")
    if not 6 <= digits <= 8:
        raise ValueError("a TOTP has 6 to 8 digits")
    mac = hmac.digest(secret, step.to_bytes(8, "big"), hashlib.sha1)
    offset = mac[-1] & 0x0F
    truncated = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFF_FFFF
    return str(truncated % 10**digits).zfill(digits)


def format_pass_code(kind: str, short_id: str, secret: bytes, step: int) -> str:
    """The QR payload ``W1.<kind>.<short id>.<step>.<8-digit TOTP>``.

    ``kind`` is one upper-case letter: "M" for a member card, "C" for a coupon.
    """
    if not re.fullmatch("[A-Z]", kind):
        raise ValueError("kind is one upper-case letter")
    _require_short_id(short_id)
    return f"{QR_PREFIX}.{kind}.{short_id}.{step}.{totp(secret, step, QR_OTP_DIGITS)}"


def parse_pass_code(text: str) -> ParsedPassCode:
    """Split a scanned QR payload; only surrounding whitespace is forgiven."""
    text = text.strip()
    if len(text) > MAX_CODE_LENGTH:
        raise _too_long(text)
    if not text.startswith(QR_PREFIX + "."):
        raise MalformedCode(f"not a wallet pass code: it does not start with {QR_PREFIX}.")
    match = _PASS_CODE.fullmatch(text)
    if match is None:
        raise MalformedCode(
            "malformed pass code: expected W1.<kind letter>.<short id>.<step>.<8 digits>"
        )
    return ParsedPassCode(
        kind=match["kind"],
        short_id=match["short_id"],
        step=int(match["step"]),
        otp=match["otp"],
    )


def verify_pass_code(
    parsed: ParsedPassCode, secret: bytes, *, now: float, last_accepted_step: int | None
) -> int:
    """Accept a parsed QR code and return its step, which the caller stores as the new
    ``last_accepted_step``; raise ForgedCode, ExpiredCode, NotYetValidCode or ReplayedCode otherwise.

    Authenticity is checked first, so a code that is both forged and old reads "forged".
    """
    expected = totp(secret, parsed.step, QR_OTP_DIGITS)
    if not hmac.compare_digest(expected, parsed.otp):
        raise ForgedCode("code does not match this pass")
    drift = parsed.step - step_at(now)
    if drift > DRIFT_STEPS:
        raise NotYetValidCode(f"code is dated about {drift * PERIOD} s ahead; the device clock may be ahead")
    if drift < -DRIFT_STEPS:
        raise ExpiredCode(f"code expired: it is about {-drift * PERIOD} s old")
    if last_accepted_step is not None and parsed.step <= last_accepted_step:
        raise ReplayedCode("code was already used")
    return parsed.step


def format_fallback_code(short_id: str, secret: bytes, step: int) -> str:
    """The code to type by hand: short id, 6-digit TOTP and a Crockford check character,
    grouped for reading, e.g. ``K3M9-QXAB-482913-Z``.
    """
    _require_short_id(short_id)
    otp6 = totp(secret, step, FALLBACK_OTP_DIGITS)
    groups = [short_id[i : i + 4] for i in range(0, len(short_id), 4)]
    return "-".join([*groups, otp6, _check_symbol(short_id + otp6)])


def parse_fallback_code(text: str) -> ParsedFallbackCode:
    """Read a typed fallback code: any case, spaces and hyphens anywhere, O for 0, I or L for 1."""
    if len(text) > MAX_CODE_LENGTH:
        raise _too_long(text)
    cleaned = re.sub(r"[\s-]", "", text).upper().translate(_LOOK_ALIKES)
    body, check = cleaned[:-1], cleaned[-1:]
    otp_length = FALLBACK_OTP_DIGITS
    if not SHORT_ID_MIN_LENGTH + otp_length <= len(body) <= SHORT_ID_MAX_LENGTH + otp_length:
        raise MalformedCode("code has the wrong number of characters")
    for char in body:
        if char not in CROCKFORD_ALPHABET:
            raise MalformedCode(f"code contains {char!r}, which is not used in pass codes")
    if check not in _CROCKFORD_VALUES:
        raise MalformedCode(f"code ends in {check!r}, which is not a check character")
    # Before looking at the structure, so that every single-character typo reports the
    # same thing whichever character it hit.
    if _check_symbol(body) != check:
        raise MalformedCode("check character does not match")
    short_id, otp6 = body[:-otp_length], body[-otp_length:]
    if not otp6.isdigit():
        raise MalformedCode(
            f"the {otp_length} characters before the check character should be digits"
        )
    return ParsedFallbackCode(short_id=short_id, otp6=otp6)


def verify_fallback_code(
    parsed: ParsedFallbackCode, secret: bytes, *, now: float, last_accepted_step: int | None
) -> int:
    """Accept a typed code and return the step it belongs to; raise ForgedCode or ReplayedCode.

    The typed code carries no step, so it is tried against the steps within DRIFT_STEPS of
    now. That makes an expired code indistinguishable from a forged one: both match no
    step and are reported as ForgedCode. With 6 digits and three candidate steps, a guess
    succeeds one time in ~333,000, so callers must rate-limit attempts per pass.
    """
    current = step_at(now)
    # Every candidate is computed and compared, so timing does not reveal which one matched.
    matching = [
        step
        for step in range(max(current - DRIFT_STEPS, 0), current + DRIFT_STEPS + 1)
        if hmac.compare_digest(totp(secret, step, FALLBACK_OTP_DIGITS), parsed.otp6)
    ]
    unused = [s for s in matching if last_accepted_step is None or s > last_accepted_step]
    if unused:
        return unused[0]
    if matching:
        raise ReplayedCode("code was already used")
    raise ForgedCode("code does not match this pass, or has expired")


def _require_short_id(short_id: str) -> None:
    if not re.fullmatch(_SHORT_ID_PATTERN, short_id):
        raise ValueError(
            f"a short id is {SHORT_ID_MIN_LENGTH} to {SHORT_ID_MAX_LENGTH} characters "
            "of Crockford base32"
        )


def _too_long(text: str) -> MalformedCode:
    return MalformedCode(
        f"code is {len(text)} characters; a pass code has at most {MAX_CODE_LENGTH}"
    )


def _check_symbol(body: str) -> str:
    # The body read as one base-32 number, mod 37. 37 is prime and larger than any digit
    # difference, so every single substitution and every adjacent transposition changes it.
    value = 0
    for char in body:
        value = (value * 32 + _CROCKFORD_VALUES[char]) % 37
    return CROCKFORD_CHECK_SYMBOLS[value]
