"""Parse Dockerfiles with pybuild and with the `dockerfile-parse` package, side by side.

Two inputs: a generated 2,000-line Dockerfile (multi-stage, continuations, flags, JSON
and shell forms, ENV/LABEL/ARG pairs; no heredocs, which dockerfile-parse cannot read)
and every Dockerfile of fixtures/dockerfiles/ that parses.

pybuild builds its full typed AST (flags, exec/shell form, key/value pairs, heredocs).
dockerfile-parse is timed twice: `structure` alone (instruction + raw value, no
splitting at all) and `structure` + `context_structure` (adds its ENV/LABEL/ARG
key/value split, the part of its output nearest to what pybuild returns). Ratios are
dockerfile-parse time / pybuild time (above 1: pybuild is faster).

The lark parser is built (or loaded from lark's cache) before timing: that one-time cost
and the import cost are printed separately.

    .venv/bin/python bench/parse.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import io
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


def best_of(repeat: int, fns: list[Callable[[], object]]) -> list[float]:
    """Best time of each function; runs are interleaved so that a change in the load of
    the machine hits every contender alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def run_pybuild(texts: list[str]) -> None:
    for text in texts:
        parse(text)


def run_dfp(texts: list[str], with_pairs: bool) -> None:
    from dockerfile_parse import DockerfileParser

    for text in texts:
        parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False)
        parser.structure
        if with_pairs:
            parser.context_structure


def startup_cost() -> str:
    code = ("import time; t=time.perf_counter(); import builder.parser as p; "
            "t1=time.perf_counter(); p.parse('FROM a\\n'); t2=time.perf_counter(); "
            "print(f'{(t1-t)*1000:.1f} {(t2-t1)*1000:.1f}')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    return f"import builder.parser {out[0]} ms, first parse (imports lark, loads the cached parser) {out[1]} ms"


def heredoc_demo() -> str:
    from dockerfile_parse import DockerfileParser

    text = (REPO / "fixtures" / "dockerfiles" / "heredoc-run.Dockerfile").read_text()
    theirs = [i["instruction"] for i in DockerfileParser(fileobj=io.BytesIO(text.encode())).structure]
    ours = [i.name for i in parse(text).instructions]
    return f"heredoc-run.Dockerfile: pybuild {ours}, dockerfile-parse {theirs}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()

    parse("FROM warm\n")
    print(startup_cost())
    inputs = {"generated 2,000 lines": [generated_dockerfile()], "fixture corpus": corpus()}
    for label, texts in inputs.items():
        lines = sum(t.count("\n") for t in texts)
        ours, bare, pairs = best_of(args.repeat, [lambda: run_pybuild(texts),
                                                  lambda: run_dfp(texts, False),
                                                  lambda: run_dfp(texts, True)])
        print(f"\n{label}: {len(texts)} file(s), {lines} lines (best of {args.repeat})")
        print(f"  pybuild parse (typed AST)                     {ours * 1000:8.2f} ms")
        print(f"  dockerfile-parse structure                    {bare * 1000:8.2f} ms"
              f"   ratio {bare / ours:5.2f}x")
        print(f"  dockerfile-parse structure+context_structure  {pairs * 1000:8.2f} ms"
              f"   ratio {pairs / ours:5.2f}x")
    print("\n" + heredoc_demo())


if __name__ == "__main__":
    main()
