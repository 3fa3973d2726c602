#!/usr/bin/env bash
# Installs everything the tests need (the peers from Debian, pybuild with its test extras)
# and runs the whole suite. CI calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
apt_install docker.io docker-registry skopeo buildah podman runc umoci \
    busybox-static debootstrap hyperfine apache2-utils iproute2 xz-utils zstd chromium chromium-driver
PYBUILD_EXTRAS="[test]" bash scripts/install.sh
exec .venv/bin/python -m pytest "$@"
