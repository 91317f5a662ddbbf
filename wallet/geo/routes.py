"""HTTP endpoints of geofences, for brand staff."""

from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.models import Role
from wallet.core.errors import ErrorSchema
from wallet.core.pagination import paged
from wallet.geo import services
from wallet.geo.schemas import GeofenceCreateSchema, GeofenceQueryArgsSchema, GeofenceSchema, GeofenceUpdateSchema

blp = Blueprint("geofences", __name__, url_prefix="/v1/brands/<uuid:brand_id>/geofences",
                description="Geofences around stores (brand staff)")

MANAGERS = (Role.PLATFORM_ADMIN, Role.BRAND_ADMIN, Role.MARKETER)
NOT_FOUND = "No such geofence in your brand"
SHAPE_REFUSED = ("Refused: the request does not match the schema (reason validation_failed), or the shape breaks a "
                 "rule: crosses_antimeridian (it reaches longitude ±180° or a pole), geofence_too_large (a polygon "
                 "that no 10 km circle holds), geofence_too_far_from_store (a point farther from the store than "
                 "GEOFENCE_MAX_STORE_DISTANCE_M, 2 km by default)")


@blp.route("")
class Geofences(MethodView):
    @requires(*Role)
    @blp.arguments(GeofenceQueryArgsSchema, location="query")
    @blp.response(200, GeofenceSchema(many=True))
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.paginate()
    def get(self, args, brand_id, pagination_parameters):
        """The brand's geofences (optionally of one store)"""
        page = services.list_geofences(principal=current_principal(), brand_id=brand_id,
                                       store_id=args.get("store_id"), page=pagination_parameters.page,
                                       page_size=pagination_parameters.page_size)
        return paged(page, pagination_parameters)

    @requires(*MANAGERS)
    @blp.arguments(GeofenceCreateSchema)
    @blp.response(201, GeofenceSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(422, schema=ErrorSchema, description=SHAPE_REFUSED)
    def post(self, data, brand_id):
        """Draw a geofence around a store: a circle (10 m to 10 km) or a GeoJSON polygon, near the store"""
        return services.create_geofence(principal=current_principal(), brand_id=brand_id, data=data)


@blp.route("/<uuid:geofence_id>")
class GeofenceById(MethodView):
    @requires(*Role)
    @blp.response(200, GeofenceSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, brand_id, geofence_id):
        """One geofence"""
        return services.get_geofence(principal=current_principal(), brand_id=brand_id, geofence_id=geofence_id)

    @requires(*MANAGERS)
    @blp.arguments(GeofenceUpdateSchema)
    @blp.response(200, GeofenceSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(422, schema=ErrorSchema,
                      description=SHAPE_REFUSED + "; an active fence is checked whatever the change")
    def patch(self, changes, brand_id, geofence_id):
        """Change a geofence's name, store, shape or activity"""
        return services.update_geofence(principal=current_principal(), brand_id=brand_id, geofence_id=geofence_id,
                                        changes=changes)

    @requires(*MANAGERS)
    @blp.response(204)
    @blp.alt_response(404, description=NOT_FOUND)
    def delete(self, brand_id, geofence_id):
        """Remove a geofence"""
        services.delete_geofence(principal=current_principal(), brand_id=brand_id, geofence_id=geofence_id)
