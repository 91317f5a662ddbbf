"""Member numbers: the 12 digits printed on a program member card, the last one a Luhn check digit.

A member number names a membership to people (the shopper, the brand's staff); it proves nothing,
so the till does not take it in place of a pass's rotating code.
"""

from __future__ import annotations

import re
import secrets

from wallet.passes.symbologies import is_valid_luhn, luhn_check_digit

MEMBER_NUMBER_DIGITS = 12  # 11 random digits and a Luhn check digit
_TYPED_SEPARATORS = re.compile(r"[\s-]+")


def random_member_number() -> str:
    body = "".join(secrets.choice("0123456789") for _ in range(MEMBER_NUMBER_DIGITS - 1))
    return body + str(luhn_check_digit(body))


def looks_like_member_number(text: str) -> bool:
    """Whether ``text`` reads as a member number as printed or typed (spaces and hyphens allowed)."""
    digits = _TYPED_SEPARATORS.sub("", text)
    return len(digits) == MEMBER_NUMBER_DIGITS and is_valid_luhn(digits)
