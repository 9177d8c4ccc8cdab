#!/usr/bin/env bash
# Main job: run every notebook under notebooks/ in full mode, in place, which regenerates
# res/; then the README results table and, with RECNN_BENCH=1, the environment benchmark.
# Notebooks given as arguments run alone, in the order given:
#   bash scripts/main.sh notebooks/5-long-term/1-simulator.ipynb notebooks/5-long-term/2-planning.ipynb
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS

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

echo "main.sh: ${#notebooks[@]} notebook(s)"

for notebook in "${notebooks[@]}"; do
    t0=$SECONDS
    .venv/bin/python -m jupyter nbconvert --to notebook --execute --inplace \
        --ExecutePreprocessor.timeout=-1 --ExecutePreprocessor.kernel_name=python3 "$notebook"
    echo "main.sh: $notebook took $((SECONDS - t0)) s"
done

if [[ -f scripts/make_readme_table.py ]]; then
    .venv/bin/python scripts/make_readme_table.py
fi

if [[ "${RECNN_BENCH:-0}" == 1 && -f benchmarks/bench_env.py ]]; then
    .venv/bin/python benchmarks/bench_env.py
fi

echo "main.sh: total $((SECONDS - start)) s"
