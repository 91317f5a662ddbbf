"""docs/errors.md lists every reason the API answers with, read from the code; it fails when a reason in
the code is missing from the document, or the document lists one the code no longer gives."""

import ast
import re

from wallet.core.error_catalogue import DOC_PATH, PACKAGE_DIR, collect_reasons, error_classes, errors_document, raise_sites
from wallet.passes.codes import PassCodeRefused
from wallet.passes.services import CodeRefused
from wallet.pos.tokens import TokenRefused


def _documented() -> set[str]:
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", DOC_PATH.read_text(), flags=re.M))


def test_the_committed_list_names_every_reason_of_the_code_and_no_other():
    in_code = {item.reason for item in collect_reasons()}
    documented = _documented()
    assert (sorted(in_code - documented), sorted(documented - in_code)) == ([], []), \
        "run `wallet export-errors` and commit docs/errors.md"
    assert DOC_PATH.read_text() == errors_document(), "run `wallet export-errors` and commit docs/errors.md"


def test_the_list_has_the_refusals_of_the_till_and_of_the_coupons():
    rows = {(item.reason, item.status) for item in collect_reasons()}
    assert {("coupon_already_redeemed", 409), ("coupon_expired", 409), ("coupon_void", 409),
            ("refund_exceeds_purchase", 422), ("code_locked", 429), ("code_forged", 422),
            ("token_other_store", 422), ("sign_in_locked", 429), ("malformed_json", 400),
            ("token_expired", 401), ("token_expired", 422)} <= rows


def test_a_reason_given_where_an_error_is_raised_is_read_with_its_status_and_message():
    source = (
        "def f():\n"
        "    raise Conflict('The shelf is full.', reason='shelf_full')\n"
        "def g(n):\n"
        "    raise CouponExpired(f'Expired {n} days ago.')\n"
    )
    assert raise_sites(source, error_classes()) == [("shelf_full", 409, "The shelf is full."),
                                                     ("coupon_expired", 409, "Expired … days ago.")]


def _literal_arguments(cls: type, position: int) -> set[str]:
    found = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == cls.__name__
                    and len(node.args) > position and isinstance(node.args[position], ast.Constant)):
                found.add(node.args[position].value)
    return found


def test_reasons_built_at_run_time_are_declared_by_their_class():
    code_whys = _literal_arguments(CodeRefused, 0) | {cls.reason for cls in PassCodeRefused.__subclasses__()}
    assert {f"code_{why}" for why in code_whys} == set(CodeRefused.REASONS)
    assert {f"token_{why}" for why in _literal_arguments(TokenRefused, 1)} == set(TokenRefused.REASONS)
