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
