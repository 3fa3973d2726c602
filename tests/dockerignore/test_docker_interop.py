"""walk_context against the real thing: what dockerd's BuildKit copies with `COPY . /ctx`."""

from pathlib import Path

import peers
from builder.dockerignore import DockerIgnore, walk_context

FILES = [
    "README.md",
    "docs/guide.md",
    "docs/api/index.md",
    "docs/api/spec.yaml",
    "node_modules/left-pad/index.js",
    "node_modules/left-pad/README.md",
    "node_modules/.bin/tool",
    "src/app.py",
    "src/app.log",
    "src/sub/deep.log",
    "src/sub/keep.log",
    ".git/HEAD",
    "build/out.o",
    "build/keep/x.txt",
    "a b/c d.txt",
]

DOCKERIGNORE = """\
# dependencies and VCS
node_modules
!node_modules/left-pad/README.md
.git
**/*.log
!src/sub/keep.log
build
!build/keep
docs/*.md
/a b/
"""


def test_buildkit_copies_exactly_what_walk_context_yields(
        dockerd: peers.Dockerd, docker_busybox: str, tmp_path: Path):
    context = tmp_path / "context"
    for rel in FILES:
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        (context / rel).write_text(rel)
    (context / ".dockerignore").write_text(DOCKERIGNORE)
    (context / "Dockerfile").write_text(
        f"FROM {docker_busybox}\nCOPY . /ctx\nRUN cd /ctx && find . -mindepth 1 | sort > /listing\n")
    name = "pybuild-test/dockerignore:1"
    dockerd.docker("build", "--network", "none", "-t", name, context, buildkit=True)
    listing = dockerd.docker("run", "--rm", "--network", "none", name, "cat", "/listing").stdout

    ours = sorted("./" + rel for rel, _ in walk_context(context, DockerIgnore.from_context(context)))

    assert listing.splitlines() == ours
    assert "./node_modules/left-pad/README.md" in ours and "./src/sub/keep.log" in ours
