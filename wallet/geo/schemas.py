"""Request and response schemas of geofences and of the regions a phone should monitor."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from wallet.core.fields import Boolean, GeoJSONPoint
from wallet.core.schemas import StrictSchema, name_field
from wallet.geo import geometry
from wallet.geo.models import CIRCLE


class GeoJSONPolygon(fields.Field):
    """An RFC 7946 Polygon or MultiPolygon (lon/lat), validated, as a Shapely geometry."""

    openapi = {
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {"type": {"type": "string", "enum": ["Polygon", "MultiPolygon"]},
                       "coordinates": {"type": "array", "items": {"type": "array"}},
                       "bbox": {"type": "array", "items": {"type": "number"}}},
    }

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else geometry.to_geojson(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return geometry.parse_geojson_polygon(value)
        except geometry.InvalidGeometry as error:
            raise ValidationError(f"Invalid polygon: {error}.") from None


class CircleSchema(StrictSchema):
    center = GeoJSONPoint(required=True)
    radius_m = fields.Float(required=True, validate=validate.Range(geometry.MIN_RADIUS_M, geometry.MAX_RADIUS_M),
                            metadata={"description": "Metres, 10 to 10,000"})


_NEAR_STORE = ("every point within GEOFENCE_MAX_STORE_DISTANCE_M (2 km by default) of the store, and clear of "
               "longitude ±180° and of the poles")


class GeofenceCreateSchema(StrictSchema):
    store_id = fields.UUID(required=True)
    name = name_field(120, required=True)
    circle = fields.Nested(CircleSchema, metadata={"description": "A circle, or else a polygon; " + _NEAR_STORE})
    polygon = GeoJSONPolygon(metadata={"description": "GeoJSON Polygon or MultiPolygon, at most 2,000 vertices and "
                                                      "100 km², held by a 10 km circle; " + _NEAR_STORE})
    active = Boolean(load_default=True)


class GeofenceUpdateSchema(StrictSchema):
    store_id = fields.UUID()
    name = name_field(120)
    circle = fields.Nested(CircleSchema)
    polygon = GeoJSONPolygon()
    active = Boolean()


class GeofenceQueryArgsSchema(StrictSchema):
    store_id = fields.UUID()


class GeofenceSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(dump_only=True)
    store_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"description": "circle or polygon"})
    circle = fields.Method("_circle", dump_only=True, allow_none=True)
    polygon = fields.Method("_polygon", dump_only=True, allow_none=True)
    active = Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    def _circle(self, fence: Any) -> dict[str, Any] | None:
        if fence.kind != CIRCLE:
            return None
        return {"center": {"type": "Point", "coordinates": [fence.center.x, fence.center.y]}, "radius_m": fence.radius_m}

    def _polygon(self, fence: Any) -> dict[str, Any] | None:
        return None if fence.kind == CIRCLE else geometry.to_geojson(fence.area)


class RegionSchema(StrictSchema):
    """A circle for the phone's OS region monitoring (polygons are given by their bounding circle)."""

    geofence_id = fields.UUID(dump_only=True, allow_none=True)
    lat = fields.Float(dump_only=True)
    lon = fields.Float(dump_only=True)
    radius_m = fields.Float(dump_only=True)
    distance_m = fields.Float(dump_only=True, metadata={"description": "From the position to the circle's edge"})


class MonitorSchema(StrictSchema):
    regions = fields.List(fields.Nested(RegionSchema), dump_only=True)
    resync = fields.Nested(RegionSchema, dump_only=True,
                           metadata={"description": "Leave this circle and report a position to get new regions: "
                                                  "no fence left out can be reached without leaving it"})


class NearbyQueryArgsSchema(StrictSchema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, validate=validate.Range(-180, 180))
