"""HTTP endpoints of the till (cashier JWT or store-scoped POS API key)."""

from flask import Response
from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.models import Role
from wallet.auth.principal import POS_KEY
from wallet.core.ratelimits import rate_limited
from wallet.core.wire import json_response, plain_arguments
from wallet.pos import services, wire
from wallet.pos.schemas import (
    IdempotencyHeaderSchema,
    PosContextSchema,
    PurchaseCreateSchema,
    PurchaseResultSchema,
    RedemptionCreateSchema,
    RedemptionResultSchema,
    RefundCreateSchema,
    RefundResultSchema,
    ScanResultSchema,
    ScanSchema,
)

blp = Blueprint("pos", __name__, url_prefix="/v1/pos", description="Point of sale (cashiers and POS keys)")

TILL = (Role.CASHIER, POS_KEY)
# The busiest endpoints take schema instances: webargs would build a new schema for every request
# from a class (the OpenAPI document is the same).
REPLAYED_HEADER = "Idempotent-Replayed"
TOKEN_REFUSED = ("reason token_invalid, token_expired or token_other_store (scan again), validation_failed, "
                 "currency_mismatch")


def _answer(answer: services.Answer) -> Response:
    """The stored answer as first given; a replay says so in a header."""
    response = json_response(answer.body, status=201)  # plain data: a schema's dump, or stored JSON
    if answer.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response


@blp.route("/context")
class TillContext(MethodView):
    @requires(*TILL)
    @blp.response(200, PosContextSchema)
    def get(self):
        """Who is at the till: brand and stores the caller acts for"""
        return services.describe_till(principal=current_principal())


@blp.route("/scan")
class Scan(MethodView):
    @rate_limited(blp, "pos_scan")
    @requires(*TILL)
    @blp.arguments(ScanSchema)
    @blp.response(200, ScanResultSchema)
    @blp.alt_response(422, description="Refused: reason code_malformed, code_unknown, code_other_brand, "
                                       "code_forged, code_expired, code_not_yet_valid (the phone's clock is "
                                       "ahead), code_replayed, or member_number_not_accepted (the number "
                                       "printed on the card was typed: scan the pass or type its code)")
    @blp.alt_response(429, description="Too many wrong codes for this pass (reason code_locked) or too many "
                                       "requests (reason rate_limited); see Retry-After")
    def post(self, data):
        """Identify what the till scanned (a member card with points, tier, usable coupons and rewards;
        or a coupon of this brand), spending its rotating code and handing out tokens for what follows"""
        return services.scan(principal=current_principal(), **data)


@blp.route("/purchases")
class Purchases(MethodView):
    @requires(*TILL)
    @plain_arguments(wire.parse_purchase, blp.arguments(PurchaseCreateSchema()))
    @blp.response(201, PurchaseResultSchema, description="Points earned; a replay of the order reference gets the "
                                                         "first answer again (header Idempotent-Replayed: true)")
    @blp.alt_response(404, description="The member left the program")
    @blp.alt_response(409, description="The order reference was used for another purchase "
                                       "(reason order_reference_reused), or no loyalty program (no_program)")
    @blp.alt_response(422, description=TOKEN_REFUSED)
    def post(self, data):
        """Record a member's purchase: it earns points (and a stamp) once per order reference"""
        return _answer(services.record_purchase(principal=current_principal(), **data))


@blp.route("/refunds")
class Refunds(MethodView):
    @requires(*TILL)
    @blp.arguments(RefundCreateSchema)
    @blp.response(201, RefundResultSchema, description="Points taken back; a replay of the refund reference gets "
                                                       "the first answer again (header Idempotent-Replayed: true)")
    @blp.alt_response(404, description="No purchase of this brand has this order reference")
    @blp.alt_response(409, description="The refund reference was used for another refund "
                                       "(reason refund_reference_reused)")
    @blp.alt_response(422, description="More than is left to refund (reason refund_exceeds_purchase), "
                                       "currency_mismatch, validation_failed")
    def post(self, data):
        """Refund part or all of a purchase: its points are taken back in proportion, once per refund reference"""
        return _answer(services.record_refund(principal=current_principal(), **data))


@blp.route("/redemptions")
class Redemptions(MethodView):
    @requires(*TILL)
    @plain_arguments(wire.parse_redemption, blp.arguments(IdempotencyHeaderSchema(), location="headers"),
                      blp.arguments(RedemptionCreateSchema()))
    @blp.response(201, RedemptionResultSchema, description="Redeemed; a replay of the idempotency key gets the first "
                                                           "answer again (header Idempotent-Replayed: true)")
    @blp.alt_response(404, description="No such coupon in your brand")
    @blp.alt_response(409, description="Refused: reason coupon_already_redeemed, coupon_expired, coupon_void, "
                                       "idempotency_key_reused (the key was used for another request), "
                                       "membership_required or no_program (bonus points)")
    @blp.alt_response(422, description="coupon_not_valid_here (the offer is limited to other stores), "
                                       "token_invalid, token_expired, token_other_store, validation_failed")
    def post(self, headers, data):
        """Redeem a scanned coupon or reward exactly once (Idempotency-Key header required)"""
        return _answer(services.redeem(principal=current_principal(), idempotency_key=headers["idempotency_key"],
                                       **data))
