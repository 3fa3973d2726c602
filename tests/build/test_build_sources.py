"""Where a build's inputs come from beyond the context: `ADD https://…` from a real HTTP
server, FROM images pulled from a registry, secrets from the environment, cache mounts
shared, locked or private, and `pybuild builder prune` of what builds leave behind."""

import hashlib
import os
import socket
import subprocess
import sys
import time

import pytest


MODIFIED = 1_600_000_000  # what the served file's Last-Modified says


def build(pybuild, ctx, *args: str, check: bool = True):
    return pybuild("build", "--progress=plain", *args, str(ctx), check=check)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_files(tmp_path):
    """A directory served by `python -m http.server` on 127.0.0.1; (directory, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root),
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        yield root, f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _serve(root, name: str, content: bytes) -> str:
    path = root / name
    path.write_bytes(content)
    os.utime(path, (MODIFIED, MODIFIED))
    return "sha256:" + hashlib.sha256(content).hexdigest()


def _in_image(pybuild, image: str, script: str) -> str:
    return pybuild("run", "--rm", "--entrypoint", "sh", image, "-c", script).stdout


# ---- ADD of URLs ---------------------------------------------------------------------

def test_add_url_names_the_file_after_the_url_with_mode_0600_and_last_modified_as_mtime(
        pybuild, busybox_image, context, http_files):
    root, url = http_files
    digest = _serve(root, "tool.sh", b"echo downloaded\n")
    sha512 = "sha512:" + hashlib.sha512(b"echo downloaded\n").hexdigest()
    ctx = context(f"FROM busybox\nADD --checksum={digest} {url}/tool.sh /opt/\n"
                  f"ADD --checksum={sha512} {url}/tool.sh /renamed\n")
    build(pybuild, ctx, "-t", "fetched")
    shown = _in_image(pybuild, "fetched", "stat -c '%n %a %u:%g %Y' /opt/tool.sh /renamed; cat /renamed")
    assert shown.splitlines() == [f"/opt/tool.sh 600 0:0 {MODIFIED}", f"/renamed 600 0:0 {MODIFIED}",
                                  "echo downloaded"]


def test_add_url_checksum_mismatch_fails_naming_the_dockerfile_line(pybuild, busybox_image, context, http_files):
    root, url = http_files
    _serve(root, "file.txt", b"the real content\n")
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    ctx = context(f"FROM busybox\nADD --checksum={wrong} {url}/file.txt /file.txt\n")
    result = build(pybuild, ctx, "-t", "bad", check=False)
    assert result.returncode == 1
    assert f"Dockerfile:2: ADD --checksum={wrong} {url}/file.txt /file.txt: checksum mismatch" in result.stderr
    assert "Traceback" not in result.stderr
    assert pybuild("images", "-q", "bad", check=False).stdout.strip() == ""


def test_add_url_of_a_missing_file_says_the_status(pybuild, busybox_image, context, http_files):
    _, url = http_files
    result = build(pybuild, context(f"FROM busybox\nADD {url}/nothere.txt /x\n"), check=False)
    assert result.returncode == 1
    assert f"failed to fetch {url}/nothere.txt: 404" in result.stderr and "Traceback" not in result.stderr


def test_add_url_archive_is_extracted_only_with_unpack_true(pybuild, busybox_image, context, http_files, tmp_path):
    root, url = http_files
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "inside.txt").write_text("from the archive\n")
    subprocess.run(["tar", "-czf", str(root / "tree.tar.gz"), "-C", str(tmp_path / "tree"), "inside.txt"],
                   check=True)
    ctx = context(f"FROM busybox\nADD {url}/tree.tar.gz /kept/\nADD --unpack=true {url}/tree.tar.gz /unpacked/\n")
    build(pybuild, ctx, "-t", "archives")
    assert _in_image(pybuild, "archives", "ls /kept /unpacked; cat /unpacked/inside.txt").splitlines() == [
        "/kept:", "tree.tar.gz", "", "/unpacked:", "inside.txt", "from the archive"]


def test_add_url_with_checksum_is_cached_without_fetching_and_without_one_by_content(
        pybuild, busybox_image, context, http_files):
    root, url = http_files
    digest = _serve(root, "pinned.txt", b"pinned\n")
    _serve(root, "moving.txt", b"version 1\n")
    ctx = context(f"FROM busybox\nADD --checksum={digest} {url}/pinned.txt /pinned.txt\nADD {url}/moving.txt /m\n")
    build(pybuild, ctx, "-t", "urls")
    (root / "pinned.txt").unlink()  # a cache hit by checksum does not ask the server
    _serve(root, "moving.txt", b"version 1\n")  # same content, new mtime upstream: still cached
    again = build(pybuild, ctx, "-t", "urls").stderr
    assert again.count("CACHED") == 2
    _serve(root, "moving.txt", b"version 2\n")
    changed = build(pybuild, ctx, "-t", "urls").stderr
    assert changed.count("CACHED") == 1
    assert _in_image(pybuild, "urls", "cat /pinned.txt /m") == "pinned\nversion 2\n"


HTTPS_SERVER = """\
import functools, http.server, ssl, sys
directory, port, cert, key = sys.argv[1:]
server = http.server.ThreadingHTTPServer(
    ("127.0.0.1", int(port)), functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory))
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


def _self_signed(directory) -> tuple:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "files")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "files.crt", directory / "files.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_add_https_url_is_verified_against_requests_ca_bundle(pybuild, busybox_image, context, tmp_path):
    www = tmp_path / "tls-www"
    www.mkdir()
    digest = _serve(www, "over-tls.txt", b"encrypted on the way\n")
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", HTTPS_SERVER, str(www), str(port), str(cert), str(key)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        ctx = context(f"FROM busybox\nADD --checksum={digest} https://127.0.0.1:{port}/over-tls.txt /\n")
        command = [*pybuild.command, "build", "--progress=plain", "-t", "tls", str(ctx)]
        untrusted = subprocess.run(command, env=pybuild.env(), capture_output=True, text=True)
        assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
        assert "Traceback" not in untrusted.stderr
        trusted = subprocess.run(command, env={**pybuild.env(), "REQUESTS_CA_BUNDLE": str(cert)},
                                 capture_output=True, text=True)
        assert trusted.returncode == 0, trusted.stderr
    finally:
        server.terminate()
        server.wait()
    assert _in_image(pybuild, "tls", "cat /over-tls.txt") == "encrypted on the way\n"


# ---- FROM through the registry -----------------------------------------------------

def test_from_an_image_only_in_a_registry_pulls_it(pybuild, busybox_image, context, docker_registry):
    remote = f"{docker_registry.address}/build-sources/busybox:1"
    pybuild("tag", busybox_image, remote)
    pybuild("push", remote)
    pybuild("rmi", remote, busybox_image)
    ctx = context(f"FROM {remote}\nRUN echo built on the pulled base > /note\n")
    result = build(pybuild, ctx, "-t", "onpulled")
    assert f"[internal] load metadata for {remote}" in result.stderr
    assert _in_image(pybuild, "onpulled", "cat /note") == "built on the pulled base\n"
    assert pybuild("images", "-q", remote).stdout.strip()  # the base stays in the store


def test_copy_from_an_image_only_in_a_registry_pulls_it(pybuild, busybox_image, context, docker_registry):
    remote = f"{docker_registry.address}/build-sources/copied:1"
    pybuild("tag", busybox_image, remote)
    pybuild("push", remote)
    pybuild("rmi", remote)
    ctx = context(f"FROM busybox\nCOPY --from={remote} /bin/busybox /copied\n")
    build(pybuild, ctx, "-t", "copied")
    assert _in_image(pybuild, "copied", "cmp /copied /bin/busybox && echo same") == "same\n"


def test_from_an_image_its_registry_lacks_fails_on_the_from_line(pybuild, context, docker_registry):
    missing = f"{docker_registry.address}/build-sources/nosuch:1"
    result = build(pybuild, context(f"FROM {missing}\nRUN true\n"), check=False)
    assert result.returncode == 1
    assert f"Dockerfile:1: {missing}: image not found locally nor in its registry" in result.stderr
    assert "Traceback" not in result.stderr


# ---- secrets from the environment ---------------------------------------------------

def test_secret_from_an_environment_variable_reaches_run_and_nothing_else(pybuild, busybox_image, context):
    secret = "s3cr3t-from-env-7f1c"
    ctx = context("FROM busybox\n"
                  "RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /length\n"
                  "RUN --mount=type=secret,id=token,target=/token grep -q s3cr3t /token && echo ok > /ok\n"
                  "RUN --mount=type=secret,id=token,env=API_TOKEN echo ${#API_TOKEN} > /env-length\n")
    env = {**pybuild.env(), "TOKEN_VALUE": secret}
    subprocess.run([*pybuild.command, "build", "--progress=plain", "--secret", "id=token,env=TOKEN_VALUE",
                    "-t", "withsecret", str(ctx)], env=env, check=True, capture_output=True, text=True)
    shown = _in_image(pybuild, "withsecret", "cat /length /ok /env-length; test -e /run/secrets/token || echo gone")
    assert shown.split() == [str(len(secret)), "ok", str(len(secret)), "gone"]
    needle = secret.encode()
    found = [path for path in pybuild.root.rglob("*") if path.is_file() and not path.is_symlink()
             and (needle in path.read_bytes() or needle in _decompressed(path.read_bytes()))]
    assert found == []  # no layer, snapshot, config or database holds it
    history = pybuild("history", "--no-trunc", "withsecret").stdout + pybuild("inspect", "withsecret").stdout
    assert secret not in history and "TOKEN_VALUE" not in history
    assert pybuild.inspect("withsecret")["Config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def _decompressed(data: bytes) -> bytes:
    import gzip

    if data[:2] != b"\x1f\x8b":
        return b""
    try:
        return gzip.decompress(data)
    except OSError:
        return b""


def test_secret_from_an_unset_variable_is_a_one_line_error(pybuild, busybox_image, context):
    env = {k: v for k, v in pybuild.env().items() if k != "NOT_SET_ANYWHERE"}
    result = subprocess.run([*pybuild.command, "build", "--secret", "id=x,env=NOT_SET_ANYWHERE",
                             str(context("FROM busybox\n"))], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "environment variable NOT_SET_ANYWHERE is not set" in result.stderr and "Traceback" not in result.stderr


# ---- cache mount sharing ------------------------------------------------------------

# Two stages run at once; each leaves a marker in the cache, waits up to 5 s for the
# other's, and records what it saw. Shared: both see both. Locked: the second runs after
# the first and sees its marker. Private: the second gets a fresh directory of its own.
SHARING = """\
FROM busybox AS a
RUN --mount=type=cache,id=c,target=/c,sharing={mode} touch /c/a \\
    && for i in $(seq 50); do [ -e /c/b ] && break; sleep 0.1; done; ls /c | tr '\\n' ' ' > /seen
FROM busybox AS b
RUN --mount=type=cache,id=c,target=/c,sharing={mode} touch /c/b \\
    && for i in $(seq 50); do [ -e /c/a ] && break; sleep 0.1; done; ls /c | tr '\\n' ' ' > /seen
FROM busybox
COPY --from=a /seen /a
COPY --from=b /seen /b
"""


def _sharing_seen(pybuild, context, mode: str) -> tuple[str, str]:
    build(pybuild, context(SHARING.format(mode=mode), name=f"ctx-{mode}"), "-t", mode)
    a, b = _in_image(pybuild, mode, "cat /a; echo; cat /b").splitlines()
    return a.strip(), b.strip()


def test_cache_mount_shared_is_used_by_concurrent_steps_at_once(pybuild, busybox_image, context):
    assert _sharing_seen(pybuild, context, "shared") == ("a b", "a b")


def test_cache_mount_locked_makes_the_second_step_wait_for_the_first(pybuild, busybox_image, context):
    seen = sorted(_sharing_seen(pybuild, context, "locked"), key=len)
    assert seen[0] in ("a", "b") and seen[1] == "a b"  # the later one finds the earlier's file


def test_cache_mount_private_gives_a_concurrent_step_a_fresh_directory(pybuild, busybox_image, context):
    assert _sharing_seen(pybuild, context, "private") == ("a", "b")


# ---- builder prune -------------------------------------------------------------------

def test_builder_prune_unpins_cache_snapshots_and_the_next_build_misses(pybuild, busybox_image, context):
    ctx = context("FROM busybox\nRUN head -c 3000000 /dev/zero > /big\n"
                  "RUN --mount=type=cache,target=/cache touch /cache/kept\n")
    build(pybuild, ctx, "-t", "gone")
    pybuild("rmi", "gone")  # its snapshots are now held by the build cache alone
    snapshots = pybuild.root / "snapshots"
    before = len(list(snapshots.iterdir()))
    pruned = pybuild("builder", "prune", "-f").stdout
    assert "Deleted build cache records: 2" in pruned
    assert "Total reclaimed space: 3" in pruned and "MB" in pruned
    assert len(list(snapshots.iterdir())) < before
    assert (pybuild.root / "cache-mounts").is_dir() and any((pybuild.root / "cache-mounts").iterdir())
    assert "CACHED" not in build(pybuild, ctx).stderr


def test_builder_prune_keeps_what_tagged_images_use_unless_all(pybuild, busybox_image, context):
    ctx = context("FROM busybox\nRUN echo one > /one\nRUN --mount=type=cache,target=/cache touch /cache/kept\n")
    build(pybuild, ctx, "-t", "kept")
    assert "Deleted build cache records: 0" in pybuild("builder", "prune", "-f").stdout
    assert build(pybuild, ctx, "-t", "kept").stderr.count("CACHED") == 2
    assert "Deleted build cache records: 0" in pybuild("builder", "prune", "-f", "--filter", "until=1h").stdout
    everything = pybuild("builder", "prune", "-af").stdout
    assert "Deleted build cache records: 2" in everything and "Deleted cache mounts: 1" in everything
    assert "CACHED" not in build(pybuild, ctx, "-t", "kept").stderr
    assert _in_image(pybuild, "kept", "cat /one") == "one\n"


def test_builder_prune_rejects_an_unknown_filter(pybuild):
    result = pybuild("builder", "prune", "-f", "--filter", "type=regular", check=False)
    assert result.returncode == 1 and "only until=DURATION is supported" in result.stderr


def test_prune_until_takes_go_durations():
    from builder.prune import InvalidFilter, parse_until

    assert parse_until("1h30m") == 5400 and parse_until("90s") == 90 and parse_until("1.5h") == 5400
    for bad in ("", "24", "1d", "h", "5m junk"):
        with pytest.raises(InvalidFilter):
            parse_until(bad)
