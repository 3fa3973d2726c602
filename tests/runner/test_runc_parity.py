"""The same busybox bundle (`umoci unpack`) run by `runc run`, with Docker's capability
set and masked paths, and by the runner: same `id`, same capability lines, same mount
view except the documented differences (docs/runner.md): runc's spec mounts
/sys/fs/cgroup, the runner bind-mounts /etc/resolv.conf, /etc/hostname and /etc/hosts (as
Docker does), and the root is an overlay for the runner where runc's is a bind of the
bundle directory."""

import json
import subprocess
import uuid

import pytest

import peers
from runner.caps import DOCKER_DEFAULT_CAPS
from runner.rootfs import MASKED_PATHS, READONLY_PATHS

CAP_NAMES = {0: "CAP_CHOWN", 1: "CAP_DAC_OVERRIDE", 3: "CAP_FOWNER", 4: "CAP_FSETID", 5: "CAP_KILL",
             6: "CAP_SETGID", 7: "CAP_SETUID", 8: "CAP_SETPCAP", 10: "CAP_NET_BIND_SERVICE",
             13: "CAP_NET_RAW", 18: "CAP_SYS_CHROOT", 27: "CAP_MKNOD", 29: "CAP_AUDIT_WRITE",
             31: "CAP_SETFCAP"}

SCRIPT = "id; grep Cap /proc/self/status; echo ---; cat /proc/self/mountinfo"


@pytest.fixture(scope="module")
def bundle(busybox_rootfs_tar, users_layer, umoci, tmp_path_factory) -> str:
    """`umoci unpack` of busybox imported into a pybuild store (the store is an OCI
    layout), plus this area's users layer copied on top."""
    store = peers.Pybuild(tmp_path_factory.mktemp("store"))
    image = peers.import_base_image(store, busybox_rootfs_tar, peers.base_images.BUSYBOX)
    path = tmp_path_factory.mktemp("bundle") / "b"
    umoci("unpack", "--image", f"{store.root}:{image.split(':')[0]}", path)
    subprocess.run(["cp", "-a", f"{users_layer}/.", str(path / "rootfs")], check=True)
    (path / "rootfs").chmod(0o755)
    return str(path)


def runc_run(bundle: str, tmp_path, uid: int, gid: int, groups: list[int]) -> str:
    """runc's stdout for SCRIPT in the bundle, as `uid:gid` with `groups`."""
    with open(f"{bundle}/config.json") as f:
        config = json.load(f)
    caps = [CAP_NAMES[c] for c in DOCKER_DEFAULT_CAPS]
    config["process"].update(terminal=False, args=["sh", "-c", SCRIPT],
                             user={"uid": uid, "gid": gid, "additionalGids": groups},
                             capabilities={"bounding": caps, "effective": caps, "permitted": caps})
    config["process"].pop("rlimits", None)
    for mount in config["mounts"]:
        if mount["destination"] == "/proc":  # Docker's options; umoci's spec has none
            mount["options"] = ["nosuid", "noexec", "nodev"]
    config["linux"]["maskedPaths"] = list(MASKED_PATHS)  # Docker's lists, longer than umoci's
    config["linux"]["readonlyPaths"] = list(READONLY_PATHS)
    config["root"]["readonly"] = False
    config["hostname"] = "parity"
    with open(f"{bundle}/config.json", "w") as f:
        json.dump(config, f)
    out = subprocess.run(["runc", "--root", str(tmp_path / "runc-state"), "run", "--bundle", bundle,
                          f"pybuild-parity-{uuid.uuid4().hex[:8]}"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _mount_view(mountinfo: str) -> set[tuple[str, str, str]]:
    view = set()
    for line in mountinfo.splitlines():
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        view.add((parts[4], rest.split()[0], parts[5]))
    return view


@pytest.mark.parametrize("user, uid, gid, groups", [("", 0, 0, [0, 10]), ("alice", 1000, 1000, [1000, 50])])
def test_runner_matches_runc_for_id_caps_and_mounts(sh, bundle, tmp_path, user, uid, gid, groups):
    theirs = runc_run(bundle, tmp_path, uid, gid, groups)
    ours = sh(SCRIPT, user=user, network="none", hostname="parity").stdout
    their_head, their_mounts = theirs.split("---\n")
    our_head, our_mounts = ours.split("---\n")
    assert our_head == their_head
    assert "CapBnd:\t00000000a80425fb" in our_head
    theirs_view = {m for m in _mount_view(their_mounts) if not m[0].startswith("/sys/fs/cgroup")}
    ours_view = {m for m in _mount_view(our_mounts) if m[0] not in ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts")}
    root = lambda view: {m for m in view if m[0] == "/"}  # noqa: E731
    assert {m[2] for m in root(theirs_view)} == {m[2] for m in root(ours_view)}
    assert len(ours_view) > 10  # proc, dev, sys and their masks are all compared
    assert ours_view - root(ours_view) == theirs_view - root(theirs_view)
