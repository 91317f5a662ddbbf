"""HTTP endpoints of the shopper's per-brand consent."""

from flask.views import MethodView
from flask_smorest import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.principal import SHOPPER
from wallet.core.pagination import paged
from wallet.privacy import services
from wallet.privacy.schemas import BrandConsentSchema, BrandConsentUpdateSchema

blp = Blueprint("privacy", __name__, url_prefix="/v1/me", description="The shopper's consent to each brand (shoppers)")


@blp.route("/brand-consents")
class BrandConsents(MethodView):
    @requires(SHOPPER)
    @blp.response(200, BrandConsentSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """The brands the shopper opted in to or out of"""
        page = services.list_brand_consents(principal=current_principal(), page=pagination_parameters.page,
                                            page_size=pagination_parameters.page_size)
        return paged(page, pagination_parameters)


@blp.route("/brand-consents/<uuid:brand_id>")
class BrandConsentByBrand(MethodView):
    @requires(SHOPPER)
    @blp.arguments(BrandConsentUpdateSchema)
    @blp.response(200, BrandConsentSchema)
    @blp.alt_response(404, description="No such brand in the catalogue")
    def put(self, data, brand_id):
        """Opt in to or out of a brand's offers (an opt-out always wins over any offer)"""
        return services.set_brand_consent(principal=current_principal(), brand_id=brand_id, **data)
