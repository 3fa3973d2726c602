"""Parse Dockerfiles with pybuild and with the `dockerfile-parse` package, side by side.

Two inputs: a generated 2,000-line Dockerfile (multi-stage, continuations, flags, JSON
and shell forms, ENV/LABEL/ARG pairs; no heredocs, which dockerfile-parse cannot read)
and every Dockerfile of fixtures/dockerfiles/ that parses.

pybuild builds its full typed AST (flags checked and split, exec/shell form, key/value
pairs, heredocs, line ranges). dockerfile-parse is timed doing two amounts of work:

- `context_structure`: its nearest equivalent of pybuild's output. It runs `structure`
  once (line joining, instruction + raw value) and splits the ENV/LABEL/ARG values into
  key/value pairs. (Reading `structure` first and then `context_structure` would run
  `structure` twice: it is a property that is recomputed on every access.)
- `structure` alone: less work than pybuild does (no splitting of any value, no
  checks), printed as the lower bound.

Ratios are dockerfile-parse time / pybuild time: above 1, pybuild is faster. Runs are
interleaved (pybuild, then each dockerfile-parse variant, repeated), so a change in the
load of the machine hits every contender alike; the minimum and the median of the
repetitions are both printed, and so are the ratios of each.

Not counted in the ratios, printed apart: importing the parser and its first parse,
which loads the LALR tables from the on-disk cache (builder/lark_cache.py). Each file is
parsed from its text every time; no cache of parsed files is involved.

    .venv/bin/python bench/parse.py [--repeat 40]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from builder.errors import DockerfileError  # noqa: E402
from builder.parser import parse  # noqa: E402


def generated_dockerfile(lines: int = 2000) -> str:
    out = ["# syntax=docker/dockerfile:1", "ARG BASE=debian:bookworm", "FROM $BASE AS build"]
    i = 0
    while len(out) < lines:
        i += 1
        kind = i % 10
        if kind == 0:
            out += [f"RUN apt-get update && apt-get install -y pkg{i} \\",
                    f"    other{i} \\", "    && rm -rf /var/lib/apt/lists/*"]
        elif kind == 1:
            out.append(f'ENV VAR{i}=value{i} OTHER{i}="quoted value {i}"')
        elif kind == 2:
            out.append(f"COPY --chown=app:app --link src{i}/ /app/src{i}/")
        elif kind == 3:
            out.append(f'LABEL org.example.l{i}="v{i}" other{i}=x')
        elif kind == 4:
            out.append(f'CMD ["python", "app{i}.py", "--port", "{i}"]')
        elif kind == 5:
            out.append(f"WORKDIR /app/{i}")
        elif kind == 6:
            out.append(f"# comment {i}")
        elif kind == 7:
            out.append(f"RUN --mount=type=cache,target=/root/.cache/{i} pip install pkg{i}")
        elif kind == 8:
            out.append(f"ARG A{i}=1")
        else:
            out.append(f"FROM base{i} AS stage{i}")
    return "\n".join(out[:lines]) + "\n"


def corpus() -> list[str]:
    texts = []
    for path in sorted((REPO / "fixtures" / "dockerfiles").glob("*.Dockerfile")):
        text = path.read_text(encoding="utf-8")
        try:
            parse(text)
        except DockerfileError:
            continue
        texts.append(text)
    return texts


def timings(repeat: int, fns: list[Callable[[], object]]) -> list[list[float]]:
    """Seconds of each run of each function, runs interleaved."""
    runs: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            runs[k].append(time.perf_counter() - start)
    return runs


def run_pybuild(texts: list[str]) -> None:
    for text in texts:
        parse(text)


def run_dfp(blobs: list[bytes], pairs: bool) -> None:
    from dockerfile_parse import DockerfileParser

    for blob in blobs:
        parser = DockerfileParser(fileobj=io.BytesIO(blob), env_replace=False)
        if pairs:
            parser.context_structure
        else:
            parser.structure


def same_instructions(text: str) -> None:
    """On the generated file both parsers find the same instructions, so they do
    comparable work (on the corpus dockerfile-parse misreads heredocs and a few more)."""
    from dockerfile_parse import DockerfileParser

    ours = [i.name for i in parse(text).instructions]
    theirs = [i["instruction"] for i in DockerfileParser(fileobj=io.BytesIO(text.encode())).structure
              if i["instruction"] != "COMMENT"]
    if ours != theirs:
        raise SystemExit("pybuild and dockerfile-parse split the generated file differently")


def startup_cost() -> str:
    code = ("import time; t=time.perf_counter(); import builder.parser as p; "
            "t1=time.perf_counter(); p.parse('FROM a\\n'); t2=time.perf_counter(); "
            "print(f'{(t1-t)*1000:.1f} {(t2-t1)*1000:.1f}')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    return (f"one-time, not in the ratios: import builder.parser {out[0]} ms, first parse "
            f"(imports lark, loads the cached LALR tables) {out[1]} ms")


def heredoc_demo() -> str:
    from dockerfile_parse import DockerfileParser

    text = (REPO / "fixtures" / "dockerfiles" / "heredoc-run.Dockerfile").read_text()
    theirs = [i["instruction"] for i in DockerfileParser(fileobj=io.BytesIO(text.encode())).structure]
    ours = [i.name for i in parse(text).instructions]
    return f"heredoc-run.Dockerfile: pybuild {ours}, dockerfile-parse {theirs}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=40)
    args = ap.parse_args()

    parse("FROM warm\n")
    print(startup_cost())
    generated = generated_dockerfile()
    same_instructions(generated)
    inputs = {"generated 2,000 lines": [generated], "fixture corpus": corpus()}
    for label, texts in inputs.items():
        blobs = [text.encode() for text in texts]
        lines = sum(t.count("\n") for t in texts)
        ours, pairs, bare = timings(args.repeat, [lambda: run_pybuild(texts),
                                                  lambda: run_dfp(blobs, True),
                                                  lambda: run_dfp(blobs, False)])
        print(f"\n{label}: {len(texts)} file(s), {lines} lines, {args.repeat} interleaved runs"
              "\n                                      min ms  median ms   ratio (min / median)")
        for name, runs in (("pybuild parse (typed AST)", ours),
                           ("dockerfile-parse context_structure", pairs),
                           ("dockerfile-parse structure only", bare)):
            row = f"  {name:<35} {min(runs) * 1000:7.2f}  {statistics.median(runs) * 1000:9.2f}"
            if runs is not ours:
                row += (f"   {min(runs) / min(ours):5.2f}x / "
                        f"{statistics.median(runs) / statistics.median(ours):5.2f}x")
            print(row)
    print("\n" + heredoc_demo())


if __name__ == "__main__":
    main()
