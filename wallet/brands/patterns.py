"""Card number patterns of brands, matched with RE2: in time linear in the number's length,
whatever pattern a brand saves (Python's backtracking ``re`` takes exponential time on some)."""

from __future__ import annotations

import functools
import logging

import re2

MAX_PATTERN_LENGTH = 200  # the column's width; what a card number format needs is far shorter
# A compiled pattern may use this much memory (RE2 refuses larger programs, e.g. "(x{100}){100}").
_MAX_PROGRAM_BYTES = 1 << 20

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is the brand admin's mistake, answered with a 422
_OPTIONS.max_mem = _MAX_PROGRAM_BYTES

logger = logging.getLogger(__name__)


class InvalidPattern(ValueError):
    """A pattern RE2 cannot run (backreferences, lookarounds, too large) or longer than allowed."""


def check_card_pattern(pattern: str) -> None:
    """Raise InvalidPattern, saying why, unless ``pattern`` can be matched in linear time."""
    _compiled(pattern)


def matches_card_pattern(pattern: str, number: str) -> bool:
    """Whether ``number`` fully matches ``pattern``. A stored pattern RE2 refuses (saved before
    patterns were checked, which the 0008 migration clears) constrains nothing, as no pattern."""
    try:
        compiled = _compiled(pattern)
    except InvalidPattern as error:
        logger.warning("card number pattern %r is not checked: %s", pattern, error)
        return True
    return compiled.fullmatch(number) is not None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re2._Regexp:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidPattern(f"A pattern has at most {MAX_PATTERN_LENGTH} characters.")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as error:
        detail = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise InvalidPattern(
            f"Not a pattern we can check card numbers with: {detail}. Patterns use RE2 syntax "
            "(no backreferences, lookahead or lookbehind).") from None
