"""openapi/openapi.json is generated from the code; this fails when someone forgets `make openapi`."""

import re
import uuid

from wallet.cli import OPENAPI_PATH, openapi_document


def test_committed_openapi_document_matches_the_code(app):
    assert OPENAPI_PATH.read_text() == openapi_document(app), "run `make openapi` and commit the result"


def test_openapi_documents_security_errors_and_pagination(app):
    import json

    spec = json.loads(openapi_document(app))
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["components"]["securitySchemes"]["posApiKey"]["name"] == "X-API-Key"
    assert {"code", "status", "reason", "message", "errors"} <= set(spec["components"]["schemas"]["Error"]["properties"])
    stores = spec["paths"]["/v1/brands/{brand_id}/stores"]["get"]
    assert {p["name"] for p in stores["parameters"]} >= {"page", "page_size"}
    assert stores["security"] == [{"bearerAuth": []}] and "401" in stores["responses"]
    assert "security" not in spec["paths"]["/v1/catalogue/brands"]["get"]


def test_committed_and_generated_documents_are_valid_openapi(app):
    import json

    from openapi_spec_validator import OpenAPIV30SpecValidator

    for name, document in (("committed", json.loads(OPENAPI_PATH.read_text())),
                           ("generated", json.loads(openapi_document(app)))):
        errors = [f"{'/'.join(map(str, error.path))}: {error.message[:200]}"
                  for error in OpenAPIV30SpecValidator(document).iter_errors()]
        assert errors == [], f"the {name} document is not valid OpenAPI 3.0"


def test_pagination_header_is_documented_as_the_json_text_it_is(app, client, make_brand, make_staff, login):
    import json

    spec = json.loads(openapi_document(app))
    header = spec["components"]["headers"]["PAGINATION"]
    assert header["schema"] == {"type": "string"}
    assert set(json.loads(header["example"])) <= set(spec["components"]["schemas"]["PaginationMetadata"]["properties"])
    brand = make_brand()
    response = client.get(f"/v1/brands/{brand.id}/stores", headers=login(make_staff("brand_admin", brand)))
    assert response.status_code == 200
    assert json.loads(response.headers["X-Pagination"]) == {"total": 0, "total_pages": 0}


def _accepts(spec: dict, component: str, body: object) -> bool:
    from openapi_schema_validator import OAS30WriteValidator

    schema = {"$ref": f"#/components/schemas/{component}", "components": spec["components"]}
    return OAS30WriteValidator(schema).is_valid(body)


POINT = {"type": "Point", "coordinates": [2.35, 48.85]}
TEXTS = {"fr": {"title": "t", "description": "d"}, "en": {"title": "t", "description": "d"}}
SQUARE = {"type": "Polygon", "coordinates": [[[2.35, 48.85], [2.351, 48.85], [2.351, 48.851], [2.35, 48.85]]]}
FIX = {"lat": 48.85, "lon": 2.35, "accuracy_m": 10, "recorded_at": "2026-12-01T10:00:00+01:00"}


def test_the_document_states_the_rules_the_server_enforces(app):
    """Each pair: what the server accepts, and the same with one of its rules broken (which it refuses)."""
    import json

    spec = json.loads(openapi_document(app))
    cases = [
        ("Fix", FIX, {**FIX, "accuracy_m": 0}),
        ("GeofenceUpdate", {"polygon": SQUARE}, {"polygon": None}),
        ("GeofenceCreate", {"store_id": str(uuid.uuid4()), "name": "n", "circle": {"center": POINT, "radius_m": 50}},
         {"store_id": str(uuid.uuid4()), "name": "n", "circle": {"center": {**POINT, "crs": "x"}, "radius_m": 50}}),
        ("StoreCreate", _store(time_zone="Europe/Paris"), _store(time_zone="Paris, France")),
        ("PurchaseCreate", _purchase("EUR"), _purchase("EURO")),
        ("OfferCreate", _offer(TEXTS), _offer({"fr": TEXTS["fr"]})),
        ("CardCreate", {"brand_id": str(uuid.uuid4()), "number": "1"},
         {"brand_id": str(uuid.uuid4()), "shop_name": "Pharmacie", "symbology": "ean13", "number": "1"}),
        ("CardCreate", {"shop_name": "Pharmacie", "symbology": "ean13", "number": "1"}, {"number": "1"}),
        ("AdjustmentCreate", {"points": -5, "reason": "r"}, {"points": 0, "reason": "r"}),
        ("Reward", {"type": "percent_off", "percent": 10}, {"type": "percent_off", "percent": 10, "item": "x"}),
        ("CatalogueReward", {"type": "free_item", "item": "x"}, {"type": "bonus_points", "points": 5}),
    ]
    for component, accepted, refused in cases:
        assert _accepts(spec, component, accepted), (component, accepted)
        assert not _accepts(spec, component, refused), (component, refused)
    near = next(p for p in spec["paths"]["/v1/me/cards"]["get"]["parameters"] if p["name"] == "near")
    assert re.fullmatch(near["schema"]["pattern"], "48.8575,2.3510") and not re.fullmatch(near["schema"]["pattern"], "Paris")


def _store(**fields: object) -> dict:
    return {"name": "s", "street": "1 rue", "postal_code": "75001", "city": "Paris", "location": POINT, **fields}


def _purchase(currency: str) -> dict:
    return {"member_token": "t", "order_reference": "o-1", "amount_minor": 100, "currency": currency}


def _offer(content: dict) -> dict:
    return {"reward": {"type": "free_item", "item": "x"}, "content": content, "trigger": "enter",
            "valid_from": "2026-12-01T00:00:00+00:00", "valid_until": "2026-12-31T00:00:00+00:00", "all_stores": True}
