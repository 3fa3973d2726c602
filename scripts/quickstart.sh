#!/usr/bin/env bash
# README's first command: installs pybuild into .venv, makes the base images from Debian
# packages (no Docker Hub; cached, so only the first run on a machine runs debootstrap),
# imports them into the store, and runs the main job on them. The store is pybuild's
# default (/var/lib/pybuild as root) unless PYBUILD_ROOT says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh
.venv/bin/python scripts/base_images.py busybox debian

out=${QUICKSTART_OUT:-${TMPDIR:-/tmp}/pybuild-quickstart}
mkdir -p "$out"
set -x
.venv/bin/pybuild images
.venv/bin/pybuild inspect busybox
.venv/bin/pybuild save -o "$out/busybox.tar" busybox
.venv/bin/pybuild history debian:bookworm
{ set +x; } 2>/dev/null
echo "quickstart: saved busybox to $out/busybox.tar ($(stat -c %s "$out/busybox.tar") bytes); 'docker load -i' reads it"
