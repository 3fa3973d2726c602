"""Two pybuild processes (and a pruner) using one store at once never corrupt it."""

import hashlib
import json
import subprocess
import sys
import textwrap

from oci.reference import parse_reference
from oci.store import Store

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent("""
    import io, sys, tarfile
    from oci.importer import import_rootfs
    from oci.store import Store

    root, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store.open(root)
    for i in range(count):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            for shared in range(3):  # the same layer content in every process
                data = b"common file %d" % shared
                info = tarfile.TarInfo("common/%d" % shared)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            data = ("%s %d" % (who, i)).encode()
            info = tarfile.TarInfo("own")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        image = import_rootfs(store, io.BytesIO(raw.getvalue()), "%s/img:%d" % (who, i))
        store.tag(image, "shared:latest")
        store.tag(image, "%s:latest" % who)
        if i % 4 == 3:
            store.remove("%s/img:%d" % (who, i - 1))
    """)

PRUNER = textwrap.dedent("""
    import sys, time
    from oci.store import Store

    store = Store.open(sys.argv[1])
    deadline = time.time() + float(sys.argv[2])
    while time.time() < deadline:
        store.prune()
    """)


def test_two_processes_importing_and_tagging_with_a_prune_running(tmp_path):
    root = tmp_path / "store"
    Store.open(root).close()
    count = 24
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(root), who, str(count)], cwd=REPO,
                                stderr=subprocess.PIPE, text=True) for who in ("alpha", "beta")]
    pruner = subprocess.Popen([sys.executable, "-c", PRUNER, str(root), "4"], cwd=REPO,
                              stderr=subprocess.PIPE, text=True)
    for process in [*workers, pruner]:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err

    with Store.open(root) as store:
        expected = {f"{who}/img:{i}" for who in ("alpha", "beta") for i in range(count) if i % 4 != 2}
        expected |= {"shared:latest", "alpha:latest", "beta:latest"}
        tags = {parse_reference(t).familiar() for image in store.images() for t in image.tags}
        assert tags == expected

        # index.json is whole and says what the database says.
        index = json.loads((root / "index.json").read_text())
        named = {m["annotations"]["io.containerd.image.name"]: m["digest"]
                 for m in index["manifests"] if "annotations" in m}
        assert named == {t: image.manifest_digest for image in store.images() for t in image.tags}

        # Every image is complete and every blob is what its name says.
        for image in store.images():
            manifest = store.manifest(image)
            for digest in [image.manifest_digest, image.id, *(layer.digest for layer in manifest.layers)]:
                data = store.read_blob(digest)
                assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        for blob in (root / "blobs" / "sha256").iterdir():
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name

        store.prune()
        assert list((root / "tmp").iterdir()) == []

    done = subprocess.run(["skopeo", "inspect", f"oci:{root}:shared"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_two_cli_processes_tagging_the_same_store(store_root, cli, rootfs_tar):
    assert cli("import", rootfs_tar(), "base").code == 0
    procs = [subprocess.Popen(["bash", "-c", " && ".join(f"{REPO}/.venv/bin/pybuild tag base {who}/n:{i}"
                                                           for i in range(4))], stderr=subprocess.PIPE, text=True)
             for who in ("left", "right")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0 and err == "", err
    listed = cli("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()
    assert sorted(listed) == sorted(["base:latest"] + [f"{w}/n:{i}" for w in ("left", "right") for i in range(4)])
