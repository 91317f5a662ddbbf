"""HTTP endpoints of the phone's positions, its OS region events and the regions it should monitor."""

from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.auth.principal import SHOPPER
from wallet.core.ratelimits import rate_limited
from wallet.core.wire import json_response, plain_arguments
from wallet.geo.schemas import MonitorSchema, NearbyQueryArgsSchema
from wallet.locations import services, wire
from wallet.locations.filters import Fix
from wallet.locations.schemas import FixBatchSchema, RecordedSchema, RegionEventBatchSchema

blp = Blueprint("locations", __name__, url_prefix="/v1/me", description="Where the shopper is (shoppers)")

CONSENT = "Location consent is off (reason location_consent_required)"


@blp.route("/locations")
class Locations(MethodView):
    @rate_limited(blp, "locations")
    @requires(SHOPPER, companion=services.FACTS_WITH_SESSION)
    @plain_arguments(wire.parse_fix_batch_arguments, blp.arguments(FixBatchSchema))
    @blp.response(200, RecordedSchema)
    @blp.alt_response(403, description=CONSENT)
    def post(self, batch):
        """Report up to 120 positions: presence events, new coupons and the regions to monitor"""
        fixes = [fix if isinstance(fix, Fix) else Fix(**fix) for fix in batch["fixes"]]
        recorded = services.record_fixes(principal=current_principal(), fixes=fixes)
        return json_response(wire.dump_recorded(recorded))  # RecordedSchema's dump, written out


@blp.route("/geofence-events")
class GeofenceEvents(MethodView):
    @rate_limited(blp, "geofence_events")
    @requires(SHOPPER, companion=services.FACTS_WITH_SESSION)
    @blp.arguments(RegionEventBatchSchema)
    @blp.response(200, RecordedSchema)
    @blp.alt_response(403, description=CONSENT)
    def post(self, batch):
        """Report OS region events (enter/exit) with the phone's position; checked against the true shapes"""
        return services.record_region_events(principal=current_principal(), events=batch["events"])


@blp.route("/geofences/nearby")
class NearbyGeofences(MethodView):
    @requires(SHOPPER)
    @blp.arguments(NearbyQueryArgsSchema, location="query")
    @blp.response(200, MonitorSchema)
    @blp.alt_response(403, description=CONSENT)
    def get(self, args):
        """The nearest fences within 10 km (at most 19, as circles) and a re-sync region, for OS region monitoring"""
        return services.nearby(principal=current_principal(), **args)
