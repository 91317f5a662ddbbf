"""Erasure (GDPR art. 17): a shopper's personal data and credentials go at once.

What brands must keep for accounting (points ledgers, purchases, refunds, redeemed coupons and
their redemptions) is kept, but re-attached to a fresh, inactive placeholder account that holds
nothing personal and whose id is unrelated to the shopper's; member numbers and pass secrets are
replaced, so neither the brand's till nor an old screenshot leads back to the person. Everything
else goes with the shopper's row (the foreign keys cascade): profile, consents and their history,
sessions and refresh tokens (so access tokens stop at once), cards, passes, unredeemed coupons,
pending and past pushes, devices, presence and positions. Funnel figures are folded into the
aggregates first, and the shopper's funnel keys are re-keyed at random.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, exists, or_, select, update

from wallet.auth import secrets as auth_secrets
from wallet.auth import services as auth_services
from wallet.auth.services import PasswordIncorrect
from wallet.auth.models import Shopper, SignInThrottle
from wallet.auth.principal import Principal
from wallet.auth.tokens import SHOPPER_AUDIENCE
from wallet.cards.models import Card, Membership
from wallet.core.errors import NotFound
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.insights import history
from wallet.loyalty.models import LedgerEntry, LoyaltyAccount, Purchase, Refund
from wallet.offers.models import REDEEMED, Coupon
from wallet.passes import codes
from wallet.passes.models import Pass
from wallet.pos.models import Redemption

ERASED_DOMAIN = "erased.invalid"  # RFC 2606: can never be a real mailbox


@dataclass(frozen=True)
class Erasure:
    memberships_kept: int
    coupons_kept: int


def erase_shopper(*, principal: Principal, password: str) -> Erasure:
    """Erase the calling shopper, who confirms with their password (a stolen access token alone
    cannot erase an account); wrong passwords count towards the sign-in lockout."""
    shopper = db.session.get(Shopper, principal.id)
    if shopper is None:
        raise NotFound("Account not found.")
    throttle_key = f"{SHOPPER_AUDIENCE}:{shopper.email}"
    auth_services.claim_password_attempt(throttle_key, utcnow())  # the sign-in lockout guards this check too
    if not auth_secrets.verify_password(shopper.password_hash, password):
        raise PasswordIncorrect("The password is incorrect.", errors={"json": {"password": ["Incorrect."]}})
    with transaction() as session:
        shopper_id = shopper.id
        history.fold_removed(Coupon.shopper_id == shopper_id, Coupon.status != REDEEMED,
                             figures=(history.COUPON_FIGURES, history.PUSH_FIGURES))
        history.fold_removed(Coupon.shopper_id == shopper_id, Coupon.status == REDEEMED,
                             figures=(history.PUSH_FIGURES,))
        history.forget_shopper(shopper_id)
        kept = _keep_accounting_rows(shopper_id)
        session.execute(delete(SignInThrottle).where(SignInThrottle.key == throttle_key))
        session.execute(delete(Shopper).where(Shopper.id == shopper_id).execution_options(synchronize_session=False))
    return kept


def _keep_accounting_rows(shopper_id: uuid.UUID) -> Erasure:
    """Move what brands must keep onto a placeholder account; return what was kept."""
    session = db.session
    has_records = or_(exists().where(LedgerEntry.membership_id == Membership.id),
                      exists().where(Purchase.membership_id == Membership.id))
    memberships = session.execute(select(Membership.id, Membership.card_id, Membership.pass_id).where(
        Membership.shopper_id == shopper_id, has_records)).all()
    redeemed = session.execute(select(Coupon.id, Coupon.pass_id).where(
        Coupon.shopper_id == shopper_id, Coupon.status == REDEEMED)).all()
    for model in (LedgerEntry, Purchase, Refund, Redemption):  # a shopper's own acts (claiming a reward)
        session.execute(update(model).where(model.actor_id == shopper_id).values(actor_id=None)
                        .execution_options(synchronize_session=False))
    if not memberships and not redeemed:
        return Erasure(0, 0)
    placeholder = Shopper(id=uuid.uuid4(), email=f"{uuid.uuid4().hex}@{ERASED_DOMAIN}", password_hash="!",
                          display_name="Erased", locale="und", time_zone="UTC", birthday=None, consent_location=False,
                          consent_marketing=False, is_active=False)
    session.add(placeholder)
    session.flush()
    for membership_id, card_id, pass_id in memberships:
        number = _random_number()
        session.execute(update(Membership).where(Membership.id == membership_id)
                        .values(shopper_id=placeholder.id, member_number=number))
        session.execute(update(Card).where(Card.id == card_id).values(
            shopper_id=placeholder.id, number=number, label=None, dedupe_key=f"erased:{card_id}"))
        session.execute(update(LoyaltyAccount).where(LoyaltyAccount.membership_id == membership_id)
                        .values(tier_override_reason=None))
        _retire_pass(pass_id, placeholder.id)
    for coupon_id, pass_id in redeemed:
        session.execute(update(Coupon).where(Coupon.id == coupon_id).values(shopper_id=placeholder.id))
        _retire_pass(pass_id, placeholder.id)
    return Erasure(memberships_kept=len(memberships), coupons_kept=len(redeemed))


def _retire_pass(pass_id: uuid.UUID, owner_id: uuid.UUID) -> None:
    """A new secret: codes of the old pass (screenshots, the app's copy) no longer verify."""
    db.session.execute(update(Pass).where(Pass.id == pass_id).values(
        shopper_id=owner_id, secret=codes.generate_secret(), short_id=secrets.token_hex(8).upper()))


def _random_number() -> str:
    return "X" + "".join(secrets.choice("0123456789") for _ in range(15))
