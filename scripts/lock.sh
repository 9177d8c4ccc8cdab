#!/usr/bin/env bash
# Regenerate requirements.lock: every package that scripts/setup.sh installs except torch,
# at an exact version with the sha256 of each of its files, for Python >= 3.11 on any
# platform. Needs uv (`pip install uv`) and the package index; extra arguments go to uv, e.g.
#   bash scripts/lock.sh                          # keep the current pins that still fit
#   bash scripts/lock.sh --upgrade                # newest versions pyproject.toml allows
#   bash scripts/lock.sh --upgrade-package numpy  # move one package
# then run `bash scripts/setup.sh` and the tests.
#
# torch stays out so that a CUDA build in .venv is kept: the resolution drops it (an
# override with a marker that never holds), and the lock pins instead what the CPU build of
# torch needs (the Requires-Dist of torch 2.13.0 below; update them with setup.sh's default),
# so that a CPU install is pinned down to the last package. A CUDA build brings its nvidia-*
# packages itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'torch; sys_platform == "never"' >"$tmp/no-torch.txt"
cat >"$tmp/torch-cpu-needs.in" <<'REQ'
filelock
fsspec>=0.8.5
jinja2
networkx>=2.5.1
setuptools>=77.0.3
sympy>=1.13.3
typing-extensions>=4.10.0
REQ

# uv keeps the pins of the file it writes to wherever they still fit.
cp requirements.lock "$tmp/requirements.lock" 2>/dev/null || true
uv pip compile pyproject.toml "$tmp/torch-cpu-needs.in" --extra notebooks --extra dev \
    --override "$tmp/no-torch.txt" --no-emit-package torch \
    --universal --python-version 3.11 --generate-hashes --no-header --annotation-style line \
    --output-file "$tmp/requirements.lock" "$@"

{
    echo "# Every package scripts/setup.sh installs, except torch (installed first, RECNN_TORCH)."
    echo "# Python >= 3.11, any platform; regenerate with: bash scripts/lock.sh"
    echo "# Install: pip install --no-deps --require-hashes -r requirements.lock"
    # The temporary input file would otherwise be named in the `# via` lines.
    sed -e "s|, -r $tmp/torch-cpu-needs.in||; s|# via -r $tmp/torch-cpu-needs.in|# via torch|" \
        "$tmp/requirements.lock"
} >requirements.lock
echo "lock.sh: $(grep -c '^[A-Za-z0-9]' requirements.lock) pins written to requirements.lock"
