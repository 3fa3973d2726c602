"""Docker's default capability set, and applying it to the container process."""

from runner import libc

# CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE,
# NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP: moby's oci/caps/defaults.go
DOCKER_DEFAULT_CAPS = (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31)
DOCKER_DEFAULT_MASK = sum(1 << c for c in DOCKER_DEFAULT_CAPS)  # 0xa80425fb
CAP_MKNOD = 27


def drop_bounding_set(last_cap: int, keep: int) -> None:
    """Must run while still root with CAP_SETPCAP, i.e. before switching user."""
    for cap in range(last_cap + 1):
        if not keep >> cap & 1:
            libc.prctl(libc.PR_CAPBSET_DROP, cap)


def limit_process_caps(uid: int, keep: int) -> None:
    """After setresuid: root keeps exactly `keep`; any other user already lost all
    permitted capabilities in setresuid, as with Docker. Inheritable and ambient sets are
    emptied (CVE-2022-24769)."""
    libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
    if uid == 0:
        libc.capset(keep, keep, 0)
    else:
        libc.capset(0, 0, 0)
