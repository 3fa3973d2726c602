"""One build, end to end: Dockerfile text and a context directory in, an image of the
store (and its tags) out. Parse → lint → plan → solve → commit, with progress.

This is what `pybuild build` calls; a library user calls `build()` the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from builder.cache import BuildCache
from builder.progress import Progress
from builder.solve import COMPRESSIONS, StageResult, StepFailed
from oci.errors import ImageNotFound, UserError
from oci.reference import parse_reference
from oci.store import Store, StoredImage

__all__ = ["BuildRequest", "BuildResult", "build", "failure_report", "source_date_epoch"]


@dataclass(frozen=True)
class BuildRequest:
    context: str  # the build context directory
    dockerfile: str  # its text
    dockerfile_name: str = "Dockerfile"  # how messages name it (-f as given)
    dockerfile_path: str | None = None  # on disk (its .dockerignore may sit beside it)
    tags: Sequence[str] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = "host"
    compression: str = "gzip"
    secrets: Mapping[str, str | bytes] = field(default_factory=dict)  # id -> file, or the value itself
    source_date_epoch: int | None = None


@dataclass(frozen=True)
class BuildResult:
    image: StoredImage
    stage: StageResult
    warnings: tuple = ()  # builder.checks LintWarning: printed after the build


class InvalidEpoch(UserError):
    """A SOURCE_DATE_EPOCH that is not a number of seconds."""


def source_date_epoch(build_args: Mapping[str, str], environ: Mapping[str, str]) -> int | None:
    """SOURCE_DATE_EPOCH from a build arg, else the environment (as buildx passes it)."""
    text = build_args.get("SOURCE_DATE_EPOCH") or environ.get("SOURCE_DATE_EPOCH")
    if not text:
        return None
    if not text.isdigit():
        raise InvalidEpoch(f"invalid SOURCE_DATE_EPOCH: {text!r} (seconds since 1970)")
    return int(text)


# (reference, platform or None) -> False when the registry has no such image; raises
# another UserError when it cannot be asked. The builder does not speak HTTP itself.
PullImage = Callable[[str, "str | None"], bool]


def build(store: Store, request: BuildRequest, progress: Progress, *, pull_image: PullImage | None = None,
          fetch_url: Callable | None = None) -> BuildResult:
    """Build and commit; raises DockerfileError, StepFailed or another UserError, with
    nothing committed. `pull_image` fetches a FROM image the store lacks; `fetch_url`
    (see registry_client.fetch) downloads `ADD https://…` sources."""
    from builder.checks import LintError, lint
    from builder.commit import commit_stage
    from builder.context import BuildContext, SqliteHashMemo
    from builder.parse_cache import cached_parse
    from builder.plan import BaseImageUnavailable, ImageBase, plan_build
    from builder.solve import SolveOptions, Solver
    from oci.config import ImageConfig

    if os.geteuid() != 0:
        raise UserError("pybuild build needs root: COPY and RUN steps mount overlay filesystems")
    if request.compression not in COMPRESSIONS:
        raise UserError(f"unsupported compression {request.compression!r} (gzip, zstd or uncompressed)")
    if request.network not in ("host", "none", "default"):
        raise UserError(f"network mode {request.network!r} is not supported (host or none)")
    dockerfile = cached_parse(request.dockerfile, file=request.dockerfile_name)
    build_args = dict(request.build_args)

    def resolve_image(reference: str, platform: str | None) -> ImageConfig | None:
        try:
            return ImageConfig.from_json(store.config_bytes(store.resolve(reference)))
        except ImageNotFound:
            if pull_image is None:
                return None
        vertex = progress.vertex(f"[internal] load metadata for {parse_reference(reference)}")
        try:
            found = pull_image(reference, platform)
        except UserError as exc:
            vertex.error(str(exc))
            raise BaseImageUnavailable(f"image not found locally and pulling it failed: {exc}") from None
        if not found:
            vertex.error("not found")
            raise BaseImageUnavailable("image not found locally nor in its registry")
        vertex.done()
        return ImageConfig.from_json(store.config_bytes(store.resolve(reference)))

    definition = progress.vertex(f"[internal] load build definition from {os.path.basename(request.dockerfile_name)}")
    try:
        warnings = tuple(lint(dockerfile, build_args, target=request.target))
    except LintError as exc:
        warnings = tuple(exc.warnings)
    try:
        plan = plan_build(dockerfile, build_args=build_args, target=request.target, resolve_image=resolve_image,
                          labels=request.labels)
    except UserError as exc:
        definition.error(str(exc))
        raise
    if pull_image is not None:
        # COPY --from and RUN --mount from= images are read by the solver from the store.
        bases = {stage.base.reference for stage in plan.stages if isinstance(stage.base, ImageBase)}
        for stage in plan.stages:
            for reference in (r for r in stage.images if r not in bases and not _in_store(store, r)):
                try:
                    resolve_image(reference, None)
                except BaseImageUnavailable as exc:
                    definition.error(f"{reference}: {exc}")
                    raise UserError(f"{reference}: {exc}") from None
    definition.done()
    for name in plan.unused_build_args:
        progress.message(f"[Warning] One or more build-args [{name}] were not consumed")
    ignore = progress.vertex("[internal] load .dockerignore")
    context = BuildContext.open(request.context, request.dockerfile_path)
    ignore.done()
    network = "host" if request.network == "default" else request.network
    memo = SqliteHashMemo(store.root / "pybuild.db").load(context.root)
    options = SolveOptions(context=context, dockerfile=request.dockerfile_name, no_cache=request.no_cache,
                           network=network, compression=request.compression,
                           source_date_epoch=request.source_date_epoch, secrets=dict(request.secrets),
                           hash_memo=memo, fetch_url=fetch_url)
    cache = BuildCache(store.root / "pybuild.db")
    try:
        with store.lease():
            result = Solver(store, plan, options, progress, cache).solve()
            export = progress.vertex("exporting to image")
            image = commit_stage(store, cache, result, tags=request.tags, compression=request.compression,
                                 epoch=request.source_date_epoch)
            export.note(f"writing image {image.id} done")
            for tag in request.tags:
                export.note(f"naming to {parse_reference(tag)} done")
            export.done()
    finally:
        cache.close()
        memo.close()
    return BuildResult(image, result, warnings)


def _in_store(store: Store, reference: str) -> bool:
    try:
        store.resolve(reference)
    except ImageNotFound:
        return False
    return True


def failure_report(error: StepFailed, source: str) -> str:
    """BuildKit's account of a failed step: the step with its last output lines, then
    the Dockerfile lines around it."""
    from builder.checks.report import source_excerpt

    out = ["------", f" > {error.vertex.name if error.vertex else error.title}:"]
    if error.vertex is not None:
        out += [f"{line}" for line in error.vertex.tail]
    out.append("------")
    start, end = error.lines
    if start:
        file = error.where.rpartition(":")[0]
        out.append(source_excerpt(source.removeprefix("\ufeff").splitlines(), file, start, end).rstrip("\n"))
    return "\n".join(out)
