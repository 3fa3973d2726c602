"""Contract: namespaces and networks."""

import os
import subprocess
import uuid


def test_process_is_pid_1_of_its_own_pid_namespace(sh):
    ran = sh("echo $$; ls /proc > /tmp/listing; grep -c '^[0-9]' /tmp/listing")
    assert ran.stdout.split() == ["1", "2"]  # the shell and ls: the runner is invisible


def test_hostname_is_the_spec_hostname_in_its_own_uts_namespace(sh):
    host_before = os.uname().nodename
    ran = sh("hostname; cat /etc/hostname; echo $HOSTNAME", hostname="box")
    assert ran.stdout.split() == ["box", "box", "box"]
    assert os.uname().nodename == host_before


def test_default_hostname_is_twelve_hex_digits(sh):
    name = sh("hostname").stdout.strip()
    assert len(name) == 12 and int(name, 16) >= 0


def test_mount_ipc_pid_uts_namespaces_differ_from_the_callers(sh):
    ran = sh("for ns in mnt ipc pid uts net; do readlink /proc/self/ns/$ns; done")
    inside = dict(zip(["mnt", "ipc", "pid", "uts", "net"], ran.stdout.split()))
    for ns in ("mnt", "ipc", "pid", "uts"):
        assert inside[ns] != os.readlink(f"/proc/self/ns/{ns}")
    assert inside["net"] == os.readlink("/proc/self/ns/net")  # network "host" is the default


def test_network_none_has_only_loopback_and_it_is_up(sh):
    ran = sh("ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags;"
             "readlink /proc/self/ns/net", network="none")
    names, operstate, flags, netns = ran.stdout.split()
    assert names == "lo"
    assert int(flags, 16) & 1  # IFF_UP
    assert netns != os.readlink("/proc/self/ns/net")


def test_network_none_loopback_carries_traffic(sh):
    ran = sh("ping -c 1 -W 5 127.0.0.1", network="none")
    assert ran.exit_code == 0 and "1 packets received" in ran.stdout, ran


def test_network_host_sees_the_hosts_interfaces(sh):
    ran = sh("ls /sys/class/net")
    assert sorted(ran.stdout.split()) == sorted(os.listdir("/sys/class/net"))


def test_network_path_joins_that_namespace(sh):
    name = f"pybuild-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ran = sh("readlink /proc/self/ns/net", network=f"/run/netns/{name}")
        assert ran.stdout.strip() == f"net:[{os.stat(f'/run/netns/{name}').st_ino}]"
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)
