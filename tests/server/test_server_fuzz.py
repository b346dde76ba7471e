"""Fuzz every operation of the live sidecar from its own OpenAPI schema: never a 5xx.

schemathesis builds valid (positive) and invalid (negative) requests from /openapi.json;
each is sent over real HTTP to the running server. A bounded number of examples keeps this
inside the test budget; the point is crash-freedom on inputs nobody thought of.
"""
from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 8, schemathesis.GenerationMode.NEGATIVE: 6}


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_fuzz_api_no_server_errors(server, mode):
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    session = requests.Session()
    failures: list[str] = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 9

    for op in operations:
        @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(generation_mode=mode))
        def run(case) -> None:
            resp = case.call(base_url=server.url, session=session, timeout=20)
            if resp.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.body!r:.200} -> {resp.status_code} {resp.text[:300]}")
            if resp.status_code >= 400:
                # every refusal says why, as a sentence, under "detail"
                assert "detail" in resp.json(), (case.method, case.formatted_path, resp.text[:300])

        try:
            run()
        except Unsatisfiable:
            assert mode is schemathesis.GenerationMode.NEGATIVE  # nothing to break in a parameterless GET
    assert not failures, "\n".join(failures)
    # the server is still serving after all that
    assert requests.get(server.url + "/health", timeout=10).json()["status"] == "ok"
