"""The barcode symbologies a pass can carry, their check digits, and content validation.

``normalize_content`` is the single gate: whatever it returns is exactly what gets encoded.
"""

from __future__ import annotations

import enum


class Symbology(str, enum.Enum):
    QR = "qr"
    EAN13 = "ean13"
    EAN8 = "ean8"
    UPCA = "upca"
    CODE128 = "code128"
    CODE39 = "code39"
    ITF = "itf"

    @property
    def label(self) -> str:
        """The name people know the symbology by, for messages."""
        return _LABELS[self]


_LABELS = {
    Symbology.QR: "QR",
    Symbology.EAN13: "EAN-13",
    Symbology.EAN8: "EAN-8",
    Symbology.UPCA: "UPC-A",
    Symbology.CODE128: "Code 128",
    Symbology.CODE39: "Code 39",
    Symbology.ITF: "ITF",
}

# Full GTIN length (check digit included) of each GS1 retail symbology.
_GTIN_LENGTHS = {Symbology.EAN13: 13, Symbology.EAN8: 8, Symbology.UPCA: 12}

CODE39_CHARSET = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ -.$/+%")
CODE128_MAX_LENGTH = 80
CODE39_MAX_LENGTH = 43
ITF_MIN_LENGTH = 4  # scanners (and zxing) do not read a single ITF pair reliably
ITF_MAX_LENGTH = 30
QR_MAX_BYTES = 1024


class InvalidContent(ValueError):
    """Content that the symbology cannot carry; the message says what is wrong."""


def _is_digits(text: str) -> bool:
    # str.isdigit alone accepts non-ASCII digits such as "²" or "٣".
    return text.isascii() and text.isdigit()


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of an EAN-8, EAN-13 or UPC-A body (everything but the check digit)."""
    if not _is_digits(body):
        raise ValueError("a GTIN body is made of digits only")
    # Weights alternate 3, 1, 3, ... starting from the digit next to the check digit.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def luhn_check_digit(body: str) -> int:
    """Luhn (mod-10) check digit to append to ``body``."""
    if not _is_digits(body):
        raise ValueError("a Luhn body is made of digits only")
    total = 0
    # Once the check digit is appended, the digit next to it is the first one doubled.
    for i, d in enumerate(reversed(body)):
        n = int(d)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return (10 - total % 10) % 10


def is_valid_luhn(number: str) -> bool:
    """Whether ``number`` (digits, check digit last) passes the Luhn check."""
    if len(number) < 2 or not _is_digits(number):
        return False
    return luhn_check_digit(number[:-1]) == int(number[-1])


def normalize_content(symbology: Symbology, content: str) -> str:
    """Validate ``content`` for ``symbology`` and return the exact string to encode.

    GTIN symbologies accept the body alone (the check digit is appended) or the full
    number (the check digit is verified). Nothing is silently changed otherwise: no
    trimming, no upper-casing, no zero padding.
    """
    if not content.strip():
        raise InvalidContent(f"{symbology.label} content is empty")
    if symbology in _GTIN_LENGTHS:
        return _normalize_gtin(symbology, content)
    if symbology is Symbology.CODE128:
        return _normalize_code128(content)
    if symbology is Symbology.CODE39:
        return _normalize_code39(content)
    if symbology is Symbology.ITF:
        return _normalize_itf(content)
    return _normalize_qr(content)


def _normalize_gtin(symbology: Symbology, content: str) -> str:
    label = symbology.label
    length = _GTIN_LENGTHS[symbology]
    if not _is_digits(content):
        raise InvalidContent(f"{label} takes digits only")
    if len(content) == length - 1:
        return content + str(gtin_check_digit(content))
    if len(content) != length:
        raise InvalidContent(
            f"{label} takes {length - 1} digits (the check digit is added) "
            f"or {length} digits, not {len(content)}"
        )
    expected = gtin_check_digit(content[:-1])
    if int(content[-1]) != expected:
        raise InvalidContent(f"{label} check digit is {content[-1]}, expected {expected}")
    return content


def _normalize_code128(content: str) -> str:
    for char in content:
        if not " " <= char <= "~":
            raise InvalidContent(
                f"Code 128 cannot encode {char!r}; it takes printable ASCII (space to ~)"
            )
    if len(content) > CODE128_MAX_LENGTH:
        raise InvalidContent(
            f"Code 128 content is {len(content)} characters; the maximum is {CODE128_MAX_LENGTH}"
        )
    return content


def _normalize_code39(content: str) -> str:
    for char in content:
        if char not in CODE39_CHARSET:
            raise InvalidContent(
                f"Code 39 cannot encode {char!r}; it takes A-Z, 0-9, space and - . $ / + %"
            )
    if len(content) > CODE39_MAX_LENGTH:
        raise InvalidContent(
            f"Code 39 content is {len(content)} characters; the maximum is {CODE39_MAX_LENGTH}"
        )
    return content


def _normalize_itf(content: str) -> str:
    if not _is_digits(content):
        raise InvalidContent("ITF takes digits only")
    # ITF encodes digits in pairs; padding with a leading zero would change the number.
    if len(content) % 2:
        raise InvalidContent("ITF needs an even number of digits")
    if not ITF_MIN_LENGTH <= len(content) <= ITF_MAX_LENGTH:
        raise InvalidContent(
            f"ITF takes {ITF_MIN_LENGTH} to {ITF_MAX_LENGTH} digits, not {len(content)}"
        )
    return content


def _normalize_qr(content: str) -> str:
    try:
        size = len(content.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidContent("QR content is not valid Unicode text") from None
    if size > QR_MAX_BYTES:
        raise InvalidContent(f"QR content is {size} bytes in UTF-8; the maximum is {QR_MAX_BYTES}")
    return content
