#!/usr/bin/env bash
# README's first command: installs pybuild into .venv, makes the base images from Debian
# packages (no Docker Hub; cached, so only the first run on a machine runs debootstrap),
# imports them into the store, and runs the main job: builds examples/hello with
# `pybuild -t hello examples/hello`, runs it, and rebuilds it from the cache. The store is pybuild's
# default (/var/lib/pybuild as root) unless PYBUILD_ROOT says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh
.venv/bin/python scripts/base_images.py busybox debian

set -x
.venv/bin/pybuild -t hello examples/hello
.venv/bin/pybuild run --rm hello
.venv/bin/pybuild -t hello examples/hello --progress=plain   # a no-op rebuild: every step CACHED
.venv/bin/pybuild images
