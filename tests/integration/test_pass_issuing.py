"""A pass's short id is unique: a taken one is drawn again, in one statement per draw (no savepoint)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from wallet.extensions import db
from wallet.passes import codes
from wallet.passes import services as passes
from wallet.passes.models import COUPON, Pass


def test_a_short_id_already_taken_is_drawn_again(app, make_brand, make_shopper, monkeypatch):
    brand, shopper = make_brand(), make_shopper()
    first = passes.issue_pass(kind=COUPON, brand_id=brand.id, shopper_id=shopper.id)
    draws = iter([first.short_id, first.short_id, "ZZZZ2345"])
    monkeypatch.setattr(codes, "generate_short_id", lambda: next(draws))
    second = passes.issue_pass(kind=COUPON, brand_id=brand.id, shopper_id=shopper.id)
    db.session.commit()
    assert second.short_id == "ZZZZ2345" and second.id != first.id
    assert second.failed_attempts == 0 and second.created_at is not None and len(second.secret) >= 20
    assert db.session.scalar(select(func.count()).select_from(Pass)) == 2


def test_a_pass_is_refused_after_five_taken_draws(app, make_brand, make_shopper, monkeypatch):
    brand, shopper = make_brand(), make_shopper()
    first = passes.issue_pass(kind=COUPON, brand_id=brand.id, shopper_id=shopper.id)
    monkeypatch.setattr(codes, "generate_short_id", lambda: first.short_id)
    with pytest.raises(RuntimeError, match="unique pass short id"):
        passes.issue_pass(kind=COUPON, brand_id=brand.id, shopper_id=shopper.id)
    db.session.rollback()
