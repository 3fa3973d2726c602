"""Execute a build plan (builder/plan.py): stages in dependency order, independent stages
in parallel threads, each step either found in the cache or run.

- A stage starts from its base's snapshot stack: an image of the store (its layers
  unpacked once, `Store.ensure_snapshots`), an earlier stage's result, or nothing.
- RUN runs through `runner.run` with the stack as read-only lowerdirs and a fresh upperdir
  that is kept; COPY, ADD and WORKDIR write into an overlay of the stack with a fresh
  upperdir (builder/rootview.py) through builder/copy.py. Either way the upperdir *is*
  the step's change: it is written once as a layer (`write_tree(overlay=True)` through a
  `LayerWriter`: gzip by default, zstd or uncompressed) and then adopted by the store as
  the next snapshot by rename, never unpacked again.
- A layer step that changes nothing still gives a layer (an empty tar), as BuildKit's
  image exporter keeps it (the `4f4fb700…` blob of Docker Hub images).
- Metadata instructions only change the image config, which the planner has already
  worked out; the solver appends the diff IDs and sets `created` as BuildKit's exporter
  does: a layer's history entry gets the time its step ran (kept in the cache, so a
  cached rebuild gives the same image ID), an entry without a layer the time of the layer
  before it, and the config the time of the last entry.
- Cache: a step's key (builder/cachekey.py) is its parent's key plus its inputs; COPY and
  ADD add the digest of what they read, a FROM image its ID, and SOURCE_DATE_EPOCH is part
  of every stage's first key (it changes the layers' bytes). A hit needs the snapshot
  stack the step ran on to be the same as now and its result snapshot to still exist
  (builder/cache.py). A miss says why, from the previous build of the same step slot.
- SOURCE_DATE_EPOCH: layer mtimes clamped to it, files COPY writes set to it, and every
  `created` the build writes is it, so equal inputs give equal digests anywhere.
- A failing step raises `StepFailed` naming `Dockerfile:LINE` and the exit code; the
  vertex keeps the last output lines. Nothing is committed by the solver: the caller
  commits the result only after every stage succeeded (builder/commit.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from builder.cache import PIN_OWNER, BuildCache, CachedStep, blob_kind
from builder.cachekey import CacheRecord, explain_miss, step_key, step_slot
from builder.context import BuildContext, hash_selection
from builder.copy import CopyOptions, copy_heredoc, copy_sources, resolve_chown, resolve_in_root, url_filename
from builder.plan import BuildPlan, ImageBase, ScratchBase, Stage, StageBase, Step
from builder.progress import Progress, Vertex
from builder.rootview import RootView, in_private_mounts
from oci.config import ImageConfig
from oci.errors import UserError
from oci.manifest import Descriptor
from oci.mediatypes import (
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_ZSTD,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
)
from oci.store import Store, StoredImage

__all__ = ["Layer", "SolveOptions", "Solver", "StageResult", "StepFailed"]

RUN_HOSTNAME = "buildkitsandbox"  # what BuildKit names RUN containers
COMPRESSIONS = {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "uncompressed": OCI_LAYER}
# Base image layers keep their bytes; docker's media types become the OCI names of the
# same formats, as BuildKit's exporter writes them with oci-mediatypes.
_OCI_NAME = {DOCKER_LAYER_GZIP: OCI_LAYER_GZIP, DOCKER_LAYER_ZSTD: OCI_LAYER_ZSTD, DOCKER_LAYER: OCI_LAYER}


class StepFailed(UserError):
    """A step that failed: `Dockerfile:LINE: INSTRUCTION: why`; `vertex` keeps its last
    output lines."""

    def __init__(self, where: str, title: str, reason: str, lines: tuple[int, int] = (0, 0)) -> None:
        super().__init__(f"{where}: {title}: {reason}")
        self.where = where
        self.title = title
        self.reason = reason
        self.lines = lines  # the instruction's first and last line in the Dockerfile
        self.vertex: Vertex | None = None


@dataclass(frozen=True)
class Layer:
    diff_id: str
    chain_id: str
    descriptor: Descriptor | None  # None until builder/commit.py writes the blob
    created: float | None = None  # when a step of a build made it (None: a base image's)


@dataclass
class StageResult:
    stage: Stage
    layers: list[Layer]
    key: str | None  # the cache key of its last step (what later stages chain on)
    config: ImageConfig  # finished: diff IDs, history with empty layers marked, created
    snapshots: list[Path] = field(default_factory=list)

    @property
    def chain_id(self) -> str | None:
        return self.layers[-1].chain_id if self.layers else None


@dataclass(frozen=True)
class SolveOptions:
    context: BuildContext
    dockerfile: str  # the path shown in messages; its absolute form names cache slots
    no_cache: bool = False
    network: str = "host"  # RUN's default: "host" or "none"
    compression: str = "gzip"  # "gzip" | "zstd" | "uncompressed"
    source_date_epoch: int | None = None
    secrets: Mapping[str, str | bytes] = field(default_factory=dict)  # id -> file on this machine, or the value
    # Content digests of context files by stat, so a rebuild reads only changed files.
    hash_memo: MutableMapping[str, tuple] | None = None
    # `ADD https://…`: (url, sink) -> registry_client.fetch.Fetched (digest, size,
    # last_modified); the builder itself does not speak HTTP.
    fetch_url: Callable[[str, BinaryIO], object] | None = None


def next_chain_id(parent: str | None, diff_id: str) -> str:
    if parent is None:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def rfc3339(seconds: float) -> str:
    """Go's time.RFC3339Nano for UTC, as BuildKit writes `created`."""
    whole = int(seconds)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    nanos = round((seconds - whole) * 1e9)
    return text + (f".{nanos:09d}".rstrip("0") if nanos else "") + "Z"


class _Counting:
    """Counts the uncompressed bytes of a layer on their way to the LayerWriter."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.size = 0

    def write(self, data) -> int:
        self.size += len(data)
        return self.inner.write(data)


class Solver:
    def __init__(self, store: Store, plan: BuildPlan, options: SolveOptions, progress: Progress,
                 cache: BuildCache) -> None:
        self.store = store
        self.plan = plan
        self.options = options
        self.progress = progress
        self.cache = cache
        self._results: dict[int, Future[StageResult]] = {}
        self._failed = threading.Event()
        self._cache_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._running: set = set()  # RUN containers now running (runner.Container)
        self._running_lock = threading.Lock()
        self._slot_file = os.path.abspath(options.dockerfile)
        self._downloads: dict[int, str] = {}  # id(step) -> directory of its ADD URLs' files
        self._multi = len(plan.stages) > 1
        self._zygote = None  # builder.zygote.Zygote while solve() runs, when it could start

    # ---- stages -----------------------------------------------------------------

    def solve(self) -> StageResult:
        """Run every stage of the plan; the target's result."""
        from builder.zygote import Zygote

        # Forked now, while this process has one thread: it forks RUN containers faster
        # than a fresh interpreter starts (builder/zygote.py).
        if any(step.kind == "RUN" for stage in self.plan.stages for step in stage.steps):
            self._zygote = Zygote.start()
        try:
            return self._solve_stages()
        finally:
            if self._zygote is not None:
                self._zygote.close()

    def _solve_stages(self) -> StageResult:
        with ThreadPoolExecutor(max_workers=max(1, len(self.plan.stages)),
                                thread_name_prefix="pybuild-stage") as pool:
            errors = []
            try:
                for stage in self.plan.stages:
                    self._results[stage.index] = pool.submit(self._guarded, stage)
                for stage in self.plan.stages:
                    exc = self._results[stage.index].exception()
                    if exc is not None and not isinstance(exc, _Cancelled):
                        errors.append(exc)
            except KeyboardInterrupt:
                # Ctrl-C (or the CLI's SIGTERM handler) reaches only this thread: stop the
                # stages and kill what runs; leaving the pool waits for their cleanup.
                self._failed.set()
                with self._running_lock:
                    for container in self._running:
                        container.kill()
                raise
            if errors:
                raise errors[0]
        return self._results[self.plan.target].result()

    def _guarded(self, stage: Stage) -> StageResult:
        try:
            return self._solve_stage(stage)
        except BaseException:
            self._failed.set()  # the other stages stop at their next step
            raise

    def _dependency(self, index: int) -> StageResult:
        try:
            return self._results[index].result()
        except BaseException:
            raise _Cancelled() from None

    def _solve_stage(self, stage: Stage) -> StageResult:
        for dependency in stage.deps:
            self._dependency(dependency)  # its steps are shown once it has finished
        layers, key, snapshots = self._start(stage)
        base_history = None
        if isinstance(stage.base, StageBase):
            base_history = self._dependency(stage.base.index).config.history
        # BuildKit numbers a FROM image as step 1; scratch and a stage base get no step.
        number = 1 if isinstance(stage.base, ImageBase) else 0
        total = number + len([s for s in stage.steps if s.creates_layer])
        made: list[float] = []  # per layer step: when its layer was made
        for index, step in enumerate(stage.steps):
            if not step.creates_layer:
                continue
            if self._failed.is_set():
                raise _Cancelled()
            number += 1
            vertex = self.progress.vertex(f"[{self._prefix(stage)}{number}/{total}] {step.title}")
            slot = step_slot(self._slot_file, stage.name or str(stage.index), index)
            layer, key, snapshot, created = self._step(stage, step, vertex, layers, snapshots, key, slot)
            made.append(created)
            layers = [*layers, layer]
            snapshots = [*snapshots, snapshot]
        return StageResult(stage, layers, key, self._finish_config(stage, layers, made, base_history), snapshots)

    def _prefix(self, stage: Stage) -> str:
        return f"{stage.display_name} " if self._multi else ""

    def _start(self, stage: Stage) -> tuple[list[Layer], str | None, list[Path]]:
        """The base's layers, snapshot directories and cache key."""
        epoch = self.options.source_date_epoch
        if isinstance(stage.base, StageBase):
            parent = self._dependency(stage.base.index)
            return list(parent.layers), parent.key, list(parent.snapshots)
        total = len([s for s in stage.steps if s.creates_layer]) + 1
        if isinstance(stage.base, ScratchBase):
            return [], step_key(None, {"base": "scratch", "epoch": epoch}), []
        assert isinstance(stage.base, ImageBase)
        vertex = self.progress.vertex(f"[{self._prefix(stage)}1/{total}] FROM {stage.base.reference}")
        image = self.store.resolve(stage.base.reference)
        layers, snapshots = self._image_layers(image)
        vertex.done()
        return layers, step_key(None, {"base": image.id, "epoch": epoch}), snapshots

    def _image_layers(self, image: StoredImage) -> tuple[list[Layer], list[Path]]:
        manifest = self.store.manifest(image)
        config = ImageConfig.from_json(self.store.config_bytes(image))
        snapshots = self.store.ensure_snapshots(image)
        layers = []
        chain: str | None = None
        for descriptor, diff_id in zip(manifest.layers, config.diff_ids):
            chain = next_chain_id(chain, diff_id)
            oci = Descriptor(_OCI_NAME.get(descriptor.media_type, descriptor.media_type), descriptor.digest,
                             descriptor.size, annotations=descriptor.annotations, urls=descriptor.urls)
            layers.append(Layer(diff_id, chain, oci))
        return layers, snapshots

    def _finish_config(self, stage: Stage, layers: list[Layer], made: list[float],
                       base_history: list | None) -> ImageConfig:
        import copy

        config = copy.deepcopy(stage.config)
        config.diff_ids = [layer.diff_id for layer in layers]
        own = [s for s in stage.steps if s.history is not None]
        start = len(config.history) - len(own)
        if base_history is not None:
            # The planner copied the base stage's history before it was solved.
            config.history[:start] = copy.deepcopy(base_history)
            start = len(base_history)
        times = iter(made)
        epoch = self.options.source_date_epoch
        # Entries before the first new layer take its time, later ones the layer's before.
        last = made[0] if made else time.time()
        for step, entry in zip(own, config.history[start:]):
            if step.creates_layer:
                last = next(times)
            entry.created = rfc3339(epoch if epoch is not None else last)
        config.created = config.history[-1].created if config.history else rfc3339(epoch if epoch is not None else last)
        return config

    # ---- steps ------------------------------------------------------------------

    def _step(self, stage: Stage, step: Step, vertex: Vertex, layers: list[Layer], snapshots: list[Path],
              parent_key: str | None, slot: str) -> tuple[Layer, str, Path, float]:
        parent_chain = layers[-1].chain_id if layers else None
        try:
            inputs = dict(step.inputs)
            inputs.update(self._content_inputs(stage, step))
            key = step_key(parent_key, inputs)
            hit = None if self.options.no_cache else self._hit(key, parent_chain)
            if hit is not None:
                vertex.cached()
                self.cache.save_slot(slot, CacheRecord(key, parent_key, inputs))
                return (Layer(hit.diff_id, hit.chain_id, None, hit.created), key,
                        self.store.snapshot_path(hit.chain_id), hit.created)
            if not self.options.no_cache:
                vertex.note("cache miss: " + explain_miss(step.title, self.cache.slot(slot), inputs, parent_key))
            scratch = tempfile.mkdtemp(prefix="step-", dir=self.store.tmp_dir)
            try:
                upper = self._execute(stage, step, vertex, snapshots, scratch)
                created = time.time()
                layer, snapshot = self._adopt(upper, parent_chain, created)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            self.cache.save_step(key, CachedStep(parent_chain, layer.chain_id, layer.diff_id, created))
            self.cache.save_slot(slot, CacheRecord(key, parent_key, inputs))
            vertex.done()
            return layer, key, snapshot, created
        except StepFailed as exc:
            vertex.error(exc.reason)
            exc.vertex = vertex
            raise
        except UserError as exc:
            reason = str(exc)
            where = self._where(step)
            if reason.startswith(where + ": "):
                reason = reason[len(where) + 2:]
            vertex.error(reason)
            failed = self._fail(step, reason)
            failed.vertex = vertex
            raise failed from None
        except _Cancelled:
            vertex.canceled()
            raise
        except BaseException as exc:
            vertex.error(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._drop_downloads(step)

    def _hit(self, key: str, parent_chain: str | None) -> CachedStep | None:
        cached = self.cache.step(key)
        if cached is None or cached.parent_chain != parent_chain:
            return None
        return cached if self.store.snapshots.exists(cached.chain_id) else None

    def _where(self, step: Step) -> str:
        return f"{self.options.dockerfile}:{step.line}"

    def _fail(self, step: Step, reason: str) -> StepFailed:
        instruction = step.instruction
        return StepFailed(self._where(step), step.title, reason, (instruction.start_line, instruction.end_line))

    def _content_inputs(self, stage: Stage, step: Step) -> dict[str, object]:
        """What only the files tell: the digest of what a COPY/ADD reads, the identity of
        the stages and images it or a RUN mount reads from."""
        out: dict[str, object] = {}
        if step.kind in ("COPY", "ADD"):
            if step.copy_from is None:
                sources = list(step.inputs.get("sources") or [])
                urls = [s for s in sources if s.startswith(("http://", "https://"))]
                if urls:
                    out["urls"] = self._url_digests(step, urls)
                    sources = [s for s in sources if s not in urls]
                if sources:
                    selection = self.options.context.hash(
                        sources, self._copy_options(step, from_context=True), memo=self.options.hash_memo,
                        where=self._where(step))
                    out["content"] = selection.digest
                    out["entries"] = selection.entries
            else:
                out["content"] = self._source_identity(step.copy_from)
        mounts = []
        for name, source in step.mount_from:
            mounts.append([name, self._source_identity(source)])
        if mounts:
            out["mount_sources"] = mounts
        for mount in step.inputs.get("mounts") or []:
            if mount.get("type") == "bind" and not mount.get("from"):
                selection = hash_selection(self.options.context.root, [str(mount.get("source") or "/")],
                                           options=self.options.context.copy_options(), memo=self.options.hash_memo)
                out.setdefault("bind_content", []).append(selection.digest)
        return out

    def _url_digests(self, step: Step, urls: list[str]) -> list[str]:
        """What keys an `ADD URL`: the --checksum when given (nothing is fetched on a
        cache hit), else the content, downloaded now as BuildKit does."""
        checksum = step.inputs.get("checksum")
        if checksum:
            return [str(checksum)]
        return [self._download(step, url) for url in urls]

    def _download(self, step: Step, url: str) -> str:
        """Fetch `url` into this step's download directory as the file ADD names it
        (mode 0600, Last-Modified as its mtime); its sha256 digest."""
        if self.options.fetch_url is None:
            raise self._fail(step, f"cannot fetch {url}: this build has no HTTP client")
        directory = self._downloads.get(id(step))
        if directory is None:
            directory = self._downloads[id(step)] = tempfile.mkdtemp(prefix="add-url-", dir=self.store.tmp_dir)
        path = os.path.join(directory, url_filename(url))
        with open(path, "wb") as sink:
            fetched = self.options.fetch_url(url, sink)
        os.chmod(path, 0o600)
        mtime = getattr(fetched, "last_modified", None)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        digest = str(getattr(fetched, "digest"))
        checksum = step.inputs.get("checksum")
        if checksum:
            algorithm = str(checksum).partition(":")[0]
            if algorithm != "sha256":  # --checksum also takes sha384 and sha512
                with open(path, "rb") as f:
                    digest = f"{algorithm}:{hashlib.file_digest(f, algorithm).hexdigest()}"
            if digest != checksum:
                raise self._fail(step, f"checksum mismatch for {url}: expected {checksum}, got {digest}")
        return digest

    def _drop_downloads(self, step: Step) -> None:
        directory = self._downloads.pop(id(step), None)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def _source_identity(self, source: int | str) -> str:
        if isinstance(source, int):
            result = self._dependency(source)
            return f"stage:{result.key}:{result.chain_id}"
        return f"image:{self.store.resolve(source).id}"

    def _source_layers(self, source: int | str) -> list[Path]:
        if isinstance(source, int):
            return self._dependency(source).snapshots
        image = self.store.resolve(source)
        return self._image_layers(image)[1]

    def _copy_options(self, step: Step, *, from_context: bool) -> CopyOptions:
        instruction = step.instruction
        unpack = step.kind == "ADD" and getattr(instruction, "unpack", None) is not False
        return CopyOptions(
            chown=getattr(instruction, "chown", None),
            chmod=getattr(instruction, "chmod", None),
            exclude=tuple(getattr(instruction, "exclude", ()) or ()),
            parents=bool(getattr(instruction, "parents", False)),
            reset_owner=from_context,
            unpack=unpack,
            epoch=self.options.source_date_epoch,
            ignore=self.options.context.ignore if from_context else None,
        )

    # ---- execution --------------------------------------------------------------

    def _execute(self, stage: Stage, step: Step, vertex: Vertex, snapshots: list[Path], scratch: str) -> str:
        """Run the step; the path of the upperdir holding its change."""
        lowers = [str(p) for p in snapshots]
        if step.kind == "RUN":
            return self._run(step, vertex, lowers, scratch)
        urls = [s for s in step.inputs.get("sources") or [] if s.startswith(("http://", "https://"))]
        if urls and id(step) not in self._downloads:
            for url in urls:  # keyed by --checksum: fetched only now, on a miss
                self._download(step, url)
        view = RootView(scratch)
        if step.kind == "WORKDIR":
            def work() -> None:
                try:
                    self._workdir(step, view.writable(lowers))
                finally:
                    view.unmount_all()
        else:
            source_lowers = None if step.copy_from is None else [str(p) for p in self._source_layers(step.copy_from)]

            def work() -> None:
                try:
                    root = view.writable(lowers)
                    self._copy(step, root, None if source_lowers is None else view.readonly(source_lowers),
                               upper=view.upper)
                finally:
                    view.unmount_all()
        in_private_mounts(work)
        return view.upper

    def _copy(self, step: Step, root: str, source_root: str | None, upper: str | None = None) -> None:
        from_context = source_root is None
        options = self._copy_options(step, from_context=from_context)
        where = self._where(step)
        sources = list(step.inputs.get("sources") or [])
        urls = [s for s in sources if s.startswith(("http://", "https://"))]
        sources = [s for s in sources if s not in urls]
        if sources:
            copy_sources(self.options.context.root if from_context else source_root, sources, step.dest, root,
                         workdir=step.workdir, options=options, where=where, upper=upper)
        if urls:
            # BuildKit extracts a downloaded archive only with an explicit --unpack=true.
            unpack = getattr(step.instruction, "unpack", None) is True
            fetched = dataclasses.replace(options, ignore=None, unpack=unpack)
            copy_sources(self._downloads[id(step)], [url_filename(u) for u in urls], step.dest, root,
                         workdir=step.workdir, options=fetched, where=where)
        for heredoc in getattr(step.instruction, "heredocs", ()):
            copy_heredoc(heredoc.name, heredoc.body.encode("utf-8", "surrogateescape"), step.dest, root,
                         workdir=step.workdir, options=options, where=where)

    def _workdir(self, step: Step, root: str) -> None:
        """BuildKit's `Mkdir(dir, 0755, parents, user)`: missing directories are made,
        owned by the USER when one is set; an existing one is left alone."""
        owner = resolve_chown(step.user, root, self._where(step)) if step.user else None
        epoch = self.options.source_date_epoch
        missing = []
        current = resolve_in_root(root, step.dest)
        while current != root and not os.path.lexists(current):
            missing.append(current)
            current = os.path.dirname(current)
        for directory in reversed(missing):
            os.mkdir(directory, 0o755)
            os.chmod(directory, 0o755)
            if owner is not None:
                os.chown(directory, owner.uid, owner.gid)
            if epoch is not None:
                os.utime(directory, (epoch, epoch))

    def _run(self, step: Step, vertex: Vertex, lowers: list[str], scratch: str) -> str:
        from runner import Container, ContainerError, RunSpec

        env: dict[str, str] = {}
        for entry in step.env:
            name, _, value = entry.partition("=")
            env[name] = value
        network = step.instruction.network or self.options.network  # type: ignore[attr-defined]
        if network == "default":
            network = self.options.network
        if network not in ("host", "none"):
            raise self._fail(step, f"network mode {network!r} is not supported (host or none)")
        view = RootView(os.path.join(scratch, "views"))
        os.mkdir(view.scratch)

        def work():
            # Run from a private mount namespace: the init the runner starts inherits
            # it, so the views bind mounts read from (other stages' roots, writable
            # throwaway copies) are visible to it and to nobody else.
            try:
                with _RunMounts(self, step, scratch, view) as mounts:
                    spec = RunSpec(layers=lowers, argv=list(step.run_args), env={**env, **mounts.env},
                                   cwd=step.workdir, user=step.user, hostname=RUN_HOSTNAME, network=network,
                                   mounts=mounts.list, scratch=os.path.join(scratch, "container"), keep_upper=True)
                    read_fd, write_fd = os.pipe()
                    reader = threading.Thread(target=_pump, args=(read_fd, vertex), daemon=True)
                    reader.start()
                    try:
                        # The zygote's mount namespace lacks what _RunMounts mounted here.
                        zygote = None if step.inputs.get("mounts") else self._zygote
                        container = Container(spec, stdout=write_fd, stderr=write_fd) if zygote is None else None
                        with self._running_lock:
                            if self._failed.is_set():
                                raise _Cancelled()
                            if zygote is not None:
                                container = zygote.run(spec, write_fd)
                            else:
                                container.start()
                            self._running.add(container)
                        try:
                            return container.wait()
                        finally:
                            with self._running_lock:
                                self._running.discard(container)
                    except ContainerError as exc:
                        raise self._fail(step, f"{exc} (exit code {exc.exit_code})") from None
                    finally:
                        os.close(write_fd)
                        reader.join()
            finally:
                view.unmount_all()

        result = in_private_mounts(work)
        if result.canceled:
            # Killed by the build's cancel (only it sends the runner's kill): no layer, no
            # cache record. A process killed by any other signal is a failure below.
            raise _Cancelled()
        if result.exit_code != 0 or result.upper is None:
            shown = " ".join(step.run_args)
            why = f"exit code: {result.exit_code}"
            if result.oom_killed or result.signal:
                why = result.describe()
            raise self._fail(step, f'process "{shown}" did not complete successfully: {why}')
        return result.upper

    def _adopt(self, upper: str, parent_chain: str | None, created: float) -> tuple[Layer, Path]:
        """Write the upperdir as a layer blob; adopt it as the next snapshot."""
        from oci.compression import LayerWriter
        from oci.tarwriter import write_tree

        compression = self.options.compression
        with self.store.blob_writer() as blob:
            # With an epoch the blob must be the same on every CPU, not only on this one.
            writer = LayerWriter(blob, None if compression == "uncompressed" else compression,
                                 portable=self.options.source_date_epoch is not None)
            counting = _Counting(writer)
            write_tree(upper, counting, overlay=True, source_date_epoch=self.options.source_date_epoch)
            digests = writer.close()
            if self.store.has_blob(digests.digest):
                # The same bytes are stored (an empty layer, a step that wrote the same
                # files): no fsync and rename; the build's lease keeps them from a prune.
                blob.abort()
                digest, size = digests.digest, blob.size
            else:
                info = blob.commit(digests.digest)
                digest, size = info.digest, info.size
        descriptor = Descriptor(COMPRESSIONS[compression], digest, size)
        chain = next_chain_id(parent_chain, digests.diff_id)
        snapshot = self.store.add_snapshot(chain, parent_chain, digests.diff_id, Path(upper))
        self.store.pin_snapshot(chain, PIN_OWNER)
        self.store.record_layer_size(digests.diff_id, counting.size)
        self.cache.save_layer_blob(digests.diff_id, blob_kind(compression, self.options.source_date_epoch), descriptor)
        return Layer(digests.diff_id, chain, descriptor, created), snapshot

    def cache_lock(self, key: str) -> threading.Lock:
        with self._locks_lock:
            return self._cache_locks.setdefault(key, threading.Lock())


class _Cancelled(Exception):
    """A stage stopped because another one failed (that one's error is reported) or the
    build was canceled."""


def _pump(fd: int, vertex: Vertex) -> None:
    with os.fdopen(fd, "rb", buffering=0) as stream:
        while chunk := stream.read(65536):
            vertex.log(chunk)


class _RunMounts:
    """RUN --mount as runner mounts: cache (a directory of the store kept between builds,
    keyed by id), tmpfs, secret (a copy of the secret file, bound read-only, never in a
    layer) and bind (from the build context, another stage or an image; read-only, or
    with `rw` writable through a throwaway overlay whose writes are discarded, as
    BuildKit does). Made inside the step's private mount namespace (`view`)."""

    def __init__(self, solver: Solver, step: Step, scratch: str, view: RootView) -> None:
        self.solver = solver
        self.step = step
        self.scratch = scratch
        self.view = view
        self.list: list = []
        self.env: dict[str, str] = {}  # secrets mounted as variables (`env=`)
        self._held: list[threading.Lock] = []

    def __enter__(self) -> _RunMounts:
        from runner import Mount

        try:
            if self.step.script is not None:
                # A heredoc starting with #! runs as a file, as BuildKit's /dev/pipes/NAME.
                name, content = self.step.script
                path = os.path.join(self.scratch, "script")
                with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
                    f.write(content)
                os.chmod(path, 0o755)
                self.list.append(Mount(f"/dev/pipes/{name}", source=path, readonly=True))
            for mount in self.step.inputs.get("mounts") or []:
                options = dict(mount)
                kind = options.pop("type")
                target = str(options.get("target") or "")
                if kind == "tmpfs":
                    size = options.get("size")
                    self.list.append(Mount(target, type="tmpfs", options=f"size={size}" if size else ""))
                elif kind == "cache":
                    self.list.append(Mount(target, source=self._cache_dir(options, target),
                                           readonly=bool(options.get("readonly"))))
                elif kind == "secret":
                    mount_ = self._secret(options)
                    if mount_ is not None:
                        self.list.append(mount_)
                elif kind == "bind":
                    self.list.append(Mount(target, source=self._bind_source(options),
                                           readonly=options.get("readonly", True) is not False))
                else:
                    raise self._fail(f"--mount=type={kind} is not supported")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        while self._held:
            self._held.pop().release()

    def _fail(self, message: str) -> StepFailed:
        return self.solver._fail(self.step, message)

    def _cache_dir(self, options: dict, target: str) -> str:
        ident = str(options.get("id") or target)
        name = hashlib.sha256(ident.encode()).hexdigest()[:32]
        path = Path(self.solver.store.root) / "cache-mounts" / name
        if not path.is_dir():
            staging = Path(tempfile.mkdtemp(prefix="cache-mount-", dir=self.solver.store.tmp_dir))
            os.chmod(staging, int(str(options.get("mode") or "755"), 8))
            os.chown(staging, int(options.get("uid") or 0), int(options.get("gid") or 0))
            path.parent.mkdir(exist_ok=True)
            try:
                os.rename(staging, path)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
        sharing = options.get("sharing") or "shared"
        if sharing == "locked":
            lock = self.solver.cache_lock(name)
            lock.acquire()
            self._held.append(lock)
        elif sharing == "private":
            # BuildKit makes a new cache for a second concurrent user instead of waiting;
            # that one is thrown away with the step.
            lock = self.solver.cache_lock(name)
            if not lock.acquire(blocking=False):
                fresh = os.path.join(self.scratch, f"cache-{len(self.list)}")
                os.mkdir(fresh)
                os.chmod(fresh, int(str(options.get("mode") or "755"), 8))
                os.chown(fresh, int(options.get("uid") or 0), int(options.get("gid") or 0))
                return fresh
            self._held.append(lock)
        return str(path)

    def _secret(self, options: dict):
        from runner import Mount

        ident = str(options.get("id") or os.path.basename(str(options.get("target") or "")))
        source = self.solver.options.secrets.get(ident)
        if source is None:
            if options.get("required"):
                raise self._fail(f"secret {ident} not found (pass it with --secret id={ident},src=FILE)")
            return None
        if "env" in options:
            # In the process's environment only: RunSpec's env reaches no config or history.
            value = source if isinstance(source, bytes) else Path(source).read_bytes()
            self.env[str(options["env"])] = value.decode("utf-8", "surrogateescape")
            if "target" not in options:
                return None
        copy = os.path.join(self.scratch, f"secret-{len(self.list)}")
        if isinstance(source, bytes):  # --secret id=…,env=VAR: the value, never a file of its own
            fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "wb") as f:
                f.write(source)
        else:
            shutil.copyfile(source, copy)
        os.chmod(copy, int(str(options.get("mode") or "400"), 8))
        os.chown(copy, int(options.get("uid") or 0), int(options.get("gid") or 0))
        return Mount(str(options.get("target") or f"/run/secrets/{ident}"), source=copy, readonly=True)

    def _bind_source(self, options: dict) -> str:
        source = str(options.get("source") or "/")
        origin = options.get("from")
        if origin:
            resolved = dict(self.step.mount_from).get(str(origin))
            assert resolved is not None
            root = self.view.readonly([str(p) for p in self.solver._source_layers(resolved)])
        else:
            root = self.solver.options.context.root
        path = resolve_in_root(root, source)
        if not os.path.exists(path):
            raise self._fail(f'mount source "{source}" not found')
        if options.get("readonly", True) is not False:
            return path
        if os.path.isdir(path):
            return self.view.discardable(path)
        copy = os.path.join(self.scratch, f"bind-{len(self.list)}")
        shutil.copy2(path, copy)
        return copy
