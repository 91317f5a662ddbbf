"""HTTP endpoints of the till (cashier JWT or store-scoped POS API key)."""

from flask.views import MethodView
from flask_smorest import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.models import Role
from wallet.auth.principal import POS_KEY
from wallet.pos import services
from wallet.pos.schemas import PosContextSchema

blp = Blueprint("pos", __name__, url_prefix="/v1/pos", description="Point of sale (cashiers and POS keys)")


@blp.route("/context")
class TillContext(MethodView):
    @requires(Role.CASHIER, POS_KEY)
    @blp.response(200, PosContextSchema)
    def get(self):
        """Who is at the till: brand and stores the caller acts for"""
        return services.describe_till(principal=current_principal())
