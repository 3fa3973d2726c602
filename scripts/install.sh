#!/usr/bin/env bash
# Installs pybuild into .venv (editable) with the Debian packages its base-image script
# uses. Idempotent: a second run only checks. PYBUILD_EXTRAS="[test]" adds test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

apt_install busybox-static debootstrap ca-certificates

# The pyenv shim on PATH adds ~50 ms to every start: the venv calls the interpreter directly.
PYTHON=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e ".${PYBUILD_EXTRAS:-}"
