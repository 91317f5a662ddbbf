"""HTTP endpoints of the shopper's wallet: cards, program memberships, barcodes and passes."""

from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.principal import SHOPPER
from wallet.cards import services
from wallet.cards.schemas import (
    BarcodeQueryArgsSchema,
    CardCreateSchema,
    CardQueryArgsSchema,
    CardSchema,
    CardUpdateSchema,
    MembershipCreateSchema,
    MembershipSchema,
    PassSchema,
)
from wallet.core.pagination import paged
from wallet.passes.images import IMAGE_CONTENT, image_response
from wallet.passes.render import RenderOptions

blp = Blueprint("cards", __name__, url_prefix="/v1/me", description="The shopper's wallet (shoppers)")


@blp.route("/cards")
class Cards(MethodView):
    @requires(SHOPPER)
    @blp.arguments(CardQueryArgsSchema, location="query")
    @blp.response(200, CardSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """The wallet's cards; with near=lat,lon the card of the closest store comes first"""
        page = services.list_cards(principal=current_principal(), near=args.get("near"),
                                   page=pagination_parameters.page, page_size=pagination_parameters.page_size)
        return paged(page, pagination_parameters)

    @requires(SHOPPER)
    @blp.arguments(CardCreateSchema)
    @blp.response(201, CardSchema)
    @blp.alt_response(409, description="The card is already in the wallet")
    def post(self, data):
        """Add a loyalty card of a catalogue brand or of any shop"""
        return services.add_card(principal=current_principal(), **data)


@blp.route("/cards/<uuid:card_id>")
class CardById(MethodView):
    @requires(SHOPPER)
    @blp.response(200, CardSchema)
    @blp.alt_response(404, description="No such card in your wallet")
    def get(self, card_id):
        """One card"""
        return services.get_card(principal=current_principal(), card_id=card_id)

    @requires(SHOPPER)
    @blp.arguments(CardUpdateSchema)
    @blp.response(200, CardSchema)
    @blp.alt_response(404, description="No such card in your wallet")
    def patch(self, changes, card_id):
        """Rename a card"""
        return services.update_card(principal=current_principal(), card_id=card_id, changes=changes)

    @requires(SHOPPER)
    @blp.response(204)
    @blp.alt_response(404, description="No such card in your wallet")
    @blp.alt_response(409, description="Member cards go with their membership")
    def delete(self, card_id):
        """Remove a card you brought"""
        services.delete_card(principal=current_principal(), card_id=card_id)


@blp.route("/cards/<uuid:card_id>/barcode")
class CardBarcode(MethodView):
    @requires(SHOPPER)
    @blp.arguments(BarcodeQueryArgsSchema, location="query")
    @blp.response(200, description="The card's barcode (PNG or SVG); a member card's live rotating QR code")
    @blp.doc(responses={200: {"content": IMAGE_CONTENT}, "304": {"description": "Not modified (ETag)"}})
    @blp.alt_response(404, description="No such card in your wallet")
    def get(self, args, card_id):
        """The card's code as an image, to show at the till"""
        rendered = services.render_card(principal=current_principal(), card_id=card_id, options=RenderOptions(**args))
        return image_response(rendered)


@blp.route("/cards/<uuid:card_id>/pass")
class CardPass(MethodView):
    @requires(SHOPPER)
    @blp.response(200, PassSchema)
    @blp.alt_response(404, description="No such card in your wallet")
    @blp.alt_response(409, description="Not a member card")
    def get(self, card_id):
        """A member card's rotating-code parameters (TOTP), to show the pass offline"""
        return services.membership_pass(principal=current_principal(), card_id=card_id)


@blp.route("/memberships")
class Memberships(MethodView):
    @requires(SHOPPER)
    @blp.response(200, MembershipSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """The loyalty programs the shopper belongs to"""
        page = services.list_memberships(principal=current_principal(), page=pagination_parameters.page,
                                         page_size=pagination_parameters.page_size)
        return paged(page, pagination_parameters)

    @requires(SHOPPER)
    @blp.arguments(MembershipCreateSchema)
    @blp.response(201, MembershipSchema)
    @blp.alt_response(409, description="Already a member")
    def post(self, data):
        """Join a brand's loyalty program: a member card, and an opt-in to that brand"""
        return services.enrol(principal=current_principal(), **data)
