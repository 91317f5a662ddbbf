"""Use cases of the wallet: add, list, rename and delete cards; enrol in programs; render codes."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from wallet.auth.principal import Principal
from wallet.brands.models import Brand, Store
from wallet.brands.patterns import matches_card_pattern
from wallet.cards.models import BYO, MEMBER, Card, Membership
from wallet.cards.numbers import random_member_number
from wallet.core.errors import Conflict, NotFound, ValidationFailed
from wallet.core.pagination import Page, paginate
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo.geometry import distance_m
from wallet.passes import services as passes
from wallet.passes.models import MEMBER_CARD, Pass
from wallet.passes.images import STATIC_MAX_AGE, PassImage, render_code, render_live_code
from wallet.passes.render import RenderOptions
from wallet.passes.symbologies import InvalidContent, Symbology, normalize_content
from wallet.privacy import services as privacy

MAX_CARDS = 300  # far above the 3.7 cards of the average shopper; bounds every wallet query
_SEPARATORS = re.compile(r"[\s-]+")
_NUMERIC = {Symbology.EAN13, Symbology.EAN8, Symbology.UPCA, Symbology.ITF}


@dataclass(frozen=True)
class WalletCard:
    """A card as listed, with where the nearest store of its brand is when the caller said where they are."""

    card: Card
    distance_m: float | None = None
    nearest_store: Store | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.card, name)


# --- bring-your-own cards -------------------------------------------------------------------


def add_card(
    *,
    principal: Principal,
    number: str,
    brand_id: uuid.UUID | None = None,
    shop_name: str | None = None,
    symbology: str | None = None,
    label: str | None = None,
) -> Card:
    """Add a loyalty card of a catalogue brand (checked against its format) or of any other shop."""
    if (brand_id is None) == (shop_name is None):
        raise ValidationFailed("Give either brand_id (a catalogue brand) or shop_name (any other shop).",
                               errors={"json": {"brand_id": ["Give brand_id or shop_name, not both."]}})
    with transaction() as session:
        if brand_id is not None:
            brand = session.get(Brand, brand_id)
            if brand is None or not brand.listed:
                raise ValidationFailed.on("brand_id", "No such brand in the catalogue.")
            if symbology is not None and symbology != brand.default_symbology:
                raise ValidationFailed.on("symbology", f"{brand.name} cards use {brand.default_symbology}.")
            chosen = Symbology(brand.default_symbology)
            number = _clean_number(number, chosen)
            if brand.card_number_pattern and not matches_card_pattern(brand.card_number_pattern, number):
                raise ValidationFailed.on(
                    "number", f"This is not a {brand.name} card number (expected {brand.card_number_pattern}).")
        else:
            if symbology is None:
                raise ValidationFailed.on("symbology", "Say which barcode the card carries.")
            chosen = Symbology(symbology)
            number = _clean_number(number, chosen)
        number = _encodable(chosen, number)
        # From the number as stored: "400638133393" and "4006381333931" are the same card.
        dedupe_key = _dedupe_key(brand_id=brand_id, shop_name=shop_name, number=number)
        _ensure_room(principal.id)
        if session.scalar(select(Card.id).where(Card.shopper_id == principal.id, Card.dedupe_key == dedupe_key)):
            raise Conflict("This card is already in your wallet.", reason="card_exists")
        card = Card(shopper_id=principal.id, kind=BYO, brand_id=brand_id, shop_name=shop_name, label=label,
                    number=number, symbology=chosen.value, dedupe_key=dedupe_key)
        session.add(card)
        try:
            session.flush()
        except IntegrityError:  # the same card added twice at once
            raise Conflict("This card is already in your wallet.", reason="card_exists") from None
    return card


def _dedupe_key(*, brand_id: uuid.UUID | None, shop_name: str | None, number: str) -> str:
    """What makes two cards of a wallet the same card: the brand or shop, and the normalised number."""
    if brand_id is not None:
        return f"brand:{brand_id}:{number}"
    return f"shop:{(shop_name or '').strip().casefold()}:{number}"


def _clean_number(number: str, symbology: Symbology) -> str:
    number = number.strip()
    # People type "4006 3813 3393 1"; spaces and hyphens are never part of a numeric barcode.
    return _SEPARATORS.sub("", number) if symbology in _NUMERIC else number


def _encodable(symbology: Symbology, number: str) -> str:
    try:
        return normalize_content(symbology, number)
    except InvalidContent as error:
        raise ValidationFailed.on("number", str(error)) from None


def _ensure_room(shopper_id: uuid.UUID) -> None:
    count = db.session.scalar(select(func.count()).select_from(Card).where(Card.shopper_id == shopper_id)) or 0
    if count >= MAX_CARDS:
        raise Conflict(f"A wallet holds at most {MAX_CARDS} cards.", reason="wallet_full")


def list_cards(
    *, principal: Principal, near: tuple[float, float] | None, page: int, page_size: int
) -> Page[WalletCard]:
    """The wallet, newest first; with ``near=(lat, lon)``, the card of the closest store first."""
    cards = list(db.session.scalars(
        select(Card).where(Card.shopper_id == principal.id).order_by(Card.created_at.desc(), Card.id)
    ).unique())
    entries = [WalletCard(card) for card in cards]
    if near is not None:
        entries = _by_distance(entries, near)
    start = (page - 1) * page_size
    return Page(items=entries[start:start + page_size], total=len(entries))


def _by_distance(entries: list[WalletCard], near: tuple[float, float]) -> list[WalletCard]:
    brand_ids = {entry.card.brand_id for entry in entries if entry.card.brand_id}
    nearest: dict[uuid.UUID, tuple[float, Store]] = {}
    if brand_ids:
        for store in db.session.scalars(select(Store).where(Store.brand_id.in_(brand_ids),
                                                            Store.archived_at.is_(None))):
            distance = distance_m(near[0], near[1], store.location.y, store.location.x)
            if store.brand_id not in nearest or distance < nearest[store.brand_id][0]:
                nearest[store.brand_id] = (distance, store)
    located = []
    for entry in entries:
        found = nearest.get(entry.card.brand_id) if entry.card.brand_id else None
        located.append(WalletCard(entry.card, round(found[0], 1), found[1]) if found else entry)
    # Stable sort: cards with no store keep their newest-first order, after every located card.
    return sorted(located, key=lambda e: (e.distance_m is None, e.distance_m or 0.0))


def get_card(*, principal: Principal, card_id: uuid.UUID) -> Card:
    card = db.session.get(Card, card_id)
    if card is None or card.shopper_id != principal.id:
        raise NotFound("Card not found.")
    return card


def update_card(*, principal: Principal, card_id: uuid.UUID, changes: dict[str, Any]) -> Card:
    with transaction():
        card = get_card(principal=principal, card_id=card_id)
        if "shop_name" in changes and card.shop_name is None:
            raise ValidationFailed.on("shop_name", "Only cards of shops outside the catalogue have a shop name.")
        for name, value in changes.items():
            setattr(card, name, value)
        if "shop_name" in changes:
            card.dedupe_key = _dedupe_key(brand_id=card.brand_id, shop_name=card.shop_name, number=card.number)
        try:
            db.session.flush()
        except IntegrityError:
            raise Conflict("This card is already in your wallet.", reason="card_exists") from None
    return card


def delete_card(*, principal: Principal, card_id: uuid.UUID) -> None:
    with transaction() as session:
        card = get_card(principal=principal, card_id=card_id)
        if card.kind == MEMBER:
            raise Conflict("A member card goes with its membership of the brand's program.", reason="member_card")
        session.delete(card)


# --- memberships ----------------------------------------------------------------------------


def enrol(*, principal: Principal, brand_id: uuid.UUID) -> Membership:
    """Join a brand's program: a member card with a new member number, and an opt-in to the brand."""
    with transaction() as session:
        brand = session.get(Brand, brand_id)
        if brand is None or not brand.listed:
            raise ValidationFailed.on("brand_id", "No such brand in the catalogue.")
        existing = session.scalar(
            select(Membership.id).where(Membership.shopper_id == principal.id, Membership.brand_id == brand_id))
        if existing is not None:
            raise Conflict("You are already a member of this brand's program.", reason="already_member")
        _ensure_room(principal.id)
        pass_ = passes.issue_pass(kind=MEMBER_CARD, brand_id=brand_id, shopper_id=principal.id)
        number = _new_member_number(brand_id)
        card = Card(shopper_id=principal.id, kind=MEMBER, brand_id=brand_id, number=number,
                    symbology=Symbology.QR.value, dedupe_key=f"brand:{brand_id}:{number}", label=brand.name)
        session.add(card)
        session.flush()
        membership = Membership(shopper_id=principal.id, brand_id=brand_id, member_number=number,
                                card_id=card.id, pass_id=pass_.id)
        session.add(membership)
        privacy.record_brand_consent(shopper_id=principal.id, brand_id=brand_id, opted_in=True, source="enrolment")
        try:
            session.flush()
        except IntegrityError:  # a concurrent enrolment of the same shopper in the same brand
            raise Conflict("You are already a member of this brand's program.", reason="already_member") from None
    return membership


def _new_member_number(brand_id: uuid.UUID) -> str:
    for _ in range(10):
        number = random_member_number()
        taken = db.session.scalar(
            select(Membership.id).where(Membership.brand_id == brand_id, Membership.member_number == number))
        if taken is None:
            return number
    raise RuntimeError("could not allocate a unique member number")


def list_memberships(*, principal: Principal, page: int, page_size: int) -> Page[Membership]:
    query = select(Membership).where(Membership.shopper_id == principal.id).order_by(Membership.enrolled_at.desc())
    return paginate(query, page=page, page_size=page_size)


def membership_pass(*, principal: Principal, card_id: uuid.UUID) -> passes.PassDescriptor:
    """The rotating-code parameters of a member card, for showing it offline."""
    card = get_card(principal=principal, card_id=card_id)
    if card.membership is None:
        raise Conflict("Cards you brought carry their shop's own number; render its barcode instead.",
                       reason="not_a_member_card")
    pass_ = db.session.get(Pass, card.membership.pass_id)
    assert pass_ is not None
    return passes.describe_pass(pass_)


# --- rendering ------------------------------------------------------------------------------


def render_card(*, principal: Principal, card_id: uuid.UUID, options: RenderOptions) -> PassImage:
    """The barcode to show at the till: the card's number, or the live rotating code of a member card."""
    card = get_card(principal=principal, card_id=card_id)
    if card.membership is not None:
        pass_ = db.session.get(Pass, card.membership.pass_id)
        assert pass_ is not None
        return render_live_code(pass_, options)
    return render_code(card.number, Symbology(card.symbology), options, max_age=STATIC_MAX_AGE)
