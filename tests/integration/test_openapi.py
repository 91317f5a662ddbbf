"""openapi/openapi.json is generated from the code; this fails when someone forgets `make openapi`."""

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
