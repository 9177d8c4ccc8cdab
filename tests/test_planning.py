"""The agent's user model and planner of notebooks/5-long-term/2-planning.ipynb.

Models live in the notebook, so the tests run its imports cell and the cells tagged
``planning`` into a namespace and check, on a small synthetic data set: the ensemble member is
seeded and learns from the train split alone (ratings outside it change nothing; one train
rating changes it); the penalised reward is ``r - lambda * u`` in reward units; the planner's
scorer plays in the simulator (one score per item, never a seen item) and, with a price on
leaving, steers a bored user away from the satiated genre.
"""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from notebook_cells import tagged_cells_namespace

from recnn_helpers import simulator as sim
from recnn_helpers.data import leave_one_out, to_interactions

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "5-long-term" / "2-planning.ipynb"
ARGS = SimpleNamespace(embedding_dim=4, hidden_dim=8, epochs=2, learning_rate=1e-2,
                       weight_decay=0.0, batch_size=32, seed=0, max_steps=5, candidates=6,
                       iterations=2, value_epochs=2, epsilon=0.1)  # fmt: skip
GENRES = np.array([[1, 0]] * 5 + [[0, 1]] * 5, dtype=np.float32)  # 10 items


@pytest.fixture(scope="module")
def ns() -> dict:
    return tagged_cells_namespace(NOTEBOOK, "planning")


def ratings_frame(seed=0, users=12, per_user=8):
    rng = np.random.default_rng(seed)
    rows = [
        (u, int(i), float(rng.integers(1, 6)), t)
        for u in range(users)
        for t, i in enumerate(rng.choice(10, per_user, replace=False))
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def content():
    return torch.as_tensor(np.hstack([GENRES, np.eye(10, dtype=np.float32)]))


def member_table(ns, frame, seed=0):
    split = leave_one_out(to_interactions(frame, np.arange(10)))
    net = ns["fit_member"](split.train, content(), seed, ARGS)
    return ns["ensemble_tables"]([net], split.num_users)[0]


def test_member_is_seeded(ns):
    frame = ratings_frame()
    assert torch.equal(member_table(ns, frame, 0), member_table(ns, frame, 0))
    assert not torch.equal(member_table(ns, frame, 0), member_table(ns, frame, 1))


def test_member_learns_from_the_train_split_only(ns):
    frame = ratings_frame()
    base = member_table(ns, frame)
    # Each user's last two ratings are validation and test: scrambling them changes nothing.
    held_out = frame.groupby("user_id").tail(2).index
    scrambled = frame.copy()
    scrambled.loc[held_out, "rating"] = 6 - scrambled.loc[held_out, "rating"]
    assert torch.equal(member_table(ns, scrambled), base)
    # One train rating changed: the member changes (so the check above can fail).
    first_train = frame.groupby("user_id").head(1).index[0]
    changed = frame.copy()
    changed.loc[first_train, "rating"] = 6 - changed.loc[first_train, "rating"]
    assert not torch.equal(member_table(ns, changed), base)


def test_penalised_reward_is_r_minus_lambda_u(ns):
    reward = ns["penalised_reward"]
    expected = torch.tensor([5.0, 3.0, 1.0, 7.0])
    u = torch.tensor([0.0, 2.0, 0.0, 0.0])
    unit = torch.tensor([1.0, 0.0, -1.0, 1.0])
    assert torch.allclose(reward(expected, u, 0.0, (1.0, 5.0)), unit)
    # lambda = 1: two stars of spread cost one unit of reward (half the rating range).
    assert torch.allclose(reward(expected, u, 1.0, (1.0, 5.0)), unit - u / 2)
    # On a half-star scale the unit is 2.25 stars.
    difference = reward(expected, u, 0.5, (0.5, 5.0)) - reward(expected, 0 * u, 0.5, (0.5, 5.0))
    assert torch.allclose(difference, -0.5 * u / 2.25)


def tiny_world(ns, rule):
    """Two users who start with three genre-0 items each; the model rates genre 0 a bit higher."""
    frame = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2], "item_id": [0, 1, 2, 0, 1, 2],
                          "rating": [4.0] * 6, "timestamp": [1, 2, 3, 1, 2, 3]})  # fmt: skip
    start = to_interactions(frame, np.arange(10))
    mean = torch.tensor([4.4] * 5 + [4.0] * 5).expand(2, -1).clone()
    model = ns["AgentModel"](mean, torch.zeros_like(mean), 0.5, (1.0, 5.0))
    share = torch.tensor(GENRES) / torch.tensor(GENRES).sum(1, keepdim=True)
    env = sim.UserSimulator(sim.RatingTable(mean), GENRES, start, rule=rule, max_steps=3,
                            noise_std=0.0, device="cpu")  # fmt: skip
    return model, share, torch.as_tensor(start.lengths), env


def test_planner_scorer_plays_in_the_simulator(ns):
    rule = sim.LeavingRule(decay=0.5, penalty=0.0, threshold=0.6, slope=30.0)
    model, share, lengths, env = tiny_world(ns, rule)
    obs, _ = env.reset(seed=0)
    scorer = ns["planner_scorer"]
    greedy = scorer(model, rule, share, lengths, 0.0, 0.9, 0.0, 3, ARGS.candidates)
    scores = greedy(obs.users, obs)
    assert scores.shape == (2, 10)
    assert (scores[:, :3] == -1e4).all()  # seen items are never candidates
    # Greedy on the model picks the higher-rated genre 0 and makes the user likely to leave;
    # a price on leaving (the myopic policy's c) picks genre 1 instead.
    assert GENRES[int(env.recommend(greedy, obs)[0, 0])].tolist() == [1.0, 0.0]
    cautious = scorer(model, rule, share, lengths, 0.0, 1.0, 5.0, 3, ARGS.candidates)
    assert GENRES[int(env.recommend(cautious, obs)[0, 0])].tolist() == [0.0, 1.0]
    while not env.done.all():
        env.step(env.recommend(cautious))


def test_value_iteration_runs_in_the_agents_model_and_learns_to_avoid_leaving(ns):
    rule = sim.LeavingRule(decay=0.5, penalty=0.0, threshold=0.6, slope=30.0)
    model, share, lengths, env = tiny_world(ns, rule)
    args = SimpleNamespace(**{**vars(ARGS), "iterations": 6, "value_epochs": 20})
    value, history = ns["train_planner"](model, rule, GENRES, env.start, np.arange(2), 0.0, 0.9,
                                         args, share, lengths)  # fmt: skip
    assert len(history["mean_target"]) == 6 and np.isfinite(history["value_loss"]).all()
    planner = ns["planner_scorer"](model, rule, share, lengths, 0.0, 0.9, value, 3, ARGS.candidates)
    obs, _ = env.reset(seed=0)
    assert GENRES[int(env.recommend(planner, obs)[0, 0])].tolist() == [0.0, 1.0]
