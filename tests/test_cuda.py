"""The environments, the evaluator and every scorer on a CUDA device (skipped without one).

Each result must equal the CPU result: the helper follows the device of its inputs and never
moves work to a hard-coded "cpu".
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from notebook_cells import run_notebook

import recnn_helpers
from recnn_helpers.data import leave_one_out, load_movielens, to_interactions
from recnn_helpers.env import FrameEnv, SeqEnv
from recnn_helpers.evaluation import (
    evaluate,
    last_item_scorer,
    mean_of_history_scorer,
    popularity_scorer,
    random_scorer,
    scores_from_actions,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


@pytest.fixture(scope="module")
def split():
    ml = load_movielens("ml-100k")
    return leave_one_out(to_interactions(ml.ratings, ml.items.item_id.to_numpy()))


@pytest.fixture(scope="module")
def table(split):
    return torch.randn(split.num_items, 16, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "make",
    [
        lambda split, table: popularity_scorer(split.train),
        lambda split, table: random_scorer(split.num_items, 0),
        lambda split, table: mean_of_history_scorer(table),
        lambda split, table: last_item_scorer(table),
    ],
    ids=["popularity", "random", "mean of history", "last item"],
)
def test_scorers_give_the_cpu_figures_on_cuda(split, table, make):
    cpu = evaluate(make(split, table), split, "test", device="cpu", item_embeddings=table)
    cuda = evaluate(make(split, table), split, "test", device="cuda", item_embeddings=table)
    for key, value in cpu.items():
        assert cuda[key] == pytest.approx(value, abs=1e-6), key


def test_environments_sample_on_cuda(split, table):
    for env in (
        FrameEnv(split.train, table, frame_size=10, device="cuda"),
        SeqEnv(split.train, table, max_len=20, device="cuda"),
    ):
        batch = env.sample()
        assert all(v.device.type == "cuda" for v in batch.values())
        cpu_env = type(env)(split.train, table, device="cpu")
        assert len(cpu_env) == len(env)


def test_actions_scored_on_cuda(split, table):
    actor = torch.nn.Linear(10 * 17, 16).cuda()
    env = FrameEnv(split.train, table, frame_size=10, device="cuda")

    def score(users, history):
        return scores_from_actions(actor(env.state_from_history(history)), env.item_embeddings)

    with torch.no_grad():
        metrics = evaluate(score, split, "valid", max_history=10, device="cuda")
    assert np.isfinite(metrics["NDCG@10"])


@pytest.mark.parametrize(
    "notebook", ["notebooks/1-vanilla-rl/3-td3.ipynb", "notebooks/3-reinforce/1-reinforce.ipynb"]
)
def test_notebook_runs_on_cuda_in_smoke_mode(notebook, monkeypatch, tmp_path):
    path = Path(__file__).resolve().parent.parent / notebook
    data = recnn_helpers.paths().data  # ML-100K and the embeddings, as the other tests read
    outputs = run_notebook(path, monkeypatch, {
        "RECNN_HOME": str(tmp_path), "RECNN_DATA": str(data), "RECNN_SMOKE": "1",
        "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1",
    })  # fmt: skip
    assert "device: cuda" in outputs
