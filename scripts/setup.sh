#!/usr/bin/env bash
# Make the environment both commands need: .venv with torch, every other package at the
# version requirements.lock pins (each file checked against its sha256), the helper package
# (editable), and the default data set (ML-100K in data/ml-100k). Safe to re-run: steps that
# are already done are skipped.
#
#   RECNN_TORCH  pip arguments for torch when .venv has none (default: torch==2.13.0); the
#                README says how to ask for the CPU or a CUDA build
#   PYTHON       interpreter used to create .venv (default: the first Python >= 3.11 found)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv
stamp="$venv/.recnn-installed"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
# requirements.lock is compiled for these versions (scripts/lock.sh, pyproject.toml).
supported='import sys; sys.exit(sys.version_info < (3, 11))'

find_python() {
    local candidate
    if [[ -n "${PYTHON:-}" ]]; then
        candidate=$PYTHON
    else
        for candidate in python3.11 python3 python3.12 python3.13 python3.14 python; do
            "$candidate" -c "$supported" 2>/dev/null && break
        done
    fi
    "$candidate" -c "$supported" 2>/dev/null && echo "$candidate"
}

if [[ ! -x "$venv/bin/python" ]]; then
    if ! python=$(find_python); then
        echo "setup.sh: needs Python >= 3.11 (${PYTHON:-none found}); install one or set PYTHON=/path/to/python3.11" >&2
        exit 1
    fi
    echo "setup.sh: creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
elif ! "$venv/bin/python" -c "$supported"; then
    echo "setup.sh: $venv has $("$venv/bin/python" --version 2>&1), the lock needs >= 3.11; delete $venv or set PYTHON and re-run" >&2
    exit 1
fi

if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    read -ra torch_args <<<"${RECNN_TORCH:-torch==2.13.0}"
    echo "setup.sh: installing ${torch_args[*]}"
    "${pip[@]}" install -q "${torch_args[@]}"
fi

want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "setup.sh: installing requirements.lock and recnn_helpers"
    # Before 0.2 the distribution was called recnn, the name of an unrelated PyPI project.
    if "${pip[@]}" show -q recnn >/dev/null 2>&1; then
        "${pip[@]}" uninstall -q -y recnn
    fi
    rm -rf recnn.egg-info
    # --no-deps: the lock holds every package, torch excepted, which is already here.
    "${pip[@]}" install -q --no-deps --require-hashes -r requirements.lock
    "${pip[@]}" install -q --no-deps --no-build-isolation -e .
    "${pip[@]}" check
    # The Jupyter kernel "recnn" (this .venv), for `.venv/bin/jupyter lab`; a JupyterLab
    # installed elsewhere sees it after `.venv/bin/python -m ipykernel install --user --name recnn`.
    "$venv/bin/python" -m ipykernel install --sys-prefix --name recnn \
        --display-name "Python (recnn)" >/dev/null
    echo "$want" >"$stamp"
fi

"$venv/bin/python" -m recnn_helpers.data fetch
