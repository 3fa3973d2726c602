"""Contract: the root filesystem, /proc, /dev, /sys, /etc files and mounts."""

import os
import hashlib

from runner.spec import Mount, RunSpec


def _tree_digest(root: str) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(filenames + dirnames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            h.update(f"{path} {st.st_mode} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def test_writes_go_to_the_upper_dir_and_layers_stay_unchanged(sh, layers, tmp_path):
    before = [_tree_digest(layer) for layer in layers]
    ran = sh("echo new > /etc/new-file && rm /bin/ls && echo changed >> /etc/passwd",
             scratch=str(tmp_path / "scratch"), keep_upper=True)
    assert ran.exit_code == 0, ran
    assert [_tree_digest(layer) for layer in layers] == before
    upper = ran.result.upper
    assert open(os.path.join(upper, "etc/new-file")).read() == "new\n"
    assert os.stat(os.path.join(upper, "bin/ls")).st_rdev == 0  # an overlay whiteout
    assert open(os.path.join(upper, "etc/passwd")).read().endswith("changed\n")


def test_kept_upper_has_no_mount_point_stubs(sh, layers, tmp_path):
    source = tmp_path / "data"
    source.mkdir()
    ran = sh("true", scratch=str(tmp_path / "scratch"), keep_upper=True,
             mounts=[Mount(target="/mnt/deep/data", source=str(source))])
    upper = ran.result.upper
    # the image has no /etc/hosts, /etc/resolv.conf, /etc/hostname nor /mnt
    assert sorted(os.listdir(upper)) in ([], ["etc"])
    assert not os.path.exists(os.path.join(upper, "etc/hosts"))
    assert not os.path.exists(os.path.join(upper, "mnt"))
    assert sorted(os.listdir(tmp_path / "scratch")) == ["upper"]


def test_scratch_is_removed_unless_the_upper_is_kept(sh, tmp_path):
    sh("touch /x", scratch=str(tmp_path / "scratch"))
    assert os.listdir(tmp_path / "scratch") == []


def test_no_host_mount_is_visible_after_pivot_root(sh):
    ran = sh("cat /proc/self/mountinfo")
    mount_points = [line.split()[4] for line in ran.stdout.splitlines()]
    assert mount_points[0] == "/"
    assert ran.stdout.splitlines()[0].split(" - ")[1].startswith("overlay")
    host_only = {line.split()[4] for line in open("/proc/self/mountinfo")} - set(mount_points)
    assert "/work" not in mount_points and "/sys/fs/cgroup/memory" in host_only
    assert sorted(mount_points) == sorted([
        "/", "/proc", "/dev", "/dev/pts", "/sys", "/dev/mqueue", "/dev/shm", "/etc/resolv.conf",
        "/etc/hostname", "/etc/hosts"] + [p for p in mount_points if p.startswith(("/proc/", "/sys/"))])


def test_proc_masked_paths_are_empty_and_read_only_paths_refuse_writes(sh):
    ran = sh("cat /proc/keys /proc/timer_list | wc -c; ls /proc/acpi | wc -l; ls /sys/firmware | wc -l;"
             "touch /proc/acpi/x 2>&1; { echo 1 > /proc/sys/kernel/domainname; } 2>&1;"
             "grep -E ' /proc/(sys|irq|bus|fs|sysrq-trigger) ' /proc/self/mountinfo")
    lines = ran.stdout.splitlines()
    assert lines[:3] == ["0", "0", "0"]
    assert "Read-only file system" in lines[3]
    assert "Read-only file system" in lines[4]
    read_only = [line.split()[4] for line in lines[5:] if " ro," in line]
    assert sorted(read_only) == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"] + (
        ["/proc/sysrq-trigger"] if os.path.exists("/proc/sysrq-trigger") else [])


def test_dev_is_a_small_tmpfs_with_the_standard_devices_and_links(sh):
    ran = sh("ls /dev | sort | tr '\\n' ' '; echo; stat -c '%t:%T %a %n' /dev/null /dev/zero /dev/full"
             " /dev/random /dev/urandom /dev/tty; "
             "for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done;"
             "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; grep -E ' /dev(/pts|/shm|/mqueue)? ' /proc/self/mountinfo")
    lines = ran.stdout.splitlines()
    assert lines[0].split() == ["core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm",
                                "stderr", "stdin", "stdout", "tty", "urandom", "zero"]
    assert lines[1:7] == ["1:3 666 /dev/null", "1:5 666 /dev/zero", "1:7 666 /dev/full",
                          "1:8 666 /dev/random", "1:9 666 /dev/urandom", "5:0 666 /dev/tty"]
    assert lines[7:12] == ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2"]
    assert lines[12:14] == ["4", "null-ok"]
    fstypes = {line.split()[4]: line.split(" - ")[1].split()[0] for line in lines[14:]}
    assert fstypes == {"/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue"}
    assert any("ptmxmode=666" in line for line in lines[14:])


def test_sys_is_read_only(sh):
    ran = sh("touch /sys/x 2>&1; grep ' /sys ' /proc/self/mountinfo")
    assert "Read-only file system" in ran.stdout
    assert " ro," in ran.stdout.splitlines()[1]


def test_etc_files_are_bind_mounted_from_files_the_runner_writes(sh, layers):
    ran = sh("cat /etc/hostname; grep -c localhost /etc/hosts; grep 'db' /etc/hosts;"
             "cmp /etc/resolv.conf /proc/1/root/etc/resolv.conf && echo same",
             hostname="web", network="none", extra_hosts={"db": "10.0.0.5"})
    lines = ran.stdout.splitlines()
    assert lines[0] == "web"
    assert int(lines[1]) >= 2
    assert lines[2] == "10.0.0.5\tdb"
    assert open("/etc/resolv.conf").read() == sh("cat /etc/resolv.conf").stdout
    assert not any(os.path.exists(os.path.join(layer, "etc/hosts")) for layer in layers)


def test_bind_mounts_read_write_and_read_only(sh, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "file").write_text("host\n")
    ran = sh("echo from-container > /rw/out; cat /ro/file; { echo x > /ro/file; } 2>&1",
             mounts=[Mount(target="/rw", source=str(rw)), Mount(target="/ro", source=str(ro), readonly=True)])
    assert (rw / "out").read_text() == "from-container\n"
    assert ran.stdout.splitlines()[0] == "host"
    assert "Read-only file system" in ran.stdout
    assert (ro / "file").read_text() == "host\n"


def test_a_file_can_be_bind_mounted(sh, tmp_path):
    (tmp_path / "config").write_text("k=v\n")
    ran = sh("cat /etc/app.conf", mounts=[Mount(target="/etc/app.conf", source=str(tmp_path / "config"))])
    assert ran.stdout == "k=v\n"


def test_tmpfs_mounts(sh):
    ran = sh("echo x > /scratch/f && grep ' /scratch ' /proc/self/mountinfo; touch /rotmp/f 2>&1",
             mounts=[Mount(target="/scratch", type="tmpfs", options="size=1m,mode=1777"),
                     Mount(target="/rotmp", type="tmpfs", readonly=True)])
    line = ran.stdout.splitlines()[0]
    assert "tmpfs" in line and "size=1024k" in line
    assert "Read-only file system" in ran.stdout


def test_symlinked_mount_target_is_resolved_inside_the_root(sh, layers, tmp_path):
    """The image links /escape to a host directory (absolute and through ..): the mount
    lands inside the container's root, never on the host path."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("host file\n")
    layer = tmp_path / "evil-layer"
    layer.mkdir()
    os.symlink(str(victim), layer / "escape")
    os.symlink("../../../../../../.." + str(victim), layer / "escape2")
    source = tmp_path / "payload"
    source.mkdir()
    (source / "planted").write_text("x")
    ran = sh("ls /escape /escape2; readlink /escape; ls /" + str(victim).lstrip("/"),
             layers=layers + [str(layer)],
             mounts=[Mount(target="/escape", source=str(source)), Mount(target="/escape2", source=str(source))])
    assert ran.exit_code == 0, ran
    assert sorted(os.listdir(victim)) == ["keep"]
    assert ran.stdout.count("planted") == 3  # via both links and at the resolved path inside
    victim_mounted = [line for line in open("/proc/self/mountinfo") if str(victim) in line]
    assert victim_mounted == []


def test_an_image_without_layers_gets_an_empty_root(layers, run_spec, tmp_path):
    """FROM scratch: only what is bind-mounted exists (here busybox, to look around)."""
    ran = run_spec(RunSpec(layers=[], argv=["/bb/bin/busybox", "ls", "/"],
                           mounts=[Mount(target="/bb", source=layers[0], readonly=True)]))
    assert ran.stdout.split() == ["bb", "dev", "etc", "proc", "sys"]
