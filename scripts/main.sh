#!/usr/bin/env bash
# Main job: run every notebook under notebooks/ in full mode, in place, which regenerates
# res/; then the README results table and, with RECNN_BENCH=1, the environment benchmark.
# Notebooks given as arguments run alone, in the order given:
#   bash scripts/main.sh notebooks/5-long-term/1-simulator.ipynb notebooks/5-long-term/2-planning.ipynb
# --dataset NAME (or RECNN_DATASET) runs them on another data set (data/NAME, see README):
# its figures and results go to res/NAME/ and each executed notebook to res/NAME/notebooks/,
# so that the committed ML-100K notebooks and figures stay as they are.
#   bash scripts/main.sh --dataset ml-1m notebooks/1-vanilla-rl/3-td3.ipynb
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS

dataset="${RECNN_DATASET:-ml-100k}"
if [[ "${1:-}" == --dataset || "${1:-}" == --dataset=* ]]; then
    if [[ "$1" == --dataset=* ]]; then
        dataset="${1#--dataset=}"
        shift
    else
        dataset="${2:?main.sh: --dataset needs a name, e.g. --dataset ml-1m}"
        shift 2
    fi
fi
export RECNN_DATASET="$dataset"

notebooks=()
if [[ $# -gt 0 ]]; then
    for notebook in "$@"; do
        if [[ ! -f "$notebook" || "$notebook" != *.ipynb ]]; then
            echo "main.sh: $notebook is not a notebook file (give paths like notebooks/1-vanilla-rl/3-td3.ipynb)" >&2
            exit 2
        fi
    done
    notebooks=("$@")
elif [[ -d notebooks ]]; then
    mapfile -t notebooks < <(find notebooks -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' |
        LC_ALL=C sort)
fi

bash scripts/setup.sh
unset RECNN_SMOKE
# Saved notebooks are read as pages: no progress bars in them (tqdm reads TQDM_* variables),
# each training run prints its own one-line summary instead. Interactively the bars stay.
export TQDM_DISABLE=1

# Refuse an unknown data set before anything runs (the message lists the known ones).
.venv/bin/python - "$dataset" <<'EOF'
import sys

from recnn_helpers.data import check_dataset_name

try:
    check_dataset_name(sys.argv[1])
except ValueError as error:
    sys.exit(f"main.sh: {error}")
EOF
echo "main.sh: ${#notebooks[@]} notebook(s) on $dataset"

for notebook in "${notebooks[@]}"; do
    t0=$SECONDS
    if [[ "$dataset" == ml-100k ]]; then
        where=(--inplace)
    else
        out="res/$dataset/notebooks/$(dirname "${notebook#notebooks/}")"
        mkdir -p "$out"
        where=(--output-dir "$out")
    fi
    .venv/bin/python -m jupyter nbconvert --to notebook --execute "${where[@]}" \
        --ExecutePreprocessor.timeout=-1 --ExecutePreprocessor.kernel_name=python3 "$notebook"
    echo "main.sh: $notebook took $((SECONDS - t0)) s"
done

if [[ "$dataset" != ml-100k ]]; then
    # The README's table is ML-100K's.
    echo "main.sh: total $((SECONDS - start)) s"
    exit 0
fi

if [[ -f scripts/make_readme_table.py ]]; then
    .venv/bin/python scripts/make_readme_table.py
fi

if [[ "${RECNN_BENCH:-0}" == 1 && -f benchmarks/bench_env.py ]]; then
    .venv/bin/python benchmarks/bench_env.py
fi

echo "main.sh: total $((SECONDS - start)) s"
