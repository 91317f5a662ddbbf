"""HTTP endpoints of brands, stores, staff, POS keys and the public brand catalogue."""

from flask import request
from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.models import Role
from wallet.auth.schemas import StaffMemberSchema
from wallet.brands import services
from wallet.brands.schemas import (
    BrandCreateSchema,
    BrandSchema,
    BrandUpdateSchema,
    CatalogueBrandSchema,
    CatalogueQueryArgsSchema,
    PosKeyCreatedSchema,
    PosKeyCreateSchema,
    PosKeyQueryArgsSchema,
    PosKeySchema,
    StaffCreateSchema,
    StaffUpdateSchema,
    StoreCreateSchema,
    StoreSchema,
    StoreUpdateSchema,
)
from wallet.core.errors import ErrorSchema
from wallet.core.pagination import paged
from wallet.core.ratelimits import rate_limited

blp = Blueprint("brands", __name__, url_prefix="/v1/brands", description="Brands, stores, staff and POS keys (staff)")
catalogue_blp = Blueprint(
    "catalogue", __name__, url_prefix="/v1/catalogue", description="The public catalogue of brands and stores"
)

STAFF = tuple(Role)
MOVE_REFUSED = ("Refused: the request does not match the schema (reason validation_failed), or the new location "
                "would leave an active geofence of the store breaking the shape rules (reason "
                "geofence_too_far_from_store, crosses_antimeridian)")
NOT_FOUND = "No such resource in your brand"


@blp.route("")
class Brands(MethodView):
    @requires(*STAFF)
    @blp.response(200, BrandSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """Brands the caller administers (all of them for platform admins)"""
        page = services.list_brands(
            principal=current_principal(), page=pagination_parameters.page, page_size=pagination_parameters.page_size
        )
        return paged(page, pagination_parameters)

    @requires(Role.PLATFORM_ADMIN)
    @blp.arguments(BrandCreateSchema)
    @blp.response(201, BrandSchema)
    @blp.alt_response(409, description="A brand with this name exists")
    def post(self, data):
        """Create a brand (platform admins)"""
        return services.create_brand(principal=current_principal(), data=data)


@blp.route("/<uuid:brand_id>")
class BrandById(MethodView):
    @requires(*STAFF)
    @blp.response(200, BrandSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, brand_id):
        """One brand"""
        return services.get_brand(principal=current_principal(), brand_id=brand_id)

    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.arguments(BrandUpdateSchema)
    @blp.response(200, BrandSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="A brand with this name exists")
    def patch(self, changes, brand_id):
        """Change a brand (its admins, platform admins)"""
        return services.update_brand(principal=current_principal(), brand_id=brand_id, changes=changes)


@blp.route("/<uuid:brand_id>/stores")
class Stores(MethodView):
    @requires(*STAFF)
    @blp.response(200, StoreSchema(many=True))
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.paginate()
    def get(self, brand_id, pagination_parameters):
        """The brand's stores"""
        page = services.list_stores(
            principal=current_principal(),
            brand_id=brand_id,
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        return paged(page, pagination_parameters)

    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.arguments(StoreCreateSchema)
    @blp.response(201, StoreSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def post(self, data, brand_id):
        """Open a store"""
        return services.create_store(principal=current_principal(), brand_id=brand_id, data=data)


@blp.route("/<uuid:brand_id>/stores/<uuid:store_id>")
class StoreById(MethodView):
    @requires(*STAFF)
    @blp.response(200, StoreSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, brand_id, store_id):
        """One store"""
        return services.get_store(principal=current_principal(), brand_id=brand_id, store_id=store_id)

    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.arguments(StoreUpdateSchema)
    @blp.response(200, StoreSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(422, schema=ErrorSchema, description=MOVE_REFUSED)
    def patch(self, changes, brand_id, store_id):
        """Change a store"""
        return services.update_store(
            principal=current_principal(), brand_id=brand_id, store_id=store_id, changes=changes
        )

    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.response(204)
    @blp.alt_response(404, description=NOT_FOUND)
    def delete(self, brand_id, store_id):
        """Close a store"""
        services.delete_store(principal=current_principal(), brand_id=brand_id, store_id=store_id)


@blp.route("/<uuid:brand_id>/staff")
class Staff(MethodView):
    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.response(200, StaffMemberSchema(many=True))
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.paginate()
    def get(self, brand_id, pagination_parameters):
        """The brand's staff"""
        page = services.list_staff(
            principal=current_principal(),
            brand_id=brand_id,
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        return paged(page, pagination_parameters)

    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.arguments(StaffCreateSchema)
    @blp.response(201, StaffMemberSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="A staff account exists for this e-mail")
    def post(self, data, brand_id):
        """Add a staff member (brand admin, marketer or cashier)"""
        return services.create_staff_member(principal=current_principal(), brand_id=brand_id, data=data)


@blp.route("/<uuid:brand_id>/staff/<uuid:staff_id>")
class StaffById(MethodView):
    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.response(200, StaffMemberSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, brand_id, staff_id):
        """One staff member"""
        return services.get_staff(principal=current_principal(), brand_id=brand_id, staff_id=staff_id)

    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.arguments(StaffUpdateSchema)
    @blp.response(200, StaffMemberSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(403, description="Wrong current password (reason password_incorrect)")
    @blp.alt_response(409, description="You cannot demote or deactivate yourself")
    @blp.alt_response(429, description="Too many wrong passwords: locked like sign-in (reason sign_in_locked)")
    def patch(self, changes, brand_id, staff_id):
        """Change a staff member's name, password, role, stores or activity"""
        return services.update_staff(
            principal=current_principal(), brand_id=brand_id, staff_id=staff_id, changes=changes
        )

    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.response(204)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="You cannot delete yourself")
    def delete(self, brand_id, staff_id):
        """Remove a staff member"""
        services.delete_staff(principal=current_principal(), brand_id=brand_id, staff_id=staff_id)


@blp.route("/<uuid:brand_id>/pos-keys")
class PosKeys(MethodView):
    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.arguments(PosKeyQueryArgsSchema, location="query")
    @blp.response(200, PosKeySchema(many=True))
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.paginate()
    def get(self, args, brand_id, pagination_parameters):
        """The brand's POS API keys (by prefix; secrets are never shown again)"""
        page = services.list_pos_keys(
            principal=current_principal(),
            brand_id=brand_id,
            include_revoked=args["include_revoked"],
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        return paged(page, pagination_parameters)

    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.arguments(PosKeyCreateSchema)
    @blp.response(201, PosKeyCreatedSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def post(self, data, brand_id):
        """Create a store-scoped POS API key; the response holds the key, shown this once"""
        return services.create_pos_key(principal=current_principal(), brand_id=brand_id, **data)


@blp.route("/<uuid:brand_id>/pos-keys/<uuid:key_id>")
class PosKeyById(MethodView):
    @requires(Role.PLATFORM_ADMIN, Role.BRAND_ADMIN)
    @blp.response(200, PosKeySchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def delete(self, brand_id, key_id):
        """Revoke a POS API key (at once; idempotent)"""
        return services.revoke_pos_key(principal=current_principal(), brand_id=brand_id, key_id=key_id)


def _not_a_search() -> bool:
    return "q" not in request.args


@catalogue_blp.route("/brands")
class CatalogueBrands(MethodView):
    @rate_limited(catalogue_blp, "catalogue_search", exempt_when=_not_a_search)
    @catalogue_blp.arguments(CatalogueQueryArgsSchema, location="query")
    @catalogue_blp.response(200, CatalogueBrandSchema(many=True))
    @catalogue_blp.paginate()
    def get(self, args, pagination_parameters):
        """Listed brands, for shoppers picking a card to add (public)"""
        page = services.list_catalogue(
            name_contains=args.get("q"), page=pagination_parameters.page, page_size=pagination_parameters.page_size
        )
        return paged(page, pagination_parameters)


@catalogue_blp.route("/brands/<uuid:brand_id>")
class CatalogueBrand(MethodView):
    @catalogue_blp.response(200, CatalogueBrandSchema)
    @catalogue_blp.alt_response(404, description="No such listed brand")
    def get(self, brand_id):
        """One listed brand (public)"""
        return services.get_catalogue_brand(brand_id=brand_id)


@catalogue_blp.route("/brands/<uuid:brand_id>/stores")
class CatalogueStores(MethodView):
    @catalogue_blp.response(200, StoreSchema(many=True))
    @catalogue_blp.alt_response(404, description="No such listed brand")
    @catalogue_blp.paginate()
    def get(self, brand_id, pagination_parameters):
        """A listed brand's stores (public)"""
        page = services.list_catalogue_stores(
            brand_id=brand_id, page=pagination_parameters.page, page_size=pagination_parameters.page_size
        )
        return paged(page, pagination_parameters)
