"""Repeated failed logins for one user from one address are slowed down, doubling per
failure up to a cap; beyond the cap they are turned away with 429 TOOMANYREQUESTS. The
module's server lets 3 failures pass, then waits 0.3 s, 0.6 s, capped at 1.2 s."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from registry_server.throttle import LoginThrottle, ThrottlePolicy


def timed_login(registry, user: str, password: str) -> tuple[int, float]:
    start = time.monotonic()
    r = requests.get(f"{registry.url}/token", auth=(user, password))
    return r.status_code, time.monotonic() - start


def test_failed_logins_are_slowed_down_per_user_and_capped(registry):
    quick = [timed_login(registry, "bob", "guess") for _ in range(3)]
    assert all(status == 401 and took < 0.25 for status, took in quick), quick
    status, took = timed_login(registry, "bob", "guess")
    assert status == 401 and took >= 0.25
    status, took = timed_login(registry, "bob", "guess")
    assert status == 401 and took >= 0.55

    # Another user from the same address is not slowed down.
    status, took = timed_login(registry, "alice", registry.passwords["alice"])
    assert status == 200 and took < 0.25

    # Parallel guesses queue behind each other; those beyond the cap are turned away.
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: requests.get(f"{registry.url}/token", auth=("bob", "guess")),
                                  range(3)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses[-1] == 429, statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert int(refused.headers["Retry-After"]) >= 1


def test_a_successful_login_forgets_the_failures(tmp_path):
    throttle = LoginThrottle(tmp_path / "t.db", ThrottlePolicy(free_failures=1, base_delay=10, max_delay=60))
    for now in (0.0, 1.0):
        assert throttle.reserve("u", "a", now) is not None
        throttle.failed("u", "a", now)
    assert throttle.reserve("u", "a", 1.0) == 20.0  # second failure: 10 s * 2
    throttle.succeeded("u", "a")
    assert throttle.reserve("u", "a", 1.0) == 0.0


def test_the_delay_doubles_from_the_base_and_stops_at_the_cap():
    policy = ThrottlePolicy(free_failures=3, base_delay=1, max_delay=30)
    assert [policy.delay(n) for n in range(1, 10)] == [0, 0, 1, 2, 4, 8, 16, 30, 30]
