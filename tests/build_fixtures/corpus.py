"""The build fixtures in fixtures/builds/: one directory per fixture, a Dockerfile, its
context files and an optional build.json:

    {"build_args": {"NAME": "value"},          # --build-arg on both sides
     "target": "stage",                         # --target on both sides
     "secrets": {"id": "file in the fixture"}, # --secret id=ID,src=FILE on both sides
     "base_fixtures": {"ARG": "fixture"},       # a build arg naming another fixture's image,
                                                # each side its own build of it
     "docker_dockerfile": "Dockerfile.x",       # what BuildKit 0.8 builds instead, when the
     "why": "...",                              # Dockerfile uses a feature 0.8 lacks
     "differences": [                           # where pybuild and BuildKit 0.8 are known to
       {"paths": ["a/path"], "config": ["Field"],  # differ (docs/build-differences.md); history
        "history": ["EXPOSE"], "why": "..."}]}    # names the start of pybuild's created_by
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

BUILDS = Path(__file__).resolve().parent.parent.parent / "fixtures" / "builds"


@dataclass(frozen=True)
class Fixture:
    name: str
    path: Path
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    base_fixtures: dict[str, str] = field(default_factory=dict)
    docker_dockerfile: str = "Dockerfile"
    why: str = ""
    path_differences: dict[str, str] = field(default_factory=dict)
    config_differences: dict[str, str] = field(default_factory=dict)
    history_differences: dict[str, str] = field(default_factory=dict)

    @property
    def dockerfile(self) -> str:
        return (self.path / "Dockerfile").read_text()

    def secret_flags(self) -> list[str]:
        return [f for sid, src in self.secrets.items() for f in ("--secret", f"id={sid},src={self.path / src}")]

    def common_flags(self, image_of: dict[str, str]) -> list[str]:
        """--build-arg/--target/--secret for one side; image_of maps a fixture name to
        that side's image of it."""
        args = {**self.build_args, **{arg: image_of[name] for arg, name in self.base_fixtures.items()}}
        flags = [f for k, v in args.items() for f in ("--build-arg", f"{k}={v}")]
        if self.target:
            flags += ["--target", self.target]
        return flags + self.secret_flags()


def load(path: Path) -> Fixture:
    spec = json.loads((path / "build.json").read_text()) if (path / "build.json").exists() else {}
    differences = spec.get("differences", [])
    return Fixture(name=path.name, path=path, build_args=spec.get("build_args", {}),
                   target=spec.get("target"), secrets=spec.get("secrets", {}),
                   base_fixtures=spec.get("base_fixtures", {}),
                   docker_dockerfile=spec.get("docker_dockerfile", "Dockerfile"), why=spec.get("why", ""),
                   path_differences={p: d["why"] for d in differences for p in d.get("paths", [])},
                   config_differences={c: d["why"] for d in differences for c in d.get("config", [])},
                   history_differences={h: d["why"] for d in differences for h in d.get("history", [])})


def all_fixtures() -> list[Fixture]:
    return [load(p) for p in sorted(BUILDS.iterdir()) if (p / "Dockerfile").is_file()]


def in_build_order(fixtures: list[Fixture]) -> list[list[Fixture]]:
    """Waves of fixtures: each wave only needs images of the waves before it."""
    done: set[str] = set()
    waves: list[list[Fixture]] = []
    pending = list(fixtures)
    while pending:
        wave = [f for f in pending if set(f.base_fixtures.values()) <= done]
        if not wave:
            raise ValueError(f"fixtures with missing or circular base_fixtures: {[f.name for f in pending]}")
        waves.append(wave)
        done |= {f.name for f in wave}
        pending = [f for f in pending if f.name not in done]
    return waves
