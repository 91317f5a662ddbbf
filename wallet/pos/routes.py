"""HTTP endpoints of the till (cashier JWT or store-scoped POS API key)."""

from flask.views import MethodView
from flask_smorest import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.models import Role
from wallet.auth.principal import POS_KEY
from wallet.pos import services
from wallet.pos.schemas import PosContextSchema, ScanResultSchema, ScanSchema

blp = Blueprint("pos", __name__, url_prefix="/v1/pos", description="Point of sale (cashiers and POS keys)")


@blp.route("/context")
class TillContext(MethodView):
    @requires(Role.CASHIER, POS_KEY)
    @blp.response(200, PosContextSchema)
    def get(self):
        """Who is at the till: brand and stores the caller acts for"""
        return services.describe_till(principal=current_principal())


@blp.route("/scan")
class Scan(MethodView):
    @requires(Role.CASHIER, POS_KEY)
    @blp.arguments(ScanSchema)
    @blp.response(200, ScanResultSchema)
    @blp.alt_response(422, description="Refused: reason code_malformed, code_unknown, code_other_brand, "
                                       "code_forged, code_expired or code_replayed")
    @blp.alt_response(429, description="Too many wrong codes for this pass (reason code_locked)")
    def post(self, data):
        """Identify what the till scanned (a member card or a coupon of this brand), spending its rotating code"""
        return services.scan(principal=current_principal(), **data)
