"""HTTP endpoints of the shopper's privacy: per-brand consent, consent history, data export, erasure."""

from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.principal import SHOPPER
from wallet.core.pagination import paged
from wallet.privacy import services
from wallet.privacy.schemas import (
    BrandConsentSchema,
    BrandConsentUpdateSchema,
    ConsentChangeSchema,
    ErasureSchema,
    ExportSchema,
)

blp = Blueprint("privacy", __name__, url_prefix="/v1/me",
                description="The shopper's consents, their history, data export and erasure (shoppers)")


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


@blp.route("/consent-history")
class ConsentHistory(MethodView):
    @requires(SHOPPER)
    @blp.response(200, ConsentChangeSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """Every change of the shopper's consents (location, marketing, each brand), newest first"""
        page = services.list_consent_history(principal=current_principal(), page=pagination_parameters.page,
                                             page_size=pagination_parameters.page_size)
        return paged(page, pagination_parameters)


@blp.route("/export")
class Export(MethodView):
    @requires(SHOPPER)
    @blp.response(200, ExportSchema)
    def get(self):
        """Everything held on the shopper, as one JSON document (GDPR art. 15 and 20)"""
        return services.export_my_data(principal=current_principal())


@blp.route("")
class Erasure(MethodView):
    @requires(SHOPPER)
    @blp.arguments(ErasureSchema)
    @blp.response(204)
    @blp.alt_response(403, description="Wrong password (reason password_incorrect)")
    @blp.alt_response(429, description="Too many wrong passwords: locked like sign-in")
    def delete(self, data):
        """Erase the account: personal data and credentials at once (GDPR art. 17); confirm with the password"""
        services.erase_me(principal=current_principal(), password=data["password"])
