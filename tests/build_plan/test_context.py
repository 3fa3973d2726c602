"""builder.context: content digests of COPY selections, and their memo."""

import os
from pathlib import Path

import pytest

from builder.context import BuildContext, HashMemo, SqliteHashMemo, hash_selection
from builder.copy import CopyOptions


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('hi')\n")
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "big.js").write_text("big\n")
    (root / ".dockerignore").write_text("node_modules\n*.log\n")
    return root


def digest(ctx: Path, sources=(".",), **options) -> str:
    return BuildContext.open(ctx).hash(list(sources), BuildContext.open(ctx).copy_options(**options)).digest


def test_touching_a_file_keeps_the_digest_editing_it_changes_it(ctx: Path):
    before = digest(ctx)
    os.utime(ctx / "src" / "main.py", (1, 1))
    assert digest(ctx) == before
    (ctx / "src" / "main.py").write_text("print('bye')\n")
    assert digest(ctx) != before


def test_mode_and_symlink_target_count_owner_only_outside_the_context(ctx: Path):
    before = digest(ctx)
    os.chmod(ctx / "src" / "main.py", 0o755)
    assert digest(ctx) != before
    after_chmod = digest(ctx)
    os.chown(ctx / "src" / "main.py", 1000, 1000)
    assert digest(ctx) == after_chmod  # the context is copied as 0:0
    stage = hash_selection(ctx, ["src"], options=CopyOptions()).digest
    os.chown(ctx / "src" / "main.py", 0, 0)
    assert hash_selection(ctx, ["src"], options=CopyOptions()).digest != stage


def test_ignored_and_unselected_files_do_not_count(ctx: Path):
    before, only_src = digest(ctx), digest(ctx, ["src"])
    (ctx / "node_modules" / "big.js").write_text("changed\n")
    (ctx / "build.log").write_text("log\n")
    assert digest(ctx) == before
    (ctx / "README").write_text("new\n")
    assert digest(ctx) != before and digest(ctx, ["src"]) == only_src


def test_entries_name_each_path_for_explanations(ctx: Path):
    selection = BuildContext.open(ctx).hash(["src/*.py", "src/pkg"])
    assert list(selection.entries) == ["src/main.py", "src/pkg", "src/pkg/mod.py"]


def test_memo_spares_reading_unchanged_files(ctx: Path, monkeypatch: pytest.MonkeyPatch):
    memo = HashMemo()
    first = BuildContext.open(ctx).hash(["."], memo=memo).digest
    opened: list[str] = []
    real_open = open

    def spy(path, *args, **kwargs):
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builder.context.open", spy, raising=False)
    assert BuildContext.open(ctx).hash(["."], memo=memo).digest == first
    assert opened == []
    (ctx / "src" / "main.py").write_text("print('changed')\n")
    BuildContext.open(ctx).hash(["."], memo=memo)
    assert opened == [str(ctx / "src" / "main.py")]


def test_sqlite_memo_survives_between_processes(ctx: Path, tmp_path: Path):
    context = BuildContext.open(ctx)
    with SqliteHashMemo(tmp_path / "memo.db") as memo:
        first = context.hash(["."], memo=memo.load(context.root)).digest
    with SqliteHashMemo(tmp_path / "memo.db") as memo:
        memo.load(context.root)
        assert str(ctx / "src" / "main.py") in memo
        assert context.hash(["."], memo=memo).digest == first
