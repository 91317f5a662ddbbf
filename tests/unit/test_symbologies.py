"""Check digits and the content rules of each symbology."""

from __future__ import annotations

import re

import pytest

from wallet.passes.symbologies import (
    InvalidContent,
    Symbology,
    gtin_check_digit,
    is_valid_luhn,
    luhn_check_digit,
    normalize_content,
)


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("400638133393", 1),  # EAN-13 4006381333931
        ("590123412345", 7),  # EAN-13 5901234123457
        ("9638507", 4),  # EAN-8 96385074
        ("03600029145", 2),  # UPC-A 036000291452
    ],
)
def test_gtin_check_digit_of_real_codes(body: str, check: int) -> None:
    assert gtin_check_digit(body) == check


def test_gtin_check_digit_refuses_non_digits() -> None:
    with pytest.raises(ValueError):
        gtin_check_digit("40063813339X")


def test_luhn_check_digit_of_the_classic_example() -> None:
    assert luhn_check_digit("7992739871") == 3


def test_luhn_accepts_a_valid_number() -> None:
    assert is_valid_luhn("79927398713")


@pytest.mark.parametrize("number", ["79927398710", "79927398731", "", "7", "7992739871X", "٧٩"])
def test_luhn_rejects_wrong_check_digits_and_non_numbers(number: str) -> None:
    assert not is_valid_luhn(number)


def test_symbology_is_looked_up_by_its_api_value() -> None:
    assert Symbology("ean13") is Symbology.EAN13
    assert Symbology.CODE128 == "code128"


@pytest.mark.parametrize(
    ("symbology", "body", "full"),
    [
        (Symbology.EAN13, "400638133393", "4006381333931"),
        (Symbology.EAN8, "9638507", "96385074"),
        (Symbology.UPCA, "03600029145", "036000291452"),
    ],
)
def test_gtin_body_gets_its_check_digit_and_full_number_is_kept(
    symbology: Symbology, body: str, full: str
) -> None:
    assert normalize_content(symbology, body) == full
    assert normalize_content(symbology, full) == full


def test_ean13_with_wrong_check_digit_is_refused() -> None:
    with pytest.raises(InvalidContent, match="^EAN-13 check digit is 2, expected 1$"):
        normalize_content(Symbology.EAN13, "4006381333932")


def test_ean8_with_wrong_check_digit_is_refused() -> None:
    with pytest.raises(InvalidContent, match="^EAN-8 check digit is 5, expected 4$"):
        normalize_content(Symbology.EAN8, "96385075")


def test_upca_with_wrong_check_digit_is_refused() -> None:
    with pytest.raises(InvalidContent, match="^UPC-A check digit is 3, expected 2$"):
        normalize_content(Symbology.UPCA, "036000291453")


@pytest.mark.parametrize(
    "content", ["40063813339A", "4006-3813339", " 400638133393", "４００６３８１３３３９３"]
)
def test_ean13_with_anything_but_ascii_digits_is_refused(content: str) -> None:
    with pytest.raises(InvalidContent, match="^EAN-13 takes digits only$"):
        normalize_content(Symbology.EAN13, content)


@pytest.mark.parametrize(
    ("symbology", "content"),
    [
        (Symbology.EAN13, "40063813339"),
        (Symbology.EAN13, "40063813339312"),
        (Symbology.EAN8, "963850"),
        (Symbology.EAN8, "963850745"),
        (Symbology.UPCA, "0360002914"),
        (Symbology.UPCA, "0360002914520"),
    ],
)
def test_gtin_of_the_wrong_length_is_refused(symbology: Symbology, content: str) -> None:
    with pytest.raises(InvalidContent, match=f"^{symbology.label} takes .* not {len(content)}$"):
        normalize_content(symbology, content)


@pytest.mark.parametrize("symbology", list(Symbology))
@pytest.mark.parametrize("content", ["", "   ", "\t\n"])
def test_empty_or_blank_content_is_refused(symbology: Symbology, content: str) -> None:
    with pytest.raises(InvalidContent, match="is empty$"):
        normalize_content(symbology, content)


def test_code128_takes_printable_ascii_as_is() -> None:
    content = " Wallet-128 #42 ~ok "
    assert normalize_content(Symbology.CODE128, content) == content


@pytest.mark.parametrize("char", ["\x01", "\x7f", "é", "\n"])
def test_code128_with_non_printable_ascii_is_refused(char: str) -> None:
    with pytest.raises(InvalidContent, match=f"^Code 128 cannot encode {re.escape(repr(char))};"):
        normalize_content(Symbology.CODE128, f"AB{char}")


def test_code128_longer_than_80_characters_is_refused() -> None:
    assert normalize_content(Symbology.CODE128, "x" * 80) == "x" * 80
    message = "^Code 128 content is 81 characters; the maximum is 80$"
    with pytest.raises(InvalidContent, match=message):
        normalize_content(Symbology.CODE128, "x" * 81)


def test_code39_takes_its_whole_charset() -> None:
    content = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -.$/+%"
    assert normalize_content(Symbology.CODE39, content) == content


def test_code39_with_lowercase_is_refused_not_uppercased() -> None:
    message = "^Code 39 cannot encode 'a'; it takes A-Z, 0-9, space and - . \\$ / \\+ %$"
    with pytest.raises(InvalidContent, match=message):
        normalize_content(Symbology.CODE39, "ABa")


@pytest.mark.parametrize("char", ["*", "_", "#", "Ä"])
def test_code39_with_characters_outside_its_charset_is_refused(char: str) -> None:
    with pytest.raises(InvalidContent, match="^Code 39 cannot encode"):
        normalize_content(Symbology.CODE39, f"AB{char}")


def test_code39_longer_than_43_characters_is_refused() -> None:
    assert normalize_content(Symbology.CODE39, "A" * 43) == "A" * 43
    message = "^Code 39 content is 44 characters; the maximum is 43$"
    with pytest.raises(InvalidContent, match=message):
        normalize_content(Symbology.CODE39, "A" * 44)


def test_itf_takes_an_even_number_of_digits() -> None:
    assert normalize_content(Symbology.ITF, "1234") == "1234"
    assert normalize_content(Symbology.ITF, "1" * 30) == "1" * 30


def test_itf_with_an_odd_number_of_digits_is_refused_not_padded() -> None:
    with pytest.raises(InvalidContent, match="^ITF needs an even number of digits$"):
        normalize_content(Symbology.ITF, "12345")


def test_itf_longer_than_30_digits_is_refused() -> None:
    with pytest.raises(InvalidContent, match="^ITF takes 4 to 30 digits, not 32$"):
        normalize_content(Symbology.ITF, "1" * 32)


def test_itf_of_a_single_pair_is_refused() -> None:
    with pytest.raises(InvalidContent, match="^ITF takes 4 to 30 digits, not 2$"):
        normalize_content(Symbology.ITF, "12")


def test_itf_with_letters_is_refused() -> None:
    with pytest.raises(InvalidContent, match="^ITF takes digits only$"):
        normalize_content(Symbology.ITF, "12AB")


def test_qr_takes_any_text_up_to_1024_utf8_bytes() -> None:
    assert normalize_content(Symbology.QR, "x" * 1024) == "x" * 1024
    assert normalize_content(Symbology.QR, "Café ✓") == "Café ✓"


def test_qr_content_is_measured_in_utf8_bytes_not_characters() -> None:
    message = "^QR content is 1026 bytes in UTF-8; the maximum is 1024$"
    with pytest.raises(InvalidContent, match=message):
        normalize_content(Symbology.QR, "é" * 513)


def test_qr_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidContent, match="not valid Unicode"):
        normalize_content(Symbology.QR, "ab\ud800")
