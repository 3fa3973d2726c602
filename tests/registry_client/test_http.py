"""HTTP details of the client that a registry alone does not show: the proxies docker's
environment variables name."""

from __future__ import annotations


def test_pull_goes_through_the_proxy_the_environment_names(pybuild, busybox_image, docker_registry, repo,
                                                            fault_proxy, tmp_path, monkeypatch):
    target = f"{docker_registry.address}/{repo}:v1"
    pybuild("tag", busybox_image, target)
    pybuild("push", target)
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, f"http://{fault_proxy.address}")
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "https_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    other = type(pybuild)(tmp_path / "other-store")
    other("pull", target)
    assert other.inspect(target)["Id"] == pybuild.inspect(busybox_image)["Id"]
    # the HTTPS attempt's CONNECT is refused by this proxy (no tunnels): plain HTTP follows
    assert f"GET http://{docker_registry.address}/v2/{repo}/manifests/v1" in fault_proxy.seen
