"""A brand's card number pattern is matched in linear time (RE2), whatever the brand admin saves;
patterns RE2 cannot run are refused when saved."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from wallet.auth.models import Role
from wallet.brands.models import Brand
from wallet.cards.models import Card
from wallet.extensions import db

# Catastrophic for a backtracking engine on a long run of matching characters and one that fails.
EVIL_PATTERNS = {
    "nested-plus": (r"(a+)+$", "a" * 30 + "!"),
    "nested-digits": (r"^(\d+)+$", "1" * 30 + "!"),
    "alternation": (r"^(a|aa)+$", "a" * 40 + "!"),
    "optional-repeat": (r"^(a|a?)+$", "a" * 30 + "!"),
    "words-and-spaces": (r"^(\w+\s?)*$", "a" * 30 + "!"),
}
WATCHDOG_SECONDS = 10  # a backtracking match of these runs for minutes; a linear one, milliseconds


@pytest.fixture
def brand(make_brand):
    return make_brand("Lumière", default_symbology="code128")


@pytest.fixture
def admin(make_staff, brand, login):
    return login(make_staff(Role.BRAND_ADMIN, brand))


@pytest.fixture
def shopper(make_shopper, login):
    return login(make_shopper())


class Stalled(BaseException):
    """Raised into a request that outlived the watchdog (a BaseException: no error handler turns it into an answer)."""


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Interrupt what runs in this (the main) thread after ``seconds``: the regular expression engine
    checks for signals as it backtracks, so a stalled match fails the test instead of hanging it."""

    def interrupt(signum: int, frame: object) -> None:
        raise Stalled(f"the request was still running after {seconds} s: the pattern backtracks")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(("pattern", "number"), EVIL_PATTERNS.values(), ids=EVIL_PATTERNS.keys())
def test_an_adversarial_card_number_against_an_evil_pattern_is_refused_promptly(
        client, brand, admin, shopper, pattern, number):
    saved = client.patch(f"/v1/brands/{brand.id}", json={"card_number_pattern": pattern}, headers=admin)
    assert saved.status_code == 200 and saved.get_json()["card_number_pattern"] == pattern

    with watchdog(WATCHDOG_SECONDS):
        response = client.post("/v1/me/cards", json={"brand_id": str(brand.id), "number": number}, headers=shopper)

    body = response.get_json()
    assert (response.status_code, body["reason"]) == (422, "validation_failed")
    assert "number" in body["errors"]["json"]
    assert db.session.scalar(select(func.count()).select_from(Card)) == 0


def test_a_number_that_matches_an_evil_pattern_is_accepted(client, brand, admin, shopper):
    client.patch(f"/v1/brands/{brand.id}", json={"card_number_pattern": r"^(\d+)+$"}, headers=admin)
    response = client.post("/v1/me/cards", json={"brand_id": str(brand.id), "number": "1" * 30}, headers=shopper)
    assert response.status_code == 201 and response.get_json()["number"] == "1" * 30


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"^(\d)\1{12}$", "backreference"),
        (r"^(?=\d{13}$)4\d+$", "lookahead"),
        (r"^(?<!x)\d{13}$", "lookbehind"),
        (r"^(\d{100}){100}$", "repetition"),
        ("(unclosed", "missing )"),
        ("a" * 201, "200"),
    ],
    ids=["backreference", "lookahead", "lookbehind", "too-large", "unbalanced", "too-long"],
)
def test_a_pattern_that_cannot_be_matched_in_linear_time_is_refused_when_saved(
        client, brand, admin, pattern, why):
    response = client.patch(f"/v1/brands/{brand.id}", json={"card_number_pattern": pattern}, headers=admin)
    body = response.get_json()
    assert (response.status_code, body["reason"]) == (422, "validation_failed")
    [message] = body["errors"]["json"]["card_number_pattern"]
    assert why in message
    db.session.expire_all()
    assert db.session.scalar(select(Brand.card_number_pattern).where(Brand.id == brand.id)) is None
