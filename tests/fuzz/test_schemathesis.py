"""Schemathesis over every operation of the committed OpenAPI document, once per kind of caller, on
PostGIS and on SQLite: no 5xx, and every answer conforms to the document (status code, content type,
body schema, headers).

The default run is small and derandomized (a few minutes on 2 cores); set ``WALLET_FUZZ_EXAMPLES``
(e.g. 200) for a longer run of that many examples per operation and caller, and ``WALLET_FUZZ_SEED``
to explore other inputs; ``WALLET_FUZZ_ONLY`` (e.g. ``POST /v1/me/cards``) keeps the operations whose label
contains it.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import CALLERS, World
from wallet.cli import OPENAPI_PATH
from wallet.core.transaction import end_reads

EXAMPLES = int(os.environ.get("WALLET_FUZZ_EXAMPLES", "4"))
SEED = int(os.environ.get("WALLET_FUZZ_SEED", "17"))
ONLY = os.environ.get("WALLET_FUZZ_ONLY", "")  # e.g. "GET /v1/catalogue": only the operations so labelled
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


def _load_schema(app):
    document = json.loads(OPENAPI_PATH.read_text())
    config = schemathesis.Config.from_dict({"generation": {"mode": "all", "deterministic": True}})
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema.app = app
    return schema


def _order(operation) -> tuple[int, str]:
    """Reads first, then writes, then deletions; the shopper's own account is erased last of all."""
    method = operation.method.upper()
    rank = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}[method]
    if operation.path == "/v1/auth/sign-out":
        rank = 2
    if method == "DELETE" and operation.path == "/v1/me":
        rank = 3
    return rank, operation.label


def _admits(operation, caller: str) -> bool:
    roles = operation.definition.raw.get("x-allowed-roles")
    return roles is None or caller in roles


def _fuzz_operation(operation, world: World, caller: str, mode: GenerationMode) -> None:
    path_parameters = {p.name: world.path_ids[p.name] for p in operation.path_parameters if p.name in world.path_ids}
    headers = world.credentials(caller)
    # A caller the operation does not admit is refused before its input is read: one example shows the refusal.
    examples = EXAMPLES if _admits(operation, caller) else 1

    @seed(SEED)
    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case):
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        finally:
            end_reads()

    try:
        run()
    except Unsatisfiable:
        # With the path ids fixed, some operations have nothing left to make invalid (negative mode).
        assert mode is GenerationMode.NEGATIVE


@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_answers_without_server_error_and_as_documented(fuzz_app, world, caller):
    schema = _load_schema(fuzz_app)
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    assert len(operations) == sum(
        1 for item in json.loads(OPENAPI_PATH.read_text())["paths"].values() for method in item if method != "parameters")
    operations = [operation for operation in operations if ONLY in operation.label]
    failures = []
    for operation in operations:
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if _admits(operation, caller) else (
            GenerationMode.POSITIVE,)
        for mode in modes:
            try:
                _fuzz_operation(operation, world, caller, mode)
            except Exception as error:  # noqa: BLE001  (every operation runs; all failures are reported)
                failures.append(f"--- {caller} {operation.label} ({mode.value}):\n{error}")
    assert not failures, f"{len(failures)} operations failed:\n" + "\n".join(failures)
