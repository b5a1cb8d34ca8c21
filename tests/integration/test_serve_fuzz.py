"""A bounded fuzz run against the published OpenAPI document: no request gets a 5xx (the long
run is bench/serve_fuzz.py)."""

from __future__ import annotations

from healthnn.serve._fuzz import fuzz


def test_fuzzed_requests_never_get_a_5xx(server, api_keys):
    result = fuzz(server.url, api_keys.full, n=12, seed=1)
    assert result.requests >= 12 * 6
    assert result.server_errors == []
    assert result.not_json == []
    assert result.resets == []  # no connection dropped (issue 23.10)
    # the run reached the models (2xx) as well as the validation (4xx)
    assert result.by_status.get(200, 0) > 10
    assert sum(v for k, v in result.by_status.items() if 400 <= k < 500) > 10
