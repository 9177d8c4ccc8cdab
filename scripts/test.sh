#!/usr/bin/env bash
# Tests: ruff lint and format check, unit tests, and every notebook in smoke mode.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k env`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

.venv/bin/ruff check .
.venv/bin/ruff format --check .

paths=(tests)
[[ -d notebooks ]] && paths+=(notebooks)

status=0
RECNN_SMOKE=1 HF_HUB_OFFLINE=1 .venv/bin/python -m pytest "${paths[@]}" \
    --nbval-lax --nbval-current-env \
    -p no:cacheprovider -q "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "test.sh: no tests collected"
    status=0
fi
exit "$status"
