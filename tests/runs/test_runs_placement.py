"""Placement of a run on a host: --host NAME, --host auto, placement.default_host, max_agents."""

from __future__ import annotations

import pytest

from metawsm.errors import UsageError
from metawsm.policy import policy_from_data
from metawsm.runs.spec import place_run

HOSTS = {
    "hosts": {
        "local": {"max_agents": 4},
        "gpu1": {"address": "10.0.0.5", "max_agents": 10},
        "gpu2": {"address": "10.0.0.6"},
    }
}


def test_explicit_host_and_default() -> None:
    policy = policy_from_data(HOSTS)
    assert place_run("gpu1", policy, 2, {}) == "gpu1"
    assert place_run("", policy, 2, {}) == "local"
    moved = policy_from_data({**HOSTS, "placement": {"default_host": "gpu2"}})
    assert place_run("", moved, 2, {}) == "gpu2"


def test_auto_takes_the_most_free_capacity() -> None:
    limited = policy_from_data(
        {
            "hosts": {
                "local": {"max_agents": 4},
                "gpu1": {"address": "10.0.0.5", "max_agents": 10},
            }
        }
    )
    assert place_run("auto", limited, 1, {"local": 1, "gpu1": 3}) == "gpu1"  # 7 free > 3 free
    assert place_run("auto", limited, 1, {"local": 0, "gpu1": 9}) == "local"
    # no limit counts as the most room; among those the fewest agents
    unlimited = policy_from_data(HOSTS)
    assert place_run("auto", unlimited, 1, {"gpu2": 5}) == "gpu2"
    free = policy_from_data({"hosts": {"a": {"address": "h"}, "b": {"address": "i"}}})
    assert place_run("auto", free, 1, {"local": 2, "a": 1, "b": 0}) == "b"
    assert place_run("auto", free, 1, {}) == "local"  # a tie goes to this machine


def test_a_full_host_is_refused_and_auto_skips_it() -> None:
    policy = policy_from_data(
        {"hosts": {"local": {"max_agents": 2}, "g": {"address": "h", "max_agents": 2}}}
    )
    with pytest.raises(UsageError, match='host "g" is full: 1 agents running, max_agents 2'):
        place_run("g", policy, 2, {"g": 1})
    assert place_run("auto", policy, 2, {"local": 1}) == "g"
    with pytest.raises(UsageError, match="no host has room for 2 more agents"):
        place_run("auto", policy, 2, {"local": 1, "g": 1})


def test_an_unknown_or_invalid_host_is_a_usage_error() -> None:
    policy = policy_from_data(HOSTS)
    with pytest.raises(UsageError) as unknown:
        place_run("gpu9", policy, 1, {})
    assert "not in the policy (hosts: local, gpu1, gpu2)" in unknown.value.message
    assert unknown.value.hint
    with pytest.raises(UsageError, match="invalid host name"):
        place_run("a b", policy, 1, {})
