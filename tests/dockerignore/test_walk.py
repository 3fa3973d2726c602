"""walk_context: the files a build sees, and excluded directories left unwalked."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.dockerignore import DockerIgnore, walk_context

TREE = [
    "Dockerfile",
    ".dockerignore",
    "README.md",
    "docs/guide.md",
    "docs/api/index.md",
    "node_modules/left-pad/index.js",
    "node_modules/left-pad/README.md",
    "node_modules/.bin/tool",
    "src/app.py",
    "src/app.log",
    "src/sub/deep.log",
    "src/sub/keep.log",
    ".git/HEAD",
    ".git/objects/ab/cdef",
    "build/out.o",
    "build/keep/x.txt",
]


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    root = tmp_path_factory.mktemp("ctx")
    for rel in TREE:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    return root


def _walk(context, text):
    return [rel for rel, _ in walk_context(context, DockerIgnore.from_text(text))]


def _brute_force(context, ignore):
    """Every path, kept if not excluded or if a kept path lies below it."""
    all_paths = []
    for dirpath, dirnames, filenames in os.walk(context):
        rel_dir = os.path.relpath(dirpath, context)
        for name in dirnames + filenames:
            all_paths.append(os.path.normpath(os.path.join(rel_dir, name)))
    kept = {p for p in all_paths if not ignore.matches(p)}
    for path in list(kept):
        parts = path.split("/")
        kept.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return kept


def test_walk_is_sorted_depth_first_without_ignore_file(context):
    walked = _walk(context, "")
    assert walked[:4] == [".dockerignore", ".git", ".git/HEAD", ".git/objects"]
    assert walked == sorted(walked, key=lambda p: p.split("/"))
    assert len(walked) == len(_brute_force(context, DockerIgnore()))


def test_typical_ignore_file_keeps_the_right_files(context):
    walked = _walk(context, "node_modules\n.git\n**/*.log\n!src/sub/keep.log\nbuild\n!build/keep\n")
    assert walked == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "build",
        "build/keep",
        "build/keep/x.txt",
        "docs",
        "docs/api",
        "docs/api/index.md",
        "docs/guide.md",
        "src",
        "src/app.py",
        "src/sub",
        "src/sub/keep.log",
    ]


def test_excluded_directory_is_not_entered_when_no_exception_can_reach_inside(context, monkeypatch):
    scanned = []
    real_scandir = os.scandir

    def recording_scandir(path):
        scanned.append(os.path.relpath(path, context))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", recording_scandir)
    _walk(context, "node_modules\n.git\n!docs/*.md\n!build/keep\nbuild\n")
    assert "node_modules" not in scanned
    assert ".git" not in scanned
    # build/keep could be re-included by the exception, so build must be read...
    assert "build" in scanned
    # ...but the exception came before `build`, so nothing inside is kept.
    assert not any(p.startswith("build") for p in _walk(context, "node_modules\n!build/keep\nbuild\n"))


def test_wildcard_exception_forces_walking_only_where_it_can_match(context, monkeypatch):
    scanned = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p: scanned.append(os.path.relpath(p, context)) or real_scandir(p))
    walked = _walk(context, "*\n!src/*.py\n")
    assert walked == ["src", "src/app.py"]
    assert "docs" not in scanned and "node_modules" not in scanned


def test_excluded_parent_of_reincluded_file_is_reported_before_it(context):
    walked = _walk(context, "node_modules\n!node_modules/left-pad/README.md\n")
    index = walked.index("node_modules/left-pad/README.md")
    assert walked[index - 2 : index] == ["node_modules", "node_modules/left-pad"]
    assert "node_modules/left-pad/index.js" not in walked
    assert "node_modules/.bin" not in walked


def test_symlinks_are_reported_not_followed(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "link").symlink_to("real")
    walked = dict(walk_context(tmp_path, DockerIgnore()))
    assert set(walked) == {"link", "real", "real/f"}
    assert walked["link"].is_symlink()


PATTERN_PARTS = st.sampled_from(
    ["*", "**", "?", "src", "sub", "docs", "node_modules", "*.log", "*.md", "keep*", "build", "[a-m]*", ".git", "api"]
)
PATTERN = st.builds(
    lambda neg, parts: ("!" if neg else "") + "/".join(parts),
    st.booleans(),
    st.lists(PATTERN_PARTS, min_size=1, max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(PATTERN, min_size=1, max_size=5))
def test_walk_equals_matching_every_path(context, patterns):
    ignore = DockerIgnore.from_patterns(patterns)
    walked = [rel for rel, _ in walk_context(context, ignore)]
    assert set(walked) == _brute_force(context, ignore)
    assert len(walked) == len(set(walked))
