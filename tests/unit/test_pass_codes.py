"""Rotating pass codes: TOTP vectors, QR payload, typed fallback, every way a code is refused."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wallet.passes.codes import (
    CROCKFORD_ALPHABET,
    CROCKFORD_CHECK_SYMBOLS,
    DRIFT_STEPS,
    PERIOD,
    ExpiredCode,
    ForgedCode,
    MalformedCode,
    NotYetValidCode,
    ParsedFallbackCode,
    ParsedPassCode,
    PassCodeRefused,
    ReplayedCode,
    format_fallback_code,
    format_pass_code,
    generate_secret,
    generate_short_id,
    parse_fallback_code,
    parse_pass_code,
    step_at,
    totp,
    verify_fallback_code,
    verify_pass_code,
)

RFC_SECRET = b"12345678901234567890"
SECRET = bytes(range(20))
OTHER_SECRET = bytes(range(20, 40))
SHORT_ID = "K3M9QXAB"
NOW = 1_700_000_015.0
STEP = step_at(NOW)


def scan(step: int, *, secret: bytes = SECRET, short_id: str = SHORT_ID) -> ParsedPassCode:
    return parse_pass_code(format_pass_code("M", short_id, secret, step))


@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_totp_matches_rfc6238_sha1_test_vectors(unix_time: int, expected: str) -> None:
    assert totp(RFC_SECRET, step_at(unix_time), digits=8) == expected


def test_step_is_the_30_second_window_containing_the_time() -> None:
    assert PERIOD == 30
    assert (step_at(0), step_at(29.999), step_at(30), step_at(59)) == (0, 0, 1, 1)


def test_six_digit_totp_is_the_tail_of_the_eight_digit_one() -> None:
    assert totp(RFC_SECRET, 1) == "94287082"
    assert totp(RFC_SECRET, 1, digits=6) == "287082"


def test_totp_refuses_a_short_secret() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        totp(b"short", 1)


def test_secrets_are_20_random_bytes() -> None:
    first, second = generate_secret(), generate_secret()
    assert len(first) == 20 and first != second


def test_short_ids_are_random_crockford_base32() -> None:
    short_id = generate_short_id()
    assert re.fullmatch(f"[{CROCKFORD_ALPHABET}]{{8}}", short_id)
    assert len(generate_short_id(12)) == 12
    assert len({generate_short_id() for _ in range(20)}) == 20


def test_pass_code_uses_only_qr_alphanumeric_characters() -> None:
    code = format_pass_code("C", SHORT_ID, SECRET, STEP)
    assert code == f"W1.C.K3M9QXAB.{STEP}.{totp(SECRET, STEP)}"
    assert re.fullmatch(r"[0-9A-Z $%*+\-./:]+", code)


def test_pass_code_parses_back_to_its_parts() -> None:
    code = format_pass_code("M", SHORT_ID, SECRET, STEP)
    assert parse_pass_code(f"  {code}\n") == ParsedPassCode("M", SHORT_ID, STEP, totp(SECRET, STEP))


def test_fresh_pass_code_is_accepted() -> None:
    assert verify_pass_code(scan(STEP), SECRET, now=NOW, last_accepted_step=None) == STEP


@pytest.mark.parametrize("drift", [-DRIFT_STEPS, DRIFT_STEPS])
def test_pass_code_one_step_off_is_accepted(drift: int) -> None:
    accepted = verify_pass_code(scan(STEP + drift), SECRET, now=NOW, last_accepted_step=None)
    assert accepted == STEP + drift


def test_pass_code_two_steps_old_is_expired() -> None:
    with pytest.raises(ExpiredCode, match="expired"):
        verify_pass_code(scan(STEP - 2), SECRET, now=NOW, last_accepted_step=None)


@pytest.mark.parametrize("ahead", [DRIFT_STEPS + 1, 3, 40])
def test_pass_code_steps_ahead_is_not_yet_valid_not_expired(ahead: int) -> None:
    with pytest.raises(NotYetValidCode, match="clock") as refused:
        verify_pass_code(scan(STEP + ahead), SECRET, now=NOW, last_accepted_step=None)
    assert refused.value.reason == "not_yet_valid" and not isinstance(refused.value, ExpiredCode)


def test_a_forged_code_from_the_future_is_forged() -> None:
    future = scan(STEP + 3)
    with pytest.raises(ForgedCode):
        verify_pass_code(ParsedPassCode("M", SHORT_ID, future.step, f"{(int(future.otp) + 1) % 10**8:08d}"),
                         SECRET, now=NOW, last_accepted_step=None)


def test_pass_code_with_a_tampered_otp_digit_is_forged() -> None:
    genuine = scan(STEP)
    digit = str((int(genuine.otp[-1]) + 1) % 10)
    tampered = ParsedPassCode("M", SHORT_ID, STEP, genuine.otp[:-1] + digit)
    with pytest.raises(ForgedCode):
        verify_pass_code(tampered, SECRET, now=NOW, last_accepted_step=None)


def test_pass_code_with_a_tampered_step_is_forged() -> None:
    genuine = scan(STEP)
    tampered = ParsedPassCode(genuine.kind, genuine.short_id, STEP + 1, genuine.otp)
    with pytest.raises(ForgedCode):
        verify_pass_code(tampered, SECRET, now=NOW, last_accepted_step=None)


def test_pass_code_with_a_tampered_short_id_is_forged() -> None:
    # Swapping in another pass's id makes the verifier use that pass's secret.
    genuine = scan(STEP)
    tampered = ParsedPassCode(genuine.kind, "ZZZZ0000", genuine.step, genuine.otp)
    with pytest.raises(ForgedCode):
        verify_pass_code(tampered, OTHER_SECRET, now=NOW, last_accepted_step=None)


def test_forged_code_is_reported_as_forged_even_when_its_step_is_old() -> None:
    old = scan(STEP - 100, secret=OTHER_SECRET)
    with pytest.raises(ForgedCode):
        verify_pass_code(old, SECRET, now=NOW, last_accepted_step=STEP)


def test_pass_code_used_twice_is_replayed() -> None:
    code = scan(STEP)
    accepted = verify_pass_code(code, SECRET, now=NOW, last_accepted_step=None)
    with pytest.raises(ReplayedCode):
        verify_pass_code(code, SECRET, now=NOW + 5, last_accepted_step=accepted)


def test_older_code_after_a_newer_one_was_accepted_is_replayed() -> None:
    with pytest.raises(ReplayedCode):
        verify_pass_code(scan(STEP - 1), SECRET, now=NOW, last_accepted_step=STEP)


def test_next_code_after_an_accepted_one_is_accepted() -> None:
    later = NOW + PERIOD
    assert verify_pass_code(scan(STEP + 1), SECRET, now=later, last_accepted_step=STEP) == STEP + 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "W1.M.K3M9QXAB.56666667.12345678" + "0" * 40,
        "W2.M.K3M9QXAB.56666667.12345678",
        "w1.m.k3m9qxab.56666667.12345678",
        "W1.m.K3M9QXAB.56666667.12345678",
        "W1.MM.K3M9QXAB.56666667.12345678",
        "W1.M.K3M9QXAU.56666667.12345678",  # U is not Crockford base32
        "W1.M.K3M.56666667.12345678",
        "W1.M.K3M9QXAB.056666667.12345678",  # leading zero: two spellings of one step
        "W1.M.K3M9QXAB.-1.12345678",
        "W1.M.K3M9QXAB.56666667.1234567",
        "W1.M.K3M9QXAB.56666667.123456789",
        "W1.M.K3M9QXAB.56666667",
        "W1:M:K3M9QXAB:56666667:12345678",
        "W1.M.K3M9QXAB.56666667.12345678.",
        "W1.M.K3M9QXAB.５６６６.12345678",
        "https://example.com/W1.M.K3M9QXAB.56666667.12345678",
    ],
)
def test_anything_outside_the_pass_code_format_is_malformed(text: str) -> None:
    with pytest.raises(MalformedCode) as refused:
        parse_pass_code(text)
    assert refused.value.reason == "malformed"


def test_every_refusal_is_a_value_error_with_a_one_word_reason() -> None:
    reasons = {
        cls: cls.reason for cls in (MalformedCode, ForgedCode, ExpiredCode, NotYetValidCode, ReplayedCode)
    }
    assert reasons == {
        MalformedCode: "malformed",
        ForgedCode: "forged",
        ExpiredCode: "expired",
        NotYetValidCode: "not_yet_valid",
        ReplayedCode: "replayed",
    }
    assert all(issubclass(cls, PassCodeRefused) for cls in reasons)
    assert issubclass(PassCodeRefused, ValueError)


def test_fallback_code_is_grouped_for_reading() -> None:
    code = format_fallback_code(SHORT_ID, SECRET, STEP)
    otp6 = totp(SECRET, STEP, digits=6)
    assert re.fullmatch(f"K3M9-QXAB-{otp6}-[{re.escape(CROCKFORD_CHECK_SYMBOLS)}]", code)


def test_fallback_code_round_trips_and_is_accepted() -> None:
    parsed = parse_fallback_code(format_fallback_code(SHORT_ID, SECRET, STEP))
    assert parsed == ParsedFallbackCode(SHORT_ID, totp(SECRET, STEP, digits=6))
    assert verify_fallback_code(parsed, SECRET, now=NOW, last_accepted_step=None) == STEP


def test_fallback_code_typed_in_lowercase_with_spaces_is_read() -> None:
    code = format_fallback_code(SHORT_ID, SECRET, STEP)
    typed = " " + code.lower().replace("-", " ") + " "
    assert parse_fallback_code(typed) == parse_fallback_code(code)


def test_fallback_code_accepts_crockford_look_alike_letters() -> None:
    short_id = "K0M1QX10"
    code = format_fallback_code(short_id, SECRET, STEP)
    typed = code.replace("0", "O").replace("1", "l", 1).replace("1", "I")
    assert typed != code
    assert parse_fallback_code(typed) == parse_fallback_code(code)


def test_fallback_code_with_one_typo_fails_the_check_character() -> None:
    code = format_fallback_code(SHORT_ID, SECRET, STEP)
    typo = ("X" if code[0] != "X" else "Y") + code[1:]
    with pytest.raises(MalformedCode, match="^check character does not match$"):
        parse_fallback_code(typo)


@settings(database=None)
@given(
    short_id=st.text(CROCKFORD_ALPHABET, min_size=8, max_size=8),
    secret=st.binary(min_size=20, max_size=20),
    step=st.integers(min_value=0, max_value=2**40),
    data=st.data(),
)
def test_any_single_character_substitution_in_a_fallback_code_is_detected(
    short_id: str, secret: bytes, step: int, data: st.DataObject
) -> None:
    code = format_fallback_code(short_id, secret, step)
    positions = [i for i, char in enumerate(code) if char != "-"]
    position = data.draw(st.sampled_from(positions))
    # The check character has 37 possible symbols; every other position holds base 32.
    symbols = CROCKFORD_CHECK_SYMBOLS if position == positions[-1] else CROCKFORD_ALPHABET
    replacement = data.draw(st.sampled_from([s for s in symbols if s != code[position]]))
    typo = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(MalformedCode, match="^check character does not match$"):
        parse_fallback_code(typo)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "K3M9-QXAB",
        "K3M9-QXAB-482913-Z" + "-0000" * 12,
        "K3M9-QXAB-482913-#",
        "K3M9-QXUB-482913-Z",  # U is only a check symbol
    ],
)
def test_fallback_code_outside_the_format_is_malformed(text: str) -> None:
    with pytest.raises(MalformedCode):
        parse_fallback_code(text)


@pytest.mark.parametrize("drift", [-DRIFT_STEPS, DRIFT_STEPS])
def test_fallback_code_one_step_off_is_accepted(drift: int) -> None:
    parsed = parse_fallback_code(format_fallback_code(SHORT_ID, SECRET, STEP + drift))
    assert verify_fallback_code(parsed, SECRET, now=NOW, last_accepted_step=None) == STEP + drift


@pytest.mark.parametrize("drift", [-2, 2])
def test_fallback_code_two_steps_off_is_refused_as_forged(drift: int) -> None:
    # Without a step in the code, expired and forged look the same.
    parsed = parse_fallback_code(format_fallback_code(SHORT_ID, SECRET, STEP + drift))
    with pytest.raises(ForgedCode):
        verify_fallback_code(parsed, SECRET, now=NOW, last_accepted_step=None)


def test_fallback_code_for_another_pass_is_forged() -> None:
    parsed = parse_fallback_code(format_fallback_code(SHORT_ID, OTHER_SECRET, STEP))
    with pytest.raises(ForgedCode):
        verify_fallback_code(parsed, SECRET, now=NOW, last_accepted_step=None)


def test_fallback_code_used_twice_is_replayed() -> None:
    parsed = parse_fallback_code(format_fallback_code(SHORT_ID, SECRET, STEP))
    accepted = verify_fallback_code(parsed, SECRET, now=NOW, last_accepted_step=None)
    with pytest.raises(ReplayedCode):
        verify_fallback_code(parsed, SECRET, now=NOW + 10, last_accepted_step=accepted)
