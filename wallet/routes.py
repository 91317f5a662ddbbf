"""Registration of every blueprint, and the API documentation's shared components."""

from flask import Flask
from flask_smorest import Api

from wallet.auth.decorators import API_KEY_SCHEME, BEARER_SCHEME
from wallet.core.fields import GEOJSON_POINT_SPEC, GeoJSONPoint


def register(app: Flask, api: Api) -> None:
    from wallet import docs, health
    from wallet.auth.routes import blp as auth_blp
    from wallet.auth.routes import me_blp, staff_me_blp
    from wallet.brands.routes import blp as brands_blp
    from wallet.brands.routes import catalogue_blp
    from wallet.cards.routes import blp as cards_blp
    from wallet.geo.routes import blp as geofences_blp
    from wallet.insights.routes import blp as insights_blp
    from wallet.locations.routes import blp as locations_blp
    from wallet.loyalty.routes import blp as loyalty_blp
    from wallet.loyalty.routes import my_blp as my_loyalty_blp
    from wallet.offers.routes import blp as offers_blp
    from wallet.offers.routes import coupons_blp
    from wallet.pos.routes import blp as pos_blp
    from wallet.privacy.routes import blp as privacy_blp
    from wallet.push.routes import blp as push_blp

    api.spec.components.security_scheme("bearerAuth", BEARER_SCHEME)
    api.spec.components.security_scheme("posApiKey", API_KEY_SCHEME)
    api.spec.components.schema("GeoJSONPoint", GEOJSON_POINT_SPEC)
    api.ma_plugin.converter.add_attribute_function(_geojson_ref)

    blueprints = (
        auth_blp,
        me_blp,
        staff_me_blp,
        cards_blp,
        coupons_blp,
        push_blp,
        privacy_blp,
        locations_blp,
        catalogue_blp,
        brands_blp,
        geofences_blp,
        offers_blp,
        insights_blp,
        loyalty_blp,
        my_loyalty_blp,
        pos_blp,
    )
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.register_blueprint(health.blp)
    if app.config["API_DOCS"]:
        app.register_blueprint(docs.blp)


def _geojson_ref(self, field, ret):  # apispec attribute-function signature
    if isinstance(field, GeoJSONPoint):
        return {"allOf": [{"$ref": "#/components/schemas/GeoJSONPoint"}]}
    return {}
