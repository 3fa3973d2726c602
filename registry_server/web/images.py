"""What the web page shows about a repository, read from the store: its tags with the
digest, size, platforms and push date of each, and an image's layers and history from
its config. Manifests and configs are content-addressed, so what is read of them is
cached per process without ever going stale."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from registry_server.storage import BlobStore

MAX_JSON_BYTES = 4 << 20


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class HistoryStep:
    created: str
    created_by: str
    empty_layer: bool
    comment: str


@dataclass(frozen=True)
class Image:
    """One platform's image: a manifest, its config and layers."""

    digest: str
    platform: str
    size: int  # config plus compressed layers, as a pull transfers them
    layers: list[Layer] = field(default_factory=list)
    history: list[HistoryStep] = field(default_factory=list)
    created: str = ""


@dataclass(frozen=True)
class TagRow:
    tag: str
    digest: str
    media_type: str
    pushed: float
    images: list[Image]

    @property
    def size(self) -> int:
        return sum(image.size for image in self.images)

    @property
    def platforms(self) -> list[str]:
        return [image.platform for image in self.images if image.platform]


def _read_json(blobs: BlobStore, digest: str) -> Any:
    path = blobs.path(digest)
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{digest} is too large to show")
    return json.loads(path.read_bytes())


def _platform(value: dict) -> str:
    text = f"{value.get('os', '')}/{value.get('architecture', '')}"
    if value.get("variant"):
        text += f"/{value['variant']}"
    return text if text != "/" else ""


class ImageReader:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self.image = lru_cache(maxsize=512)(self._image)

    def _image(self, digest: str, platform_hint: str = "") -> Image:
        """The image of a manifest; what cannot be read is left empty rather than failing
        the page (an artifact's config may be anything)."""
        manifest = json.loads(self._blobs.read_manifest(digest))
        config_desc = manifest.get("config") or {}
        layers = [Layer(str(l.get("digest", "")), int(l.get("size", 0)), str(l.get("mediaType", "")))
                  for l in manifest.get("layers") or [] if isinstance(l, dict)]
        size = int(config_desc.get("size", 0)) + sum(layer.size for layer in layers)
        platform, history, created = platform_hint, [], ""
        try:
            config = _read_json(self._blobs, config_desc["digest"])
            if isinstance(config, dict):
                platform = _platform(config) or platform
                created = str(config.get("created") or "")
                history = [HistoryStep(str(h.get("created") or ""), str(h.get("created_by") or ""),
                                       bool(h.get("empty_layer")), str(h.get("comment") or ""))
                           for h in config.get("history") or [] if isinstance(h, dict)]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return Image(digest, platform, size, layers, history, created)

    def images(self, digest: str, media_type: str) -> list[Image]:
        """The images behind a manifest or an index (attestations left out)."""
        try:
            if "index" not in media_type and "manifest.list" not in media_type:
                return [self.image(digest)]
            index = json.loads(self._blobs.read_manifest(digest))
            images = []
            for entry in index.get("manifests") or []:
                platform = _platform(entry.get("platform") or {})
                if platform.startswith("unknown/"):
                    continue
                try:
                    images.append(self.image(entry["digest"], platform))
                except (OSError, ValueError, KeyError, TypeError):
                    images.append(Image(str(entry.get("digest", "")), platform, int(entry.get("size", 0))))
            return images
        except (OSError, ValueError, KeyError, TypeError):
            return []


class RepositoryQueries:
    """Read-only queries on the registry database (its own connection: the web page
    never writes metadata except through the registry's own code)."""

    def __init__(self, root: Path) -> None:
        self._db = sqlite3.connect(f"file:{root / 'registry.db'}?mode=ro", uri=True, timeout=30)

    def close(self) -> None:
        self._db.close()

    def tags(self, repo: str) -> list[tuple[str, str, str, float]]:
        """(tag, digest, media type, pushed) of every tag, newest push first."""
        return self._db.execute(
            "SELECT t.tag, t.digest, m.media_type, t.updated FROM tags t JOIN manifests m"
            " ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ?"
            " ORDER BY t.updated DESC, t.tag", (repo,)).fetchall()

    def summaries(self, repos: list[str]) -> dict[str, tuple[int, float]]:
        """Tag count and last push of each repository in `repos`."""
        if not repos:
            return {}
        marks = ",".join("?" * len(repos))
        rows = self._db.execute(
            f"SELECT repo, count(*), max(updated) FROM tags WHERE repo IN ({marks}) GROUP BY repo",
            repos).fetchall()
        return {repo: (count, updated) for repo, count, updated in rows}

    def exists(self, repo: str) -> bool:
        return self._db.execute("SELECT 1 FROM repositories WHERE name = ?", (repo,)).fetchone() is not None
