"""Tests for recnn_helpers.simulator: the world model, the session simulator and the metrics.

Rules are checked against an independent numpy re-implementation on a tiny synthetic world;
the API, seeding, leaving, truncation and planning on ML-100K (data/ml-100k).
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from recnn_helpers import simulator as sim
from recnn_helpers.data import leave_one_out, load_movielens, to_interactions
from recnn_helpers.embeddings import genre_matrix
from recnn_helpers.evaluation import History, history_batch, popularity_scorer, random_scorer

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    ),
]


@pytest.fixture(scope="module")
def world():
    ml = load_movielens("ml-100k")
    data = to_interactions(ml.ratings, ml.items.item_id.to_numpy())
    split = leave_one_out(data)
    return {
        "data": data,
        "split": split,
        "preferences": sim.fit_preferences(data),
        "genres": genre_matrix(ml.items)[0],
        "selection": sim.split_users(data.num_users, seed=0)[0],
    }


def make_env(world, rule="none", users=None, device="cpu", **kwargs):
    rule = sim.LeavingRule.preset(rule) if isinstance(rule, str) else rule
    return sim.UserSimulator(world["preferences"], world["genres"], world["split"].history("test"),
                             users=users, rule=rule, device=device, **kwargs)  # fmt: skip


def play(env, score_fn, seed=0):
    """One session per user; the per-step outputs stacked over steps."""
    out = {"reward": [], "terminated": [], "truncated": [], "active": [], "item": []}
    env.reset(seed=seed)
    while not env.done.all():
        _, reward, terminated, truncated, info = env.step(env.recommend(score_fn))
        for name, value in (("reward", reward), ("terminated", terminated),
                            ("truncated", truncated), ("active", info["active"]),
                            ("item", info["item"])):  # fmt: skip
            out[name].append(value.cpu())
    return {name: torch.stack(v) for name, v in out.items()}


def assert_no_repeats(env) -> None:
    """Every consumed item is new to its user: not in the start history, not twice."""
    start = env.start
    for row in range(env.num_envs):
        session = env.session_items[row].cpu().numpy()
        session = session[session >= 0]
        assert len(set(session.tolist())) == len(session), f"row {row} repeats an item"
        history = start.items[start.offsets[row] : start.offsets[row + 1]]
        assert not np.isin(session, history).any(), f"row {row} re-consumes a logged item"


# --------------------------------------------------------------------------- preferences


def test_preference_validation_figures(world):
    result = sim.validate_preferences(world["data"], holdout=0.1, seed=0)
    mf, item, glob = result["MF"], result["item mean"], result["global mean"]
    # The figures reported to the notebook (float64 ALS; tolerance for other BLAS builds).
    assert mf["RMSE"] == pytest.approx(0.90282, abs=2e-3)
    assert mf["Spearman"] == pytest.approx(0.58186, abs=2e-3)
    assert item["RMSE"] == pytest.approx(1.01957, abs=1e-4)
    assert item["Spearman"] == pytest.approx(0.41291, abs=1e-4)
    assert glob["RMSE"] == pytest.approx(1.12077, abs=1e-4)
    assert math.isnan(glob["Spearman"])
    assert mf["RMSE"] < item["RMSE"] - 0.1 < glob["RMSE"]
    assert mf["held-out ratings"] == 10_000
    assert set(pd.DataFrame(result).T.columns) == {"RMSE", "Spearman", "held-out ratings"}
    with pytest.raises(ValueError, match="holdout"):
        sim.validate_preferences(world["data"], holdout=1.0)


def test_fit_is_deterministic_and_consistent(world):
    data, prefs = world["data"], world["preferences"]
    again = sim.fit_preferences(data)
    for name in ("user_bias", "item_bias", "user_factors", "item_factors"):
        torch.testing.assert_close(getattr(again, name), getattr(prefs, name), rtol=0, atol=1e-6)
    other = sim.fit_preferences(data, seed=1)
    assert not torch.equal(other.user_factors, prefs.user_factors)
    assert prefs.global_mean == pytest.approx(data.ratings.mean(), abs=1e-6)
    users = torch.tensor([0, 5, 942])
    full = prefs.full(users)
    assert full.shape == (3, data.num_items) and full.dtype == torch.float32
    assert full.min() >= 1 and full.max() <= 5
    items = torch.tensor([[0, 10, 1681]] * 3)
    torch.testing.assert_close(prefs.predict(users[:, None], items), full.gather(1, items))
    # In-sample fit: clearly better than the held-out figure.
    pred = prefs.predict(data.users, data.items).numpy()
    assert np.sqrt(np.mean((pred - data.ratings) ** 2)) < 0.85


def test_predicted_vs_logged(world):
    data = world["data"]
    table = sim.predicted_vs_logged(world["preferences"], data)
    assert list(table.index) == ["1", "2", "3", "4", "5", "all logged", "not logged"]
    assert table.loc[["1", "2", "3", "4", "5"], "count"].sum() == len(data)
    assert table.loc["not logged", "count"] == data.num_users * data.num_items - len(data)
    # Predictions rise with the logged rating but shrink towards the mean.
    means = table.loc[["1", "2", "3", "4", "5"], "mean predicted"].to_numpy()
    assert np.all(np.diff(means) > 0)
    assert means[0] > 1.5 and means[-1] < 4.5
    assert table.loc["all logged", "mean predicted"] > table.loc["not logged", "mean predicted"]


# --------------------------------------------------------------------------- rules by hand

GENRES = np.array([[1, 0]] * 4 + [[0, 1]] * 4 + [[1, 1]], dtype=np.float32)  # 9 items
BIAS = np.array([1.5, 1.2, 1.0, 0.8, 0.4, 0.3, 0.2, 0.1, 0.9], dtype=np.float32)


def tiny(rule, noise_std=0.0, **kwargs):
    """Two users; predicted rating 3 + item bias; start histories of two items each."""
    frame = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [0, 4, 4, 5],
                          "rating": [5.0, 2.0, 1.0, 4.0], "timestamp": [1, 2, 1, 2]})  # fmt: skip
    data = to_interactions(frame, np.arange(9))
    prefs = sim.Preferences(3.0, torch.zeros(2), torch.tensor(BIAS), torch.zeros(2, 1),
                            torch.zeros(9, 1))  # fmt: skip
    return sim.UserSimulator(prefs, GENRES, data, rule=rule, noise_std=noise_std, device="cpu",
                             **kwargs)  # fmt: skip


def reference(start_items, start_ratings, actions, rule):
    """Satiation, ratings and boredom of one user, step by step, written out plainly."""
    share = GENRES / GENRES.sum(1, keepdims=True)
    s, poor = np.zeros(2), 0.0
    for item, r in zip(start_items, start_ratings, strict=True):
        s = rule.decay * s + (1 - rule.decay) * share[item]
        poor = rule.poor_decay * poor + (1 - rule.poor_decay) * (r < rule.poor_rating)
    ratings, boredom = [], []
    for item in actions:
        r = np.clip(3 + BIAS[item] - rule.penalty * s @ share[item], 1, 5)
        s = rule.decay * s + (1 - rule.decay) * share[item]
        poor = rule.poor_decay * poor + (1 - rule.poor_decay) * (r < rule.poor_rating)
        ratings.append(r)
        boredom.append(s.max() + rule.poor_weight * poor)
    return np.array(ratings), np.array(boredom)


def test_satiation_lowers_ratings_as_documented():
    rule = sim.LeavingRule(decay=0.8, penalty=2.0, poor_rating=3.5, threshold=0.5, slope=3.0)
    env = tiny(rule)
    actions = np.array([[1, 6], [2, 7], [3, 8], [8, 2], [6, 0], [7, 1]])
    env.reset(seed=0)
    rewards, probabilities = [], []
    for a in actions:
        _, reward, _, _, info = env.step(torch.as_tensor(a))
        rewards.append(reward)
        probabilities.append(info["leave_probability"])
        if env.done.all():
            break
    rewards, probabilities = torch.stack(rewards).numpy(), torch.stack(probabilities).numpy()
    for row, (items, ratings) in enumerate([([0, 4], [5, 2]), ([4, 5], [1, 4])]):
        expected, boredom = reference(items, ratings, actions[:, row], rule)
        n = int(env.steps[row])
        np.testing.assert_allclose(rewards[:n, row], (expected[:n] - 3) / 2, atol=1e-5)
        assert np.abs(expected[:n] - (3 + BIAS[actions[:n, row]])).max() > 0.1  # satiation bites
        assert np.all(rewards[n:, row] == 0)
        p = 1 / (1 + np.exp(-rule.slope * (boredom[:n] - rule.threshold)))
        np.testing.assert_allclose(probabilities[:n, row], p, atol=1e-5)


def test_none_never_leaves_and_truncates_at_max_steps():
    env = tiny(sim.LeavingRule.preset("none"), noise_std=1.0, max_steps=4)
    obs, info = env.reset(seed=3)
    assert info["active"].all()
    for t in range(4):
        assert not env.done.any()
        obs, reward, terminated, truncated, info = env.step(env.recommend(random_scorer(9, t)))
        assert not terminated.any()
        assert truncated.all() == (t == 3)
    assert env.steps.tolist() == [4, 4]
    assert obs.lengths.tolist() == [6, 6] and obs.items.shape[1] == env.width == 6
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.zeros(2, 1, dtype=torch.int64))


def test_max_history_cuts_what_the_policy_reads_not_the_mask():
    env = tiny(sim.LeavingRule.preset("none"), max_steps=5, max_history=3)
    obs, _ = env.reset(seed=0)
    assert obs.items.shape == (2, 3) and obs.lengths.tolist() == [2, 2]
    for t in range(5):
        obs, *_ = env.step(env.recommend(random_scorer(9, t)))
    assert obs.lengths.tolist() == [3, 3] and obs.mask.all()
    np.testing.assert_array_equal(obs.items.numpy(), env.session_items[:, 2:].numpy())
    assert_no_repeats(env)


def test_certain_leaving_ends_after_one_step_and_masks_finished_users():
    rule = sim.LeavingRule(threshold=-1.0, slope=100.0)  # leaves with probability ~1
    env = tiny(rule)
    obs, _ = env.reset(seed=0)
    _, reward, terminated, truncated, _ = env.step(torch.tensor([[1], [6]]))
    assert terminated.all() and not truncated.any() and env.done.all()
    assert env.session_metrics()["left"].all() and env.steps.tolist() == [1, 1]
    # One user finished: their rows of later actions are ignored, their rewards are 0.
    env = tiny(sim.LeavingRule(decay=0.0, threshold=0.9, slope=1e4))  # leaves when s_g = 1
    env.reset(seed=0)
    _, _, terminated, _, _ = env.step(torch.tensor([[1], [8]]))  # user 2 takes a two-genre item
    assert terminated.tolist() == [True, False]
    before = env.observation()
    obs, reward, terminated, _, info = env.step(torch.tensor([[-1], [2]]))
    assert reward[0] == 0 and not info["active"][0] and terminated[0]
    assert torch.equal(obs.items[0], before.items[0]) and obs.items[1, -1] == 2
    assert before.items[1, -1] == 8  # observations handed out earlier do not change


def test_actions_that_repeat_an_item_are_rejected():
    env = tiny(sim.LeavingRule.preset("none"), k=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="already seen"):
        env.step(torch.tensor([[0, 1], [2, 3]]))  # item 0 is in user 1's start history
    with pytest.raises(ValueError, match="twice"):
        env.step(torch.tensor([[1, 1], [2, 3]]))
    with pytest.raises(ValueError, match="outside the catalogue"):
        env.step(torch.tensor([[1, 9], [2, 3]]))
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.tensor([[1], [2]]))
    env.step(torch.tensor([[1, 2], [2, 3]]))
    taken = int(env.session_items[0, 0])
    with pytest.raises(ValueError, match="already seen"):
        env.step(torch.tensor([[taken, 6], [0, 1]]))


def test_choice_model_takes_one_of_the_list():
    env = tiny(sim.LeavingRule(penalty=1.0), k=3, choice_temperature=0.0)
    env.reset(seed=0)
    _, _, _, _, info = env.step(torch.tensor([[3, 1, 6], [7, 6, 3]]))
    assert info["item"].tolist() == [1, 3]  # highest utility: largest bias for both users
    counts = np.zeros(9)
    env = tiny(sim.LeavingRule.preset("none"), k=3, choice_temperature=0.5, max_steps=1)
    for seed in range(200):
        env.reset(seed=seed)
        _, _, _, _, info = env.step(torch.tensor([[1, 2, 3], [1, 2, 3]]))
        np.add.at(counts, info["item"].numpy(), 1)
    logit = np.exp(BIAS[1:4] / 0.5)
    np.testing.assert_allclose(counts[1:4] / 400, logit / logit.sum(), atol=0.06)


# --------------------------------------------------------------------------- ML-100K


@pytest.mark.parametrize("device", DEVICES)
def test_api_shapes_dtypes_and_scale(world, device):
    users = world["selection"][:50]
    env = make_env(world, "strong", users=users, device=device, k=2)
    assert isinstance(env, sim.gym.Env)
    assert env.action_space.shape == (50, 2)
    obs, info = env.reset(seed=0)
    assert isinstance(obs, History)
    start = history_batch(world["split"].history("test"), users, device=device)
    width = start.items.shape[1]
    assert obs.items.shape == obs.ratings.shape == obs.mask.shape == (50, width + 30)
    assert obs.items.dtype == torch.int64 and obs.ratings.dtype == torch.float32
    assert obs.items.device.type == device and obs.users.tolist() == users.tolist()
    # The session continues where the log ends: the start history, last item last.
    assert torch.equal(obs.items[:, -width:], start.items)
    assert torch.equal(obs.lengths, start.lengths)
    assert torch.equal(obs.mask.sum(1), obs.lengths)
    action = env.recommend(popularity_scorer(world["split"].train))
    assert action.shape == (50, 2) and action.dtype == torch.int64
    obs, reward, terminated, truncated, info = env.step(action)
    assert reward.shape == terminated.shape == truncated.shape == (50,)
    assert reward.dtype == torch.float32 and terminated.dtype == torch.bool
    assert reward.min() >= -1 and reward.max() <= 1
    assert set(info) >= {"active", "item", "rating", "leave_probability", "boredom"}
    assert torch.equal(obs.items[:, -1], info["item"])
    assert torch.equal(obs.lengths, start.lengths + 1)
    assert (info["item"].unsqueeze(1) == action).any(1).all()
    torch.testing.assert_close(obs.ratings[:, -1], info["rating"])


def test_seeding_reproduces_a_session(world):
    env = make_env(world, "mild", users=world["selection"], noise_std=1.0, k=3)
    policy = popularity_scorer(world["split"].train)
    first, again, other = play(env, policy, 0), play(env, policy, 0), play(env, policy, 1)
    for name in first:
        assert torch.equal(first[name], again[name])
    assert not torch.equal(first["reward"], other["reward"])


def test_sessions_never_repeat_items_and_rewards_stay_on_scale(world):
    env = make_env(world, "mild", users=world["selection"], k=3, noise_std=2.0)
    out = play(env, popularity_scorer(world["split"].train))
    assert_no_repeats(env)
    assert out["reward"].min() >= -1 and out["reward"].max() <= 1
    assert (out["reward"] == -1).any() and (out["reward"] == 1).any()  # clipped at both ends
    finished_before = ~out["active"]
    assert torch.all(out["reward"][finished_before] == 0)
    assert torch.all(out["item"][finished_before] == -1)


def test_a_simulator_that_does_not_mask_seen_items_is_caught(world):
    class NoMask(sim.UserSimulator):
        """Deliberately wrong: recommends without the mask and accepts any action."""

        def recommend(self, score_fn, obs=None):
            obs = self.observation()
            return torch.as_tensor(score_fn(obs.users, obs)).topk(self.k, dim=1).indices

        def _check_action(self, action, active):
            pass

    args = (world["preferences"], world["genres"], world["split"].history("test"))
    broken = NoMask(*args, users=world["selection"][:20], device="cpu")
    play(broken, popularity_scorer(world["split"].train))
    with pytest.raises(AssertionError, match="repeats|re-consumes"):
        assert_no_repeats(broken)
    correct = sim.UserSimulator(*args, users=world["selection"][:20], device="cpu")
    play(correct, popularity_scorer(world["split"].train))
    assert_no_repeats(correct)


def test_leaving_strength_orders_the_presets(world):
    greedy = {}
    for rule in ("none", "mild", "strong"):
        env = make_env(world, rule, users=world["selection"])
        greedy[rule] = sim.run_sessions(env, sim.oracle_scorer(env), seeds=(0, 1))
    assert np.all(greedy["none"]["left"] == 0) and np.all(greedy["none"]["length"] == 30)
    assert 0 < greedy["mild"]["left"].mean() < greedy["strong"]["left"].mean()
    assert greedy["none"]["length"].mean() > greedy["mild"]["length"].mean()
    assert greedy["mild"]["length"].mean() > greedy["strong"]["length"].mean()


def test_planning_pays_only_when_users_get_bored(world):
    """With the world model's own predictions: greedy vs an oracle that avoids satiated
    genres. Under ``strong`` the diverse oracle earns clearly more; without the rule greedy
    is best, so a conclusion about planning is a conclusion about the rule."""
    ret = {}
    for rule in ("none", "strong"):
        env = make_env(world, rule, users=world["selection"])
        for name, weight in (("greedy", 0.0), ("diverse", 4.0)):
            result = sim.run_sessions(env, sim.oracle_scorer(env, weight), seeds=(0, 1))
            ret[rule, name] = result["return"]
            assert result["diversity"].mean() > 0
    assert ret["strong", "diverse"].min() > 1.5 * ret["strong", "greedy"].max()
    assert ret["none", "greedy"].min() > ret["none", "diverse"].max()


def test_run_sessions_and_summarise(world):
    env = make_env(world, "mild", users=world["selection"][:100])
    policies = {"popularity": popularity_scorer(world["split"].train),
                "oracle": sim.oracle_scorer(env, 1.0)}  # fmt: skip
    results = {name: sim.run_sessions(env, fn, seeds=(0, 1, 2)) for name, fn in policies.items()}
    for result in results.values():
        assert set(result) == {"seeds", "seconds", *sim.METRICS}
        assert all(len(v) == 3 for v in result.values())
        assert np.all((result["coverage"] > 0) & (result["coverage"] <= 1))
        assert np.all((result["left"] >= 0) & (result["left"] <= 1))
        np.testing.assert_allclose(
            result["reward per step"] * result["length"], result["return"], rtol=1e-5
        )
    table = sim.summarise(results)
    assert table.index.names == ["policy", "metric"]
    assert list(table.columns) == ["mean", "low", "high"]
    assert len(table) == 2 * len(sim.METRICS)
    assert np.all((table["low"] <= table["mean"] + 1e-9) & (table["mean"] <= table["high"] + 1e-9))
    assert table.loc[("popularity", "return"), "low"] < table.loc[("popularity", "return"), "high"]
    one = sim.summarise(results["oracle"])
    assert one.loc[("policy", "return"), "mean"] == pytest.approx(
        results["oracle"]["return"].mean()
    )


def test_split_users():
    selection, report = sim.split_users(943, seed=0)
    assert len(selection) == 471 and len(report) == 472
    assert not np.intersect1d(selection, report).size
    np.testing.assert_array_equal(np.sort(np.r_[selection, report]), np.arange(943))
    again, _ = sim.split_users(943, seed=0)
    np.testing.assert_array_equal(again, selection)
    assert not np.array_equal(sim.split_users(943, seed=1)[0], selection)


def test_leaving_rule_presets():
    none, mild, strong = (sim.LeavingRule.preset(n) for n in ("none", "mild", "strong"))
    assert not none.leaves and none.penalty == 0
    boredom = torch.linspace(0, 1, 11)
    assert torch.all(none.leave_probability(boredom) == 0)
    assert torch.all(mild.leave_probability(boredom) <= strong.leave_probability(boredom))
    assert mild.penalty < strong.penalty
    with pytest.raises(ValueError, match="preset"):
        sim.LeavingRule.preset("medium")


def fake_run(seeds, returns):
    return {"seeds": np.asarray(seeds), "return": np.asarray(returns, dtype=float)}


def test_pooled_training_seeds_pair_by_simulator_seed():
    baseline = fake_run([0, 1, 2], [1.0, 2.0, 3.0])
    agent = sim.pool_training_seeds(
        {0: fake_run([0, 1, 2], [1.5, 2.5, 3.5]), 7: fake_run([2, 0, 1], [3.0, 1.0, 2.0])}
    )
    assert agent["training_seeds"].tolist() == [0, 0, 0, 7, 7, 7]
    assert agent["seeds"].tolist() == [0, 1, 2, 2, 0, 1]
    # Paired by simulator seed, not by position: the second agent's shuffled seeds earn
    # exactly the baseline's, the first 0.5 more.
    assert sim.paired_difference(agent, baseline).tolist() == [0.5, 0.5, 0.5, 0.0, 0.0, 0.0]
    # A pooled baseline is averaged over its training seeds first.
    assert sim.paired_difference(baseline, agent).tolist() == [-0.25, -0.25, -0.25]
    summary = sim.summarise(agent, metrics=("return",))
    assert summary.loc[("policy", "return"), "mean"] == pytest.approx(13.5 / 6)


def test_paired_difference_refuses_unplayed_seeds_and_empty_pools():
    with pytest.raises(ValueError, match=r"simulator seeds \[5\]"):
        sim.paired_difference(fake_run([0, 5], [1.0, 1.0]), fake_run([0, 1], [1.0, 1.0]))
    with pytest.raises(ValueError, match="no training seed"):
        sim.pool_training_seeds({})


# --------------------------------------------------------------------------- issue 17 helpers


def test_rating_table_drives_the_simulator_like_the_preferences_it_copies():
    # A RatingTable of the tiny world's own predictions plays exactly the same sessions.
    env = tiny(sim.LeavingRule.preset("mild"), noise_std=0.3, max_steps=6)
    table = sim.RatingTable(env.preferences.full(np.arange(2), clip=False), (1.0, 5.0))
    assert torch.equal(table.predict([0, 1], [3, 8]), env.preferences.predict([0, 1], [3, 8]))
    assert torch.equal(table.full([1]), env.preferences.full([1]))
    same = sim.UserSimulator(table, GENRES, env.start, rule=env.rule, noise_std=0.3,
                             max_steps=6, device="cpu")  # fmt: skip
    score = lambda users, history: torch.arange(9.0).expand(len(users), -1)  # noqa: E731
    a, b = sim.run_sessions(env, score, (0, 1)), sim.run_sessions(same, score, (0, 1))
    assert all(np.array_equal(a[m], b[m]) for m in sim.METRICS)
    # ...and a different table plays differently (the test can fail).
    other = sim.UserSimulator(sim.RatingTable(table.ratings.flip(1)), GENRES, env.start,
                              rule=env.rule, noise_std=0.3, max_steps=6, device="cpu")  # fmt: skip
    assert not np.array_equal(sim.run_sessions(other, score, (0, 1))["return"], a["return"])


def test_rule_state_from_the_history_matches_the_simulator(world):
    env = make_env(world, "strong", users=world["selection"][:40])
    obs, _ = env.reset(seed=0)
    for _ in range(4):
        obs, *_ = env.step(env.recommend(popularity_scorer(world["split"].train), obs))
    satiation, poor = env.rule.state(obs, env.genre_share)
    live = ~env.done
    # The simulator starts from the last 100 logged items; the history holds all of them.
    assert torch.allclose(satiation[live], env.satiation[live], atol=1e-4)
    assert torch.allclose(poor[live], env.poor[live], atol=1e-4)
    boredom = env.rule.boredom(env.satiation, env.poor)
    assert torch.allclose(boredom, env.satiation.max(1).values + env.rule.poor_weight * env.poor)


def test_mmr_at_weight_zero_is_the_greedy_list_and_at_one_avoids_the_last_genre():
    env = tiny(sim.LeavingRule.preset("none"))
    obs, _ = env.reset(seed=0)
    greedy = lambda users, history: torch.tensor(BIAS).expand(len(users), -1)  # noqa: E731
    genres = torch.tensor(GENRES)
    assert torch.equal(env.recommend(sim.mmr_scorer(greedy, genres, 0.0, candidates=5), obs),
                       env.recommend(greedy, obs))  # fmt: skip
    # User 0 last consumed item 4 (genre 1): full redundancy weight picks the best genre-0 item.
    pick = env.recommend(sim.mmr_scorer(greedy, genres, 1.0, candidates=5, window=1), obs)
    assert GENRES[int(pick[0, 0])].tolist() == [1.0, 0.0]
