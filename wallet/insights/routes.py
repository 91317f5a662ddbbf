"""HTTP endpoints of offer funnels (brand admins, marketers and platform admins)."""

from flask import Response
from flask.views import MethodView
from wallet.core.blueprint import Blueprint

from wallet.auth.decorators import current_principal, requires
from wallet.core.pagination import paged
from wallet.insights import services
from wallet.insights.schemas import FunnelChartQueryArgsSchema, FunnelQueryArgsSchema, FunnelRowSchema, FunnelSchema

blp = Blueprint("insights", __name__, url_prefix="/v1/brands",
                description="Offer funnels: aggregated per store and UTC day, small counts withheld "
                            "(brand admins and marketers)")

NOT_FOUND = "No such offer (or store) in your brand"
CHART_CONTENT = {"image/png": {"schema": {"type": "string", "format": "binary"}},
                 "image/svg+xml": {"schema": {"type": "string"}}}


def _query(args: dict, brand_id, offer_id) -> dict:
    return {"principal": current_principal(), "brand_id": brand_id, "offer_id": offer_id,
            "since": args.get("from_"), "until": args.get("to"), "store_id": args.get("store_id")}


@blp.route("/<uuid:brand_id>/offers/<uuid:offer_id>/funnel")
class OfferFunnel(MethodView):
    @requires(*services.ANALYSTS)
    @blp.arguments(FunnelQueryArgsSchema, location="query")
    @blp.response(200, FunnelSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, args, brand_id, offer_id):
        """The offer's funnel over a range of UTC days: totals, per store and per day"""
        return services.offer_funnel(**_query(args, brand_id, offer_id))


@blp.route("/<uuid:brand_id>/offers/<uuid:offer_id>/funnel/rows")
class OfferFunnelRows(MethodView):
    @requires(*services.ANALYSTS)
    @blp.arguments(FunnelQueryArgsSchema, location="query")
    @blp.response(200, FunnelRowSchema(many=True))
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.paginate()
    def get(self, args, brand_id, offer_id, pagination_parameters):
        """The offer's funnel per (UTC day, store), by day then store name"""
        page = services.funnel_rows(page=pagination_parameters.page, page_size=pagination_parameters.page_size,
                                    **_query(args, brand_id, offer_id))
        return paged(page, pagination_parameters)


@blp.route("/<uuid:brand_id>/offers/<uuid:offer_id>/funnel.csv")
class OfferFunnelCsv(MethodView):
    @requires(*services.ANALYSTS)
    @blp.arguments(FunnelQueryArgsSchema, location="query")
    @blp.response(200, description="The (day, store) rows as CSV; withheld figures are empty")
    @blp.doc(responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, args, brand_id, offer_id):
        """The offer's funnel per (UTC day, store) as CSV, for spreadsheets"""
        body = services.funnel_csv(**_query(args, brand_id, offer_id))
        return Response(body, mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="funnel-{offer_id}.csv"'})


@blp.route("/<uuid:brand_id>/offers/<uuid:offer_id>/funnel/chart")
class OfferFunnelChart(MethodView):
    @requires(*services.ANALYSTS)
    @blp.arguments(FunnelChartQueryArgsSchema, location="query")
    @blp.response(200, description="The funnel (kind=funnel) or its daily series (kind=daily) as PNG or SVG")
    @blp.doc(responses={200: {"content": CHART_CONTENT}})
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, args, brand_id, offer_id):
        """The offer's funnel as a picture"""
        image, media_type = services.funnel_chart(kind=args["kind"], image_format=args["format"],
                                                  **_query(args, brand_id, offer_id))
        response = Response(image, mimetype=media_type)
        response.cache_control.private = True
        response.cache_control.no_cache = True
        return response
