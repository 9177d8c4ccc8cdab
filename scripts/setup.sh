#!/usr/bin/env bash
# Make the environment both commands need: .venv with torch and the pinned project
# dependencies, and the default data set (ML-100K in data/ml-100k). Safe to re-run: steps
# that are already done are skipped.
#
#   RECNN_TORCH  pip requirement for torch when .venv has none (default: torch==2.13.0)
#   PYTHON       interpreter used to create .venv (default: first python3 >= 3.10 found)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv
stamp="$venv/.recnn-installed"
pip_install=("$venv/bin/python" -m pip install -q --disable-pip-version-check)

find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11 python3.10 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [[ ! -x "$venv/bin/python" ]]; then
    if ! python=$(find_python); then
        echo "setup.sh: no Python >= 3.10 found; install one or set PYTHON=/path/to/python3" >&2
        exit 1
    fi
    echo "setup.sh: creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi

if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "setup.sh: installing ${RECNN_TORCH:-torch==2.13.0}"
    "${pip_install[@]}" "${RECNN_TORCH:-torch==2.13.0}"
fi

want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "setup.sh: installing recnn and its pinned dependencies"
    "${pip_install[@]}" -c requirements.lock -e ".[dev]"
    echo "$want" >"$stamp"
fi

"$venv/bin/python" -m recnn_helpers.data fetch
