"""Hand-computed cases for recnn_helpers.evaluation (the ranking rules of PROTOCOL.md)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from recnn_helpers.data import leave_one_out, to_interactions
from recnn_helpers.evaluation import (
    History,
    bootstrap_interval,
    evaluate,
    history_batch,
    last_item_scorer,
    mean_of_history_scorer,
    ndcg_from_ranks,
    new_item_metrics,
    popularity_scorer,
    random_scorer,
    scores_from_actions,
    seed_table,
    t_interval,
)


def make_split(sequences: list[list[int]], num_items: int):
    """Leave-one-out split of per-user item sequences (in time order), rating 3 everywhere."""
    rows = [(u, item, 3.0, t) for u, seq in enumerate(sequences) for t, item in enumerate(seq)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return leave_one_out(to_interactions(frame, np.arange(num_items)))


def fixed_scores(scores):
    """A score function returning the same row of scores for every user."""
    row = torch.as_tensor(scores, dtype=torch.float32)

    def score(users, history):
        return row.expand(len(users), -1)

    return score


def test_one_user_five_items():
    split = make_split([[0, 1, 2]], num_items=5)
    score = fixed_scores([9.0, 8.0, 3.0, 5.0, 1.0])
    # Test: history {0, 1} masked; target 2 (score 3) is beaten by item 3 (score 5): rank 2.
    m = evaluate(score, split, "test", return_ranks=True)
    assert m["ranks"].tolist() == [2]
    for k in (10, 20):
        assert m[f"HR@{k}"] == 1.0
        assert m[f"NDCG@{k}"] == pytest.approx(1 / math.log2(3))
        assert m[f"MRR@{k}"] == pytest.approx(0.5)
    # Validation: history {0} masked; target 1 (score 8) is the best unmasked item.
    m = evaluate(score, split, "valid", return_ranks=True)
    assert m["ranks"].tolist() == [1]
    assert m["HR@10"] == m["NDCG@10"] == m["MRR@10"] == 1.0


def test_rank_between_10_and_20():
    # 30 items; target 29 has the 15th best score among the unmasked items.
    split = make_split([[0, 1, 29]], num_items=30)
    scores = np.arange(30, 0, -1, dtype=np.float32)  # item i scores 30 - i
    scores[29] = scores[15] - 0.5  # below items 2..15 (14 items); items 0, 1 are masked
    m = evaluate(fixed_scores(scores), split, "test", return_ranks=True)
    assert m["ranks"].tolist() == [15]
    assert m["HR@10"] == m["NDCG@10"] == m["MRR@10"] == 0.0
    assert m["HR@20"] == 1.0
    assert m["NDCG@20"] == pytest.approx(1 / math.log2(16))
    assert m["MRR@20"] == pytest.approx(1 / 15)


def test_ties_count_against_the_model():
    split = make_split([[0, 1, 5]], num_items=30)
    scores = np.zeros(30, dtype=np.float32)
    scores[[5, 7, 9]] = 1.0  # target 5 tied with two unmasked items
    scores[[0, 1]] = 1.0  # tied history items are masked and do not count
    m = evaluate(fixed_scores(scores), split, "test", return_ranks=True)
    assert m["ranks"].tolist() == [3]
    assert m["NDCG@10"] == pytest.approx(0.5)
    assert m["MRR@10"] == pytest.approx(1 / 3)


def test_constant_scorer_gets_zero():
    split = make_split([[0, 1, 2], [3, 4, 5, 6], [7, 8, 9]], num_items=50)
    for phase in ("valid", "test"):
        m = evaluate(fixed_scores(np.ones(50)), split, phase, return_ranks=True)
        for k in (10, 20):
            assert m[f"HR@{k}"] == m[f"NDCG@{k}"] == m[f"MRR@{k}"] == 0.0
        # Every unmasked item ties with the target: rank = number of unmasked items.
        history_lengths = split.history(phase).lengths
        assert m["ranks"].tolist() == (50 - history_lengths).tolist()


def test_history_is_masked_but_a_reconsumed_target_is_ranked():
    # User 0 watches 5, 7, then 5 again: the test target 5 is also in the test history.
    # User 1's history item 3 scores above everything but is masked.
    split = make_split([[5, 7, 5], [3, 4, 6]], num_items=30)
    scores = np.zeros(30, dtype=np.float32)
    scores[3], scores[5], scores[7], scores[6], scores[4] = 10.0, 9.0, 8.0, 7.0, 6.0
    m = evaluate(fixed_scores(scores), split, "test", return_ranks=True)
    # User 0: history {5, 7}; target 5 stays rankable and item 3 beats it: rank 2.
    # User 1: history {3, 4}; item 3 is masked, only items 5 and 7 beat target 6: rank 3.
    assert m["ranks"].tolist() == [2, 3]
    m = evaluate(fixed_scores(scores), split, "valid", return_ranks=True)
    # User 0: history {5}; target 7 below item 3 only: rank 2. User 1: history {3}: target 4
    # is below items 5, 7, 6: rank 4.
    assert m["ranks"].tolist() == [2, 4]


def test_coverage_novelty_diversity_by_hand():
    num_items = 25
    # Train parts: A {0, 1}, B {0, 2}, C {0, 1}, D {3}; targets are items 20..24.
    split = make_split([[0, 1, 20, 21], [0, 2, 22, 23], [1, 0, 20, 24], [3, 21, 22]], num_items)
    scores = np.arange(num_items, 0, -1, dtype=np.float32)  # item i scores 25 - i
    # Even items point one way, odd items the other: cosine 1 within a parity, 0 across.
    embeddings = np.zeros((num_items, 2), dtype=np.float32)
    embeddings[0::2, 0] = 1.0
    embeddings[1::2, 1] = 3.0
    m = evaluate(fixed_scores(scores), split, "valid", item_embeddings=embeddings)
    top10 = [
        list(range(2, 12)),  # A: 0, 1 masked
        [1] + list(range(3, 12)),  # B: 0, 2 masked
        list(range(2, 12)),  # C
        [0, 1, 2] + list(range(4, 11)),  # D: 3 masked
    ]
    assert m["coverage@10"] == pytest.approx(len(set().union(*top10)) / num_items)
    assert m["coverage@10"] == pytest.approx(12 / 25)
    # Train counts (distinct users): item 0 -> 3, item 1 -> 2, items 2, 3 -> 1, others -> 0
    # (floored at one user); self-information -log2(count / 4 users).
    info = {0: -math.log2(3 / 4), 1: 1.0}
    novelty = np.mean([np.mean([info.get(i, 2.0) for i in items]) for items in top10])
    assert m["novelty@10"] == pytest.approx(novelty)
    assert m["novelty@10"] == pytest.approx((2 + 1.9 + 2 + (-math.log2(3 / 4) + 1 + 16) / 10) / 4)
    # Intra-list diversity: share of ordered pairs of different parity, 2 * even * odd / 90.
    parity = [(sum(i % 2 == 0 for i in items), sum(i % 2 for i in items)) for items in top10]
    diversity = np.mean([2 * e * o / 90 for e, o in parity])
    assert m["diversity@10"] == pytest.approx(diversity)
    assert m["diversity@10"] == pytest.approx((50 + 48 + 50 + 48) / 360)
    assert "diversity@10" not in evaluate(fixed_scores(scores), split, "valid")


def test_score_fn_of_the_wrong_shape_raises():
    split = make_split([[0, 1, 2], [3, 4, 5]], num_items=30)
    with pytest.raises(ValueError, match="shape"):
        evaluate(fixed_scores(np.ones(29)), split, "valid")

    def one_row(users, history):
        return torch.ones(1, 30)

    with pytest.raises(ValueError, match=r"\(2, 30\)"):
        evaluate(one_row, split, "valid")


def test_nan_scores_raise():
    split = make_split([[0, 1, 2], [3, 4, 5]], num_items=30)

    def nan_for_user_1(users, history):
        scores = torch.rand(len(users), 30)
        scores[users == 1, 4] = float("nan")
        return scores

    with pytest.raises(ValueError, match="NaN.*user index 1"):
        evaluate(nan_for_user_1, split, "valid")


def test_score_fn_sees_the_phase_history():
    split = make_split([[0, 1, 2, 3], [4, 5, 6]], num_items=30)
    seen = {}

    def record(users, history):
        seen["items"], seen["mask"] = history.items.clone(), history.mask.clone()
        return torch.zeros(len(users), 30)

    evaluate(record, split, "test")
    # Right-aligned: the most recent item in the last column.
    assert seen["items"].tolist() == [[0, 1, 2], [0, 4, 5]]
    assert seen["mask"].tolist() == [[True, True, True], [False, True, True]]
    evaluate(record, split, "valid", max_history=1)
    assert seen["items"].tolist() == [[1], [4]]


def test_history_batch_layout():
    split = make_split([[0, 1, 2, 3], [4, 5, 6]], num_items=10)
    h = history_batch(split.full, np.array([1, 0]), max_len=3)
    assert h.users.tolist() == [1, 0]
    assert h.items.tolist() == [[4, 5, 6], [1, 2, 3]]
    assert h.lengths.tolist() == [3, 3]
    last = h.last(2)
    assert last.items.tolist() == [[5, 6], [2, 3]]
    assert last.lengths.tolist() == [2, 2]


def test_popularity_and_random_scorers():
    split = make_split([[0, 1, 2], [0, 3, 4], [5, 0, 6]], num_items=30)
    users = torch.arange(3)
    h = history_batch(split.train, np.arange(3))
    pop = popularity_scorer(split.train)(users, h)
    assert pop.shape == (3, 30)
    assert pop[0, :6].tolist() == [2.0, 0.0, 0.0, 0.0, 0.0, 1.0]  # train: {0}, {0}, {5}
    a = random_scorer(30, seed=1)(users, h)
    b = random_scorer(30, seed=1)(users, h)
    assert torch.equal(a, b)
    assert a.shape == (3, 30)


def test_scores_from_actions():
    actions = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]])
    torch.testing.assert_close(
        scores_from_actions(actions, items, "dot"), torch.tensor([[1.0, 0.0, 3.0], [0.0, 2.0, 8.0]])
    )
    torch.testing.assert_close(
        scores_from_actions(actions, items, "cosine"),
        torch.tensor([[1.0, 0.0, 0.6], [0.0, 1.0, 0.8]]),
    )
    torch.testing.assert_close(
        scores_from_actions(actions, items, "neg_distance"),
        -torch.tensor([[0.0, math.sqrt(2), math.sqrt(20)], [math.sqrt(5), 1.0, math.sqrt(13)]]),
    )
    with pytest.raises(ValueError, match="similarity"):
        scores_from_actions(actions, items, "l1")


def test_bootstrap_interval_contains_the_mean():
    per_user = np.random.default_rng(0).random(200) < 0.3
    low, high = bootstrap_interval(per_user, n_boot=500, seed=1)
    assert low < per_user.mean() < high
    assert high - low < 0.2
    assert bootstrap_interval(per_user, n_boot=500, seed=1) == (low, high)
    assert bootstrap_interval(np.full(10, 0.5)) == (0.5, 0.5)


def test_ndcg_from_ranks():
    np.testing.assert_allclose(
        ndcg_from_ranks(np.array([1, 3, 10, 11]), k=10), [1.0, 0.5, 1 / math.log2(11), 0.0]
    )


def test_mean_of_history_and_last_item_scorers():
    table = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    history = History(
        users=torch.tensor([0]),
        items=torch.tensor([[0, 0, 1]]),
        ratings=torch.zeros(1, 3),
        lengths=torch.tensor([2]),
        mask=torch.tensor([[False, True, True]]),
    )
    mean = mean_of_history_scorer(table)(history.users, history)
    torch.testing.assert_close(mean, torch.tensor([[0.5, 0.5, 1.0]]))
    last = last_item_scorer(table)(history.users, history)
    torch.testing.assert_close(last, torch.tensor([[0.0, 1.0, 1.0]]))


def test_new_item_metrics():
    ranks = np.array([1, 11, 3, 40, 2, 7])
    new_target = np.array([True, True, True, False, False, False])
    m = new_item_metrics(ranks, new_target)
    assert m["users"] == 3 and m["HR@10"] == pytest.approx(2 / 3)
    assert m["median rank"] == 3.0
    assert m["NDCG@10"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert m["NDCG@10, other users"] == pytest.approx((0 + 1 / math.log2(3) + 1 / 3) / 3)
    assert 0 <= m["HR@10 low"] <= m["HR@10"] <= m["HR@10 high"] <= 1
    with pytest.raises(ValueError, match="no user"):
        new_item_metrics(ranks, np.zeros(6, dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        new_item_metrics(ranks, new_target[:3])


def test_t_interval_and_seed_table():
    from scipy import stats

    values = [0.09, 0.10, 0.12]
    expected = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    np.testing.assert_allclose(t_interval(values), expected)
    assert t_interval([0.1]) is None
    tests = {
        "A": {s: {"NDCG@10": v, "HR@10": 2 * v} for s, v in enumerate(values)},
        "B": {0: {"NDCG@10": 0.05, "HR@10": 0.1}},
    }
    table = seed_table(tests)
    assert list(table.index) == ["seed 0", "seed 1", "seed 2", "mean", "95% interval low",
                                 "95% interval high"]  # fmt: skip
    assert table.loc["mean", ("A", "NDCG@10")] == round(np.mean(values), 4)
    assert table.loc["95% interval low", ("A", "NDCG@10")] == round(expected[0], 4)
    assert table.loc["mean", ("B", "NDCG@10")] == 0.05
    assert np.isnan(table.loc["95% interval high", ("B", "HR@10")])


# ------------------------------------------------------------------ intervals, budget, records


def test_wilson_interval_known_values_and_zero_hits():
    from recnn_helpers.evaluation import wilson_interval

    low, high = wilson_interval(0, 95)
    assert low == 0.0 and high == pytest.approx(0.0389, abs=1e-4)  # not the (0, 0) of a bootstrap
    low, high = wilson_interval(10, 100)  # textbook value: 0.0552 .. 0.1744
    assert (round(low, 4), round(high, 4)) == (0.0552, 0.1744)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_t_interval_is_clipped_to_the_metric_range():
    from recnn_helpers.evaluation import t_interval

    low, high = t_interval([0.0, 0.001, 0.02])
    assert low == 0.0 < high
    unclipped = t_interval([0.0, 0.001, 0.02], bounds=(-np.inf, np.inf))
    assert unclipped[0] < 0  # the symmetric interval would reach below 0


def test_early_stopping_keeps_the_best_checkpoint_and_stops_after_patience():
    from recnn_helpers.evaluation import EarlyStopping

    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    scores = [0.1, 0.3, 0.2, 0.25]
    for step, score in enumerate(scores, start=1):
        with torch.no_grad():
            model.weight.fill_(step)
        stopper.update(score, step * 100, model)
    assert stopper.stop and stopper.best == 0.3 and stopper.best_step == 200
    stopper.restore(model)
    assert torch.all(model.weight == 2)  # the weights of step 200, not the last ones
    with pytest.raises(ValueError):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="diverged"):
        stopper.update(float("nan"), 500)


def test_agent_record_and_summary_round_trip():
    from recnn_helpers.evaluation import agent_record, seed_runs, summarise_record

    tests = seed_runs(lambda s: {"NDCG@10": 0.1 + s / 100, "HR@10": 0.2}, (0, 1, 2),
                      known={0: {"NDCG@10": 0.1, "HR@10": 0.2}})  # fmt: skip
    record = agent_record("nb.ipynb", "actor-critic", tests, best_steps={0: 400, 1: 600, 2: 800},
                          max_steps=10_000)  # fmt: skip
    assert [s["best_step"] for s in record["seeds"]] == [400, 600, 800]
    assert record["budget"]["max"] == 10_000
    summary = summarise_record(record)
    assert summary["test"]["NDCG@10"] == pytest.approx(0.11)
    low, high = summary["interval"]["NDCG@10"]
    assert low < 0.11 < high and summary["best_steps"] == [400, 600, 800]
    with pytest.raises(ValueError, match="best_steps"):
        agent_record("nb", "x", tests, best_steps={0: 1}, max_steps=10)


def test_a_pass_over_some_users_ranks_them_as_the_full_pass_does():
    from recnn_helpers.evaluation import validation_users

    rng = np.random.default_rng(3)
    split = make_split(
        [list(rng.choice(30, rng.integers(3, 12), replace=False)) for _ in range(40)], 30
    )

    def score(users, history):  # a fixed score per (user, item), whatever the batches
        return torch.sin(users.float()[:, None] * 1.7 + torch.arange(30.0) * 0.31)

    full = evaluate(score, split, "test", return_ranks=True, batch_size=7)
    some = np.array([0, 3, 4, 17, 39])
    part = evaluate(score, split, "test", return_ranks=True, batch_size=2, users=some)
    np.testing.assert_array_equal(part["ranks"], full["ranks"][some])
    hit = full["ranks"][some] <= 10
    assert part["HR@10"] == pytest.approx(hit.mean())
    # Validation reads the fixed sample: all users below its size, else the same seeded ones.
    np.testing.assert_array_equal(validation_users(40), np.arange(40))
    sample = validation_users(1000, size=100)
    assert len(sample) == 100 and np.all(np.diff(sample) > 0)
    np.testing.assert_array_equal(sample, validation_users(1000, size=100))
    with pytest.raises(ValueError, match="sorted, unique"):
        evaluate(score, split, "test", users=np.array([3, 1]))
