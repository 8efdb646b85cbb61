"""schemathesis against /openapi.json of a real server: no input it generates may cause a 5xx.

schemathesis' own pytest plugin does not support pytest 9 yet, so each operation's case strategy is driven by
hypothesis directly inside one test (a bounded number of examples per operation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import RunningServer

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def fuzz_server(
    server_factory: Callable[..., RunningServer], tmp_path_factory: pytest.TempPathFactory
) -> RunningServer:
    return server_factory(tmp_path_factory.mktemp("fuzz"), max_sessions=4, finished_linger=0.0, sweep_interval=0.5)


def test_no_input_causes_a_server_error(fuzz_server: RunningServer) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    seen: dict[str, set[int]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)  # fmt: skip
        def check(case: Any) -> None:
            response = case.call(base_url=fuzz_server.url, timeout=60)
            seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
            if response.status_code >= 400 and "application/json" in str(response.headers.get("content-type")):
                body = response.json()
                assert body["status"] == "error" and body["error"]["code"] and body["error"]["message"]
            if case.path.endswith("/init") and response.status_code == 201:  # keep the session count bounded
                sid = response.json()["session_id"]
                httpx.delete(f"{fuzz_server.url}/api/audio-driven/chunked/session/{sid}", timeout=30)

        check()
    assert httpx.get(f"{fuzz_server.url}/healthz", timeout=10).json()["status"] == "ok"
    assert len(seen) >= 7, seen
