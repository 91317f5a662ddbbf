"""Funnel CSV cells cannot run as spreadsheet formulas, whatever hides in front of the formula."""

from __future__ import annotations


import pytest

from wallet.insights.services import _csv_cell

FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+1", "-1+1", "@SUM(A1)", "\uff1dHYPERLINK(1)", "\uff0b1", "\uff0d1",
            "\uff20SUM(1)"]
IN_FRONT = ["", " ", "  ", "\t", "\r", "\n", "\r\n", "\u00a0", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
            "\u3000", ";", "\uff1b", " \u200b; "]


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("prefix", IN_FRONT, ids=[repr(p) for p in IN_FRONT])
def test_a_formula_behind_blanks_or_invisible_characters_is_neutralised(prefix, formula):
    cell = _csv_cell(prefix + formula)
    assert cell == "'" + prefix + formula


@pytest.mark.parametrize("text", ["\tTab first", "\rCarriage return", "\nNew line"])
def test_a_cell_starting_with_a_control_character_is_neutralised(text):
    assert _csv_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Châtelet", "Lumière - Bastille", "Store 42", "", "  Spaces then text = ok",
                                  "\u200bZero width then text", "l'Opéra"])
def test_ordinary_names_are_left_alone(text):
    assert _csv_cell(text) == text


def test_numbers_and_missing_values_are_written_as_such():
    assert (_csv_cell(-3), _csv_cell(0), _csv_cell(None)) == (-3, 0, "")
