"""HTTP endpoints of offers (brand staff) and of the shopper's coupons."""

from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.models import Role
from wallet.auth.principal import SHOPPER
from wallet.cards.schemas import BarcodeQueryArgsSchema, PassSchema
from wallet.core.pagination import paged
from wallet.offers import services
from wallet.offers.schemas import (
    CouponQueryArgsSchema,
    CouponSchema,
    OfferCreateSchema,
    OfferQueryArgsSchema,
    OfferSchema,
    OfferUpdateSchema,
)
from wallet.passes.images import IMAGE_CONTENT, image_response
from wallet.passes.render import RenderOptions

blp = Blueprint("offers", __name__, url_prefix="/v1/brands",
                description="Geofenced offers (brand admins and marketers)")
coupons_blp = Blueprint("coupons", __name__, url_prefix="/v1/me", description="The shopper's coupons (shoppers)")

MANAGERS = (Role.PLATFORM_ADMIN, Role.BRAND_ADMIN, Role.MARKETER)
NOT_FOUND = "No such offer in your brand"
NOT_YOURS = "No such coupon in your wallet"


@blp.route("/<uuid:brand_id>/offers")
class Offers(MethodView):
    @requires(*MANAGERS)
    @blp.arguments(OfferQueryArgsSchema, location="query")
    @blp.response(200, OfferSchema(many=True))
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.paginate()
    def get(self, args, brand_id, pagination_parameters):
        """The brand's offers, newest first"""
        page = services.list_offers(
            principal=current_principal(), brand_id=brand_id, status=args.get("status"),
            page=pagination_parameters.page, page_size=pagination_parameters.page_size,
        )
        return paged(page, pagination_parameters)

    @requires(*MANAGERS)
    @blp.arguments(OfferCreateSchema)
    @blp.response(201, OfferSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def post(self, data, brand_id):
        """Create an offer (a draft until activated)"""
        return services.create_offer(principal=current_principal(), brand_id=brand_id, data=data)


@blp.route("/<uuid:brand_id>/offers/<uuid:offer_id>")
class OfferById(MethodView):
    @requires(*MANAGERS)
    @blp.response(200, OfferSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, brand_id, offer_id):
        """One offer"""
        return services.get_offer(principal=current_principal(), brand_id=brand_id, offer_id=offer_id)

    @requires(*MANAGERS)
    @blp.arguments(OfferUpdateSchema)
    @blp.response(200, OfferSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="The offer has ended (reason offer_ended)")
    def patch(self, changes, brand_id, offer_id):
        """Change an offer; reward, content, schedule and geofence_ids are replaced whole"""
        return services.update_offer(principal=current_principal(), brand_id=brand_id, offer_id=offer_id,
                                     changes=changes)

    @requires(*MANAGERS)
    @blp.response(204)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="Not a draft: end the offer instead (reason offer_not_draft)")
    def delete(self, brand_id, offer_id):
        """Delete a draft offer"""
        services.delete_offer(principal=current_principal(), brand_id=brand_id, offer_id=offer_id)


@blp.route("/<uuid:brand_id>/offers/<uuid:offer_id>/activate")
class OfferActivation(MethodView):
    @requires(*MANAGERS)
    @blp.response(200, OfferSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="Not a draft or paused offer (invalid_transition), or valid_until past "
                                       "or no geofences (offer_incomplete)")
    def post(self, brand_id, offer_id):
        """Start issuing coupons (draft or paused → active)"""
        return services.activate_offer(principal=current_principal(), brand_id=brand_id, offer_id=offer_id)


@blp.route("/<uuid:brand_id>/offers/<uuid:offer_id>/pause")
class OfferPause(MethodView):
    @requires(*MANAGERS)
    @blp.response(200, OfferSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="Not an active offer (reason invalid_transition)")
    def post(self, brand_id, offer_id):
        """Stop issuing for a while (active → paused)"""
        return services.pause_offer(principal=current_principal(), brand_id=brand_id, offer_id=offer_id)


@blp.route("/<uuid:brand_id>/offers/<uuid:offer_id>/end")
class OfferEnd(MethodView):
    @requires(*MANAGERS)
    @blp.response(200, OfferSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="Already ended (reason invalid_transition)")
    def post(self, brand_id, offer_id):
        """Stop issuing for good (ended is final; coupons already issued stay valid)"""
        return services.end_offer(principal=current_principal(), brand_id=brand_id, offer_id=offer_id)


@coupons_blp.route("/coupons")
class Coupons(MethodView):
    @requires(SHOPPER)
    @coupons_blp.arguments(CouponQueryArgsSchema, location="query")
    @coupons_blp.response(200, CouponSchema(many=True))
    @coupons_blp.paginate()
    def get(self, args, pagination_parameters):
        """The shopper's coupons, newest first, in the shopper's language"""
        page = services.list_my_coupons(principal=current_principal(), status=args.get("status"),
                                        page=pagination_parameters.page, page_size=pagination_parameters.page_size)
        return paged(page, pagination_parameters)


@coupons_blp.route("/coupons/<uuid:coupon_id>")
class CouponById(MethodView):
    @requires(SHOPPER)
    @coupons_blp.response(200, CouponSchema)
    @coupons_blp.alt_response(404, description=NOT_YOURS)
    def get(self, coupon_id):
        """One coupon"""
        return services.get_my_coupon(principal=current_principal(), coupon_id=coupon_id)


@coupons_blp.route("/coupons/<uuid:coupon_id>/barcode")
class CouponBarcode(MethodView):
    @requires(SHOPPER)
    @coupons_blp.arguments(BarcodeQueryArgsSchema, location="query")
    @coupons_blp.response(200, description="The coupon's live rotating QR code (PNG or SVG)")
    @coupons_blp.doc(responses={200: {"content": IMAGE_CONTENT}, "304": {"description": "Not modified (ETag)"}})
    @coupons_blp.alt_response(404, description=NOT_YOURS)
    def get(self, args, coupon_id):
        """The coupon's code as an image, to show at the till"""
        rendered = services.render_my_coupon(principal=current_principal(), coupon_id=coupon_id,
                                             options=RenderOptions(**args))
        return image_response(rendered)


@coupons_blp.route("/coupons/<uuid:coupon_id>/pass")
class CouponPass(MethodView):
    @requires(SHOPPER)
    @coupons_blp.response(200, PassSchema)
    @coupons_blp.alt_response(404, description=NOT_YOURS)
    def get(self, coupon_id):
        """The coupon's rotating-code parameters (TOTP), to show it offline"""
        return services.my_coupon_pass(principal=current_principal(), coupon_id=coupon_id)
