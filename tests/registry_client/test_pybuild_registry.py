"""The client against the bundled server (`pybuild registry serve`), with skopeo as the
independent reader of what the client pushed."""

from __future__ import annotations

import json


def test_push_mount_pull_and_copy_against_the_bundled_server(pybuild, busybox_image, pybuild_registry, skopeo,
                                                             tmp_path):
    first, second = f"{pybuild_registry}/a/busybox:1", f"{pybuild_registry}/b/busybox:1"
    pybuild("tag", busybox_image, first)
    digest = pybuild("push", "-q", first).stdout.strip()
    assert json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{first}").stdout)["Digest"] == digest
    pybuild("tag", busybox_image, second)
    assert pybuild("push", second).stdout.count("Mounted from another repository") == 1
    other = type(pybuild)(tmp_path / "other-store")
    assert f"Digest: {digest}" in other("pull", second).stdout
    assert other.inspect(second)["Id"] == pybuild.inspect(busybox_image)["Id"]
    copied = f"{pybuild_registry}/c/copied:2"
    assert pybuild("copy", first, copied).stdout.strip() == f"{copied}: digest: {digest}"
    assert pybuild("ls", f"{pybuild_registry}/c/copied").stdout.split() == ["2"]
