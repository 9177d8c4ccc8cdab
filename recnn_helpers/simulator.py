"""A simulated user that plays the world, and policies scored on what they earn over a session.

Offline ranking scores only the next item; reinforcement learning is meant to optimise what a
user gives over many steps. Following EasyRL4Rec, DORL and KuaiSim, this module builds a user
simulator from the data and scores any policy (any ``evaluation.ScoreFn``) on cumulative
reward, session length and diversity. Used by the long-term-value notebook.

World model (``fit_preferences``)
    A biased matrix factorisation ``mu + b_u + b_i + p_u . q_i`` fitted by alternating least
    squares on **all** ratings of the data set: the simulator plays the world, agents are
    trained on the train split and never see it. ``validate_preferences`` refits on a seeded
    90% and reports RMSE and Spearman on the rest next to the global-mean and item-mean
    baselines; ``predicted_vs_logged`` compares predicted and logged ratings.

Session (``UserSimulator``, a ``gymnasium.Env`` batched over users on torch)
    Each user starts from the history in the log (``split.history("test")``: everything
    before the test target). Each step the policy recommends ``k`` items the user has not
    seen; the user consumes one (the choice model of ``UserSimulator``) and rates it:
    ``rating = clip(pred - penalty * satiation + noise)``; the reward is the centred rating
    (``env.centred_rating``, in [-1, 1] as in training). The item and rating join the history
    the policy reads next. Quitting is termination, reaching ``max_steps`` truncation.

Leaving (``LeavingRule``)
    Per-genre satiation ``s`` is an exponential moving average of the genres of the consumed
    items, ``s <- decay * s + (1 - decay) * g / |g|`` (``g`` the item's 0/1 genre row, ``|g|``
    its number of genres), so each ``s_g`` in [0, 1] is the discounted share of genre ``g`` in
    the recent items and an item's effect fades over ``~1 / (1 - decay)`` steps. Satiation
    lowers enjoyment: the rating drops by ``penalty * (s . g) / |g|`` stars (the mean
    satiation of the item's genres). The user then leaves with probability
    ``sigmoid(slope * (boredom - threshold))``, ``boredom = max_g s_g + poor_weight * poor``,
    ``poor`` the moving average of ratings below ``poor_rating``. Satiation and ``poor`` start
    from the logged history, so the session continues where the log ends. Presets: ``none``
    (no penalty, never leaves), ``mild``, ``strong``.

Metrics (``run_sessions``, ``summarise``): cumulative reward per session, length, reward per
step, catalogue coverage, genre diversity, share of sessions that end by leaving; mean and
95% t-interval over simulator seeds. ``split_users`` halves the users into a selection and a
report half.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import gymnasium as gym
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from scipy import stats

from .data import Interactions
from .env import centred_rating, default_device
from .evaluation import History, ScoreFn, history_batch, t_interval

# --------------------------------------------------------------------------- preferences


@dataclass
class Preferences:
    """The world's rating model: ``rating(u, i) = mu + b_u + b_i + p_u . q_i``, clipped to the
    rating scale. Tensors live on one device (``to`` moves them)."""

    global_mean: float
    user_bias: torch.Tensor  # float32 [num_users]
    item_bias: torch.Tensor  # float32 [num_items]
    user_factors: torch.Tensor  # float32 [num_users, dim]
    item_factors: torch.Tensor  # float32 [num_items, dim]
    rating_scale: tuple[float, float] = (1.0, 5.0)

    @property
    def num_users(self) -> int:
        return len(self.user_bias)

    @property
    def num_items(self) -> int:
        return len(self.item_bias)

    @property
    def device(self) -> torch.device:
        return self.user_bias.device

    def to(self, device: str | torch.device) -> Preferences:
        return replace(self, user_bias=self.user_bias.to(device),
                       item_bias=self.item_bias.to(device),
                       user_factors=self.user_factors.to(device),
                       item_factors=self.item_factors.to(device))  # fmt: skip

    def _clip(self, rating: torch.Tensor, clip: bool) -> torch.Tensor:
        return rating.clamp(self.rating_scale[0], self.rating_scale[1]) if clip else rating

    def predict(self, users, items, clip: bool = True) -> torch.Tensor:
        """Predicted ratings of (``users[j]``, ``items[j]``) pairs (any broadcastable shapes)."""
        u = torch.as_tensor(users, dtype=torch.int64, device=self.device)
        i = torch.as_tensor(items, dtype=torch.int64, device=self.device)
        u, i = torch.broadcast_tensors(u, i)
        dot = (self.user_factors[u] * self.item_factors[i]).sum(-1)
        return self._clip(self.global_mean + self.user_bias[u] + self.item_bias[i] + dot, clip)

    def full(self, users, clip: bool = True) -> torch.Tensor:
        """Predicted ratings of every item for each user: ``[B, num_items]``."""
        u = torch.as_tensor(users, dtype=torch.int64, device=self.device)
        scores = self.user_factors[u] @ self.item_factors.T
        scores += self.user_bias[u].unsqueeze(1) + self.item_bias + self.global_mean
        return self._clip(scores, clip)


def _als(users, items, ratings, num_users, num_items, dim, reg, reg_bias, iters, seed):
    """Biased MF by alternating least squares (float64, deterministic).

    With the other side fixed, each user's ``[b_u, p_u]`` solves a ridge regression of
    ``r - mu - b_i`` on the features ``[1, q_i]`` of the items they rated (and the same for
    items). All users are solved at once: their Gram matrices ``sum_i x_i x_i^T`` come from
    one sparse product of the rating pattern with the per-item outer products.
    """
    mu = float(ratings.mean())
    rng = np.random.default_rng(seed)
    theta = {
        "user": np.hstack([np.zeros((num_users, 1)), rng.normal(0, 0.1, (num_users, dim))]),
        "item": np.hstack([np.zeros((num_items, 1)), rng.normal(0, 0.1, (num_items, dim))]),
    }
    ones = np.ones(len(ratings))
    pattern = {"user": sp.csr_matrix((ones, (users, items)), shape=(num_users, num_items))}
    pattern["item"] = pattern["user"].T.tocsr()
    index = {"user": users, "item": items}
    lam = np.diag(np.r_[reg_bias, np.full(dim, reg)])
    for _ in range(iters):
        for side, other in (("user", "item"), ("item", "user")):
            x = np.hstack([np.ones((len(theta[other]), 1)), theta[other][:, 1:]])
            y = ratings - mu - theta[other][index[other], 0]
            outer = (x[:, :, None] * x[:, None, :]).reshape(len(x), -1)
            gram = (pattern[side] @ outer).reshape(-1, dim + 1, dim + 1) + lam
            residual = sp.csr_matrix((y, (index[side], index[other])), shape=pattern[side].shape)
            theta[side] = np.linalg.solve(gram, (residual @ x)[..., None])[..., 0]
    return mu, theta["user"], theta["item"]


def _fit(users, items, ratings, num_users, num_items, rating_scale, dim, reg, reg_bias, iters,
         seed) -> Preferences:  # fmt: skip
    mu, user, item = _als(np.asarray(users, np.int64), np.asarray(items, np.int64),
                          np.asarray(ratings, np.float64), num_users, num_items, dim, reg,
                          reg_bias, iters, seed)  # fmt: skip

    def t(x):
        return torch.as_tensor(x, dtype=torch.float32)

    return Preferences(mu, t(user[:, 0]), t(item[:, 0]), t(user[:, 1:]), t(item[:, 1:]),
                       (float(rating_scale[0]), float(rating_scale[1])))  # fmt: skip


def fit_preferences(
    data: Interactions,
    dim: int = 16,
    reg: float = 15.0,
    reg_bias: float = 5.0,
    iters: int = 15,
    seed: int = 0,
    rating_scale: tuple[float, ...] = (1.0, 5.0),
) -> Preferences:
    """Fit the world's rating model on every rating of ``data`` (pass the full data set, not
    the train split: the simulator is the world, not an agent).

    Biased MF by closed-form ALS with a plain L2 penalty (``reg`` on the factors, ``reg_bias``
    on the biases, not scaled by counts). The defaults (16 factors, ``reg=15``,
    ``reg_bias=5``, 15 sweeps) were chosen on a seeded 90/10 holdout of ML-100K, where they
    give RMSE 0.903 against 1.02 for item means; a fit takes about half a second on one core.
    Deterministic for a ``seed`` (which draws the initial factors).
    """
    return _fit(data.users, data.items, data.ratings, data.num_users, data.num_items,
                rating_scale, dim, reg, reg_bias, iters, seed)  # fmt: skip


@dataclass
class RatingTable:
    """Any user model's predicted ratings as one dense table ``[num_users, num_items]``, with
    the interface of ``Preferences`` (``predict``, ``full``, ``to``), so that ``UserSimulator``
    and ``oracle_scorer`` can play a model other than the world's: an agent's own user model,
    learned from the train split, in which it plans (notebook ``5-long-term/2-planning``).

    Dense on purpose: a session reads a few items per user and step, and the table of a model
    that is costly to evaluate is computed once. ``num_users * num_items`` floats: 6 MB on
    ML-100K, 15 GB on ML-20M, where a model's ``predict`` should be used instead.
    """

    ratings: torch.Tensor  # float32 [num_users, num_items], unclipped
    rating_scale: tuple[float, float] = (1.0, 5.0)

    @property
    def num_users(self) -> int:
        return self.ratings.shape[0]

    @property
    def num_items(self) -> int:
        return self.ratings.shape[1]

    @property
    def device(self) -> torch.device:
        return self.ratings.device

    def to(self, device: str | torch.device) -> RatingTable:
        return replace(self, ratings=self.ratings.to(device))

    def predict(self, users, items, clip: bool = True) -> torch.Tensor:
        u = torch.as_tensor(users, dtype=torch.int64, device=self.device)
        i = torch.as_tensor(items, dtype=torch.int64, device=self.device)
        u, i = torch.broadcast_tensors(u, i)
        rating = self.ratings[u, i]
        return rating.clamp(*self.rating_scale) if clip else rating

    def full(self, users, clip: bool = True) -> torch.Tensor:
        rating = self.ratings[torch.as_tensor(users, dtype=torch.int64, device=self.device)]
        return rating.clamp(*self.rating_scale) if clip else rating


def validate_preferences(
    data: Interactions,
    holdout: float = 0.1,
    seed: int = 0,
    rating_scale: tuple[float, ...] = (1.0, 5.0),
    **fit_kwargs,
) -> dict[str, dict[str, float]]:
    """Refit on a seeded ``1 - holdout`` of the ratings and score the rest.

    Returns ``{"MF": {...}, "item mean": {...}, "global mean": {...}}`` with ``RMSE`` and
    ``Spearman`` (rank correlation with the held-out ratings; NaN for the constant global
    mean) and the number of held-out ratings; ``pd.DataFrame(result).T`` prints it. Item
    means come from the refit's ratings (items without one get the global mean); all
    predictions are clipped to the rating scale.
    """
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must lie strictly between 0 and 1, got {holdout}")
    users, items, ratings = data.users, data.items.astype(np.int64), data.ratings.astype(float)
    perm = np.random.default_rng(seed).permutation(len(ratings))
    test, train = perm[: round(holdout * len(ratings))], perm[round(holdout * len(ratings)) :]
    prefs = _fit(users[train], items[train], ratings[train], data.num_users, data.num_items,
                 rating_scale, **{"dim": 16, "reg": 15.0, "reg_bias": 5.0, "iters": 15,
                                  "seed": seed, **fit_kwargs})  # fmt: skip
    truth = ratings[test]
    mu = ratings[train].mean()
    predictions = {
        "MF": prefs.predict(users[test], items[test]).double().numpy(),
        "item mean": item_means(items[train], ratings[train], data.num_items)[items[test]],
        "global mean": np.full(len(test), mu),
    }
    result = {}
    for name, pred in predictions.items():
        result[name] = {**rating_accuracy(pred, truth, rating_scale),
                        "held-out ratings": float(len(test))}  # fmt: skip
    return result


def item_means(items: np.ndarray, ratings: np.ndarray, num_items: int) -> np.ndarray:
    """Each item's mean rating, the global mean for items without one: ``[num_items]``."""
    sums = np.bincount(items, ratings, minlength=num_items)
    counts = np.bincount(items, minlength=num_items)
    return np.where(counts > 0, sums / np.maximum(counts, 1), float(np.mean(ratings)))


def rating_accuracy(predicted, truth, rating_scale: tuple[float, ...]) -> dict[str, float]:
    """``RMSE`` and ``Spearman`` (NaN for a constant prediction) of predictions clipped to the
    rating scale against the true ratings; used by both long-term notebooks."""
    predicted = np.clip(np.asarray(predicted, dtype=np.float64), rating_scale[0], rating_scale[1])
    truth = np.asarray(truth, dtype=np.float64)
    spearman = np.nan if np.ptp(predicted) == 0 else stats.spearmanr(predicted, truth)[0]
    return {"RMSE": float(np.sqrt(np.mean((predicted - truth) ** 2))), "Spearman": float(spearman)}


def predicted_vs_logged(prefs: Preferences, data: Interactions) -> pd.DataFrame:
    """Predicted ratings of the logged (user, item) pairs grouped by the logged rating, then
    all logged pairs, then every pair not in the log (which the simulator mostly serves).

    Columns: ``count``, ``mean predicted``, ``std predicted``, ``mean logged``. A world model
    fitted on the log regresses towards the mean (low ratings predicted too high, high ones too
    low); the unlogged row shows how it rates what users never chose to watch.
    """
    users, items = data.users, data.items.astype(np.int64)
    pred = prefs.to("cpu").predict(users, items).double().numpy()
    logged = data.ratings.astype(np.float64)
    frame = pd.DataFrame({"logged": logged, "pred": pred})
    rows = {}
    for value, group in frame.groupby("logged"):
        rows[f"{value:g}"] = (len(group), group.pred.mean(), group.pred.std(), value)
    rows["all logged"] = (len(frame), pred.mean(), pred.std(), logged.mean())
    # Every unlogged cell, user by user (one [num_items] row at a time keeps memory small).
    total, total_sq, n = 0.0, 0.0, 0
    full = prefs.to("cpu")
    for start in range(0, data.num_users, 256):
        block = np.arange(start, min(start + 256, data.num_users))
        scores = full.full(block).double().numpy()
        seen = np.zeros_like(scores, dtype=bool)
        lo, hi = data.offsets[block[0]], data.offsets[block[-1] + 1]
        seen[users[lo:hi] - start, items[lo:hi]] = True
        rest = scores[~seen]
        total, total_sq, n = total + rest.sum(), total_sq + (rest**2).sum(), n + len(rest)
    mean = total / max(n, 1)
    std = math.sqrt(max(total_sq / max(n - 1, 1) - mean**2 * n / max(n - 1, 1), 0.0))
    rows["not logged"] = (n, mean, std, np.nan)
    table = pd.DataFrame.from_dict(
        rows, orient="index", columns=["count", "mean predicted", "std predicted", "mean logged"]
    )
    table["count"] = table["count"].astype(np.int64)
    return table


# --------------------------------------------------------------------------- leaving rule


def decayed_mean(values: torch.Tensor, mask: torch.Tensor, decay: float) -> torch.Tensor:
    """``x <- decay * x + (1 - decay) * v`` run from zero over right-aligned ``values
    [B, L, ...]`` (``mask [B, L]`` marks real steps), in closed form: weights
    ``(1 - decay) * decay ** age``."""
    age = torch.arange(values.shape[1] - 1, -1, -1, device=values.device, dtype=torch.float32)
    weight = (1 - decay) * decay**age * mask
    return (weight.view(*weight.shape, *[1] * (values.dim() - 2)) * values).sum(1)


@dataclass
class LeavingRule:
    """How satiation and poor ratings lower enjoyment and make users leave (module docstring).

    The leaving probability per step is ``sigmoid(slope * (boredom - threshold))`` with
    ``boredom = max_g s_g + poor_weight * poor``; ``threshold = inf`` means never leaving.
    """

    decay: float = 0.9
    """Satiation kept per step (``s <- decay * s + (1 - decay) * g / |g|``); memory ~1/(1-decay)."""
    penalty: float = 0.0
    """Stars taken off a rating per unit of the item's mean genre satiation ``(s . g) / |g|``."""
    threshold: float = math.inf
    """Boredom at which the leaving probability is 1/2 (``inf``: never leave)."""
    slope: float = 10.0
    """Steepness of the leaving probability in boredom."""
    poor_rating: float = 3.0
    """Simulated ratings below this (on the data set's scale) count as poor."""
    poor_decay: float = 0.8
    """Share of the running mean of poor ratings kept per step."""
    poor_weight: float = 0.5
    """Weight of the running mean of poor ratings in boredom."""

    @classmethod
    def preset(cls, name: str) -> LeavingRule:
        """``"none"`` (never leaves, no penalty), ``"mild"`` or ``"strong"``.

        Calibrated on ML-100K (k = 1, 30 steps) so that greedy top-predicted recommendation
        keeps users about 21 of 30 steps under ``mild`` and 10 under ``strong``, while
        ``oracle_scorer(env, satiation_weight=4)`` keeps them about 27 and 19 and earns 27% and
        110% more; without the rule greedy earns most.
        """
        presets = {
            "none": cls(),
            "mild": cls(penalty=1.0, threshold=0.7, slope=12.0),
            "strong": cls(penalty=2.0, threshold=0.55, slope=12.0),
        }
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}: use one of {sorted(presets)}")
        return presets[name]

    @property
    def leaves(self) -> bool:
        return math.isfinite(self.threshold)

    def leave_probability(self, boredom: torch.Tensor) -> torch.Tensor:
        if not self.leaves:
            return torch.zeros_like(boredom)
        return torch.sigmoid(self.slope * (boredom - self.threshold))

    def boredom(self, satiation: torch.Tensor, poor: torch.Tensor) -> torch.Tensor:
        """``max_g s_g + poor_weight * poor`` over the last axis of ``satiation``."""
        return satiation.amax(-1) + self.poor_weight * poor

    def state(
        self, history: History, genre_share: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(satiation [B, G], poor [B])`` recomputed from the visible ``history`` as the rule
        defines them (what a policy that knows the rule can know; the simulator starts them
        from up to 100 logged items, so a shorter history misses a share ``decay ** width``).
        ``genre_share`` is ``g / |g|`` per item (``UserSimulator.genre_share``)."""
        satiation = decayed_mean(genre_share[history.items], history.mask, self.decay)
        poor = decayed_mean((history.ratings < self.poor_rating).float(), history.mask,
                            self.poor_decay)  # fmt: skip
        return satiation, poor


# --------------------------------------------------------------------------- simulator


def _rows(history: History, rows: torch.Tensor) -> History:
    return History(history.users[rows], history.items[rows], history.ratings[rows],
                   history.lengths[rows], history.mask[rows])  # fmt: skip


class UserSimulator(gym.Env):
    """Sessions of many users at once, in Gymnasium's vocabulary, on one torch device.

    ``obs, info = env.reset(seed=0)``; then ``obs, reward, terminated, truncated, info =
    env.step(action)`` until ``env.done.all()``; ``action = env.recommend(score_fn)`` scores
    with any ``evaluation.ScoreFn``, masks seen items and takes the top ``k``.

    - ``obs`` is an ``evaluation.History`` of the current histories (right-aligned, the most
      recent item last, ratings on the data set's scale; simulated ratings are continuous),
      so ``score_fn(obs.users, obs)`` works as in ``evaluate``. Its width is fixed for a
      session: the longest start history plus ``max_steps`` (or ``max_history``).
    - ``action``: LongTensor ``[B, k]`` (``[B]`` when ``k = 1``) of item indices. For users
      still in session an item outside the catalogue, one already seen (in the start history
      or this session) or one repeated in the row raises ``ValueError``; rows of finished
      users are ignored (``recommend`` fills them with -1).
    - Choice (``k > 1``): the user takes item ``j`` of the list with probability
      ``softmax(utility / choice_temperature)``, ``utility`` the satiation-lowered predicted
      rating (a multinomial logit; ``choice_temperature = 0`` takes the best). Items shown but
      not taken stay recommendable.
    - ``reward`` ``[B]``: the centred simulated rating for users who took this step, 0 for
      finished users. ``terminated`` / ``truncated`` ``[B]`` bool stay True once set
      (leaving / reaching ``max_steps``); ``info["active"]`` marks who took this step.
    - Randomness (rating noise, choice, leaving) comes from a ``torch.Generator`` on the env's
      device, reseeded by ``reset(seed=...)``; the draws have the same shapes whatever the
      policy, so two policies run with one seed share their noise (common random numbers).
    - Order within a step: choice, rating, the item joins the history, satiation and the
      poor-rating average update, then the leaving draw (the reward of the last step counts).
      Satiation is tracked under every rule (``oracle_scorer`` reads it), even ``none``.
    - ``observation_space`` describes the fields of the ``History`` (fixed shapes);
      ``action_space`` the ``[B, k]`` item indices.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        preferences: Preferences | RatingTable,
        genres: np.ndarray | torch.Tensor,
        start: Interactions,
        users: np.ndarray | None = None,
        rule: LeavingRule | None = None,
        k: int = 1,
        max_steps: int = 30,
        noise_std: float = 0.5,
        choice_temperature: float = 0.5,
        max_history: int | None = None,
        device: str | torch.device | None = None,
    ):
        """``preferences`` from ``fit_preferences`` (or any model as a ``RatingTable``);
        ``genres`` the 0/1 item genres ``[num_items, num_genres]``
        (``embeddings.genre_matrix(ml.items)[0]``); ``start`` the histories sessions continue
        (``split.history("test")``); ``users`` the user indices to simulate (default: all);
        ``noise_std`` the rating noise in stars; ``max_history`` cuts the history the policy
        reads (the seen-item mask always uses all of it). The device defaults to that of
        ``genres`` when it is a tensor, else ``default_device()``.
        """
        if device is None:
            device = genres.device if isinstance(genres, torch.Tensor) else default_device()
        self.device = torch.device(device)
        if start.num_users != preferences.num_users or start.num_items != preferences.num_items:
            raise ValueError(
                f"start histories have {start.num_users} users and {start.num_items} items but "
                f"the preferences {preferences.num_users} and {preferences.num_items}: fit the "
                "preferences on the full data set the start histories come from"
            )
        if not isinstance(genres, torch.Tensor):
            genres = torch.tensor(np.asarray(genres), dtype=torch.float32)
        genres = genres.to(device=self.device, dtype=torch.float32)
        if genres.shape[0] != start.num_items:
            raise ValueError(
                f"genres has {genres.shape[0]} rows but the data has {start.num_items} items: "
                "build it from this data set's catalogue (embeddings.genre_matrix(ml.items))"
            )
        users = np.arange(start.num_users) if users is None else np.asarray(users, np.int64)
        if len(np.unique(users)) != len(users) or len(users) == 0:
            raise ValueError("users must be a non-empty array of distinct user indices")
        if k < 1 or max_steps < 1:
            raise ValueError(
                f"k and max_steps must be at least 1, got k={k}, max_steps={max_steps}"
            )
        self.preferences = preferences.to(self.device)
        self.rule = rule if rule is not None else LeavingRule()
        self.k, self.max_steps = k, max_steps
        self.noise_std, self.choice_temperature = noise_std, choice_temperature
        self.rating_scale = preferences.rating_scale
        self.num_items, self.num_genres = start.num_items, genres.shape[1]
        # Each item's genres as shares summing to 1 (g / |g|; zero for an item without genres).
        self.genre_share = genres / genres.sum(1, keepdim=True).clamp(min=1)
        self.start = start.subset(users)
        self.users = torch.as_tensor(users, device=self.device)
        self.num_envs = len(users)
        self._row_of_user = torch.full((start.num_users,), -1, dtype=torch.int64,
                                       device=self.device)  # fmt: skip
        self._row_of_user[self.users] = torch.arange(self.num_envs, device=self.device)
        longest = max(int(self.start.lengths.max(initial=0)), 1)
        self._start_width = longest if max_history is None else max_history
        self.width = longest + max_steps if max_history is None else max_history
        self.action_space = gym.spaces.MultiDiscrete(np.full((self.num_envs, k), self.num_items))
        b, w = self.num_envs, self.width
        self.observation_space = gym.spaces.Dict({
            "users": gym.spaces.MultiDiscrete(np.full(b, start.num_users)),
            "items": gym.spaces.MultiDiscrete(np.full((b, w), self.num_items)),
            "ratings": gym.spaces.Box(min(0.0, self.rating_scale[0]), self.rating_scale[1], (b, w)),
            "lengths": gym.spaces.Box(0, w, (b,), dtype=np.int64),
            "mask": gym.spaces.MultiBinary((b, w)),
        })  # fmt: skip
        self.generator: torch.Generator | None = None

    # ----------------------------------------------------------------- state

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start every user's session from their logged history; returns ``(obs, info)``."""
        super().reset(seed=seed)
        if seed is None and self.generator is None:
            seed = int(self.np_random.integers(2**62))
        if seed is not None:
            self.generator = torch.Generator(device=self.device).manual_seed(seed)
        rows = np.arange(self.num_envs)
        h = history_batch(self.start, rows, self._start_width, device=self.device)
        pad = self.width - h.items.shape[1]
        self.items = torch.nn.functional.pad(h.items, (pad, 0))
        self.ratings = torch.nn.functional.pad(h.ratings, (pad, 0))
        self.lengths = h.lengths.clone()
        self.seen = torch.zeros(self.num_envs, self.num_items, dtype=torch.bool, device=self.device)
        flat_rows = torch.as_tensor(np.repeat(rows, self.start.lengths), device=self.device)
        flat_items = torch.as_tensor(self.start.items.astype(np.int64), device=self.device)
        self.seen[flat_rows, flat_items] = True
        # Satiation and the poor-rating average start from the log (~ all weight in 100 items).
        rule = self.rule
        recent = history_batch(self.start, rows, 100, device=self.device)
        self.satiation = decayed_mean(self.genre_share[recent.items], recent.mask, rule.decay)
        poor = (recent.ratings < rule.poor_rating).float()
        self.poor = decayed_mean(poor, recent.mask, rule.poor_decay)
        self.session_items = torch.full((self.num_envs, self.max_steps), -1, dtype=torch.int64,
                                        device=self.device)  # fmt: skip
        self.session_ratings = torch.zeros(self.num_envs, self.max_steps, device=self.device)
        self.recommended = torch.zeros(self.num_items, dtype=torch.bool, device=self.device)
        self.returns = torch.zeros(self.num_envs, device=self.device)
        self.steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self.terminated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        self.truncated = torch.zeros_like(self.terminated)
        return self.observation(), {"active": ~self.done}

    @property
    def done(self) -> torch.Tensor:
        """Users whose session has ended (left or truncated), bool ``[B]``."""
        return self.terminated | self.truncated

    def observation(self) -> History:
        col = torch.arange(self.width, device=self.device)
        mask = col >= self.width - self.lengths.unsqueeze(1)
        return History(self.users, self.items, self.ratings, self.lengths, mask)

    # ----------------------------------------------------------------- acting

    @torch.no_grad()
    def recommend(self, score_fn: ScoreFn, obs: History | None = None) -> torch.Tensor:
        """The top ``k`` unseen items by ``score_fn`` for the users still in session (their
        rows of ``obs``, the current observation by default); -1 in finished users' rows."""
        obs = self.observation() if obs is None else obs
        rows = (~self.done).nonzero().squeeze(1)
        action = torch.full((self.num_envs, self.k), -1, dtype=torch.int64, device=self.device)
        if len(rows) == 0:
            return action
        everyone = len(rows) == self.num_envs
        sub = obs if everyone else _rows(obs, rows)
        scores = torch.as_tensor(score_fn(sub.users, sub), device=self.device).float()
        if scores.shape != (len(rows), self.num_items):
            raise ValueError(
                f"score_fn returned shape {tuple(scores.shape)}, expected ({len(rows)}, "
                f"{self.num_items}): one score per item of the catalogue per user"
            )
        # One reduction rules NaN out: a NaN anywhere makes the sum NaN (so may inf - inf).
        if torch.isnan(scores.sum()) and torch.isnan(scores).any():
            bad = int(torch.isnan(scores).any(1).nonzero()[0])
            raise ValueError(f"score_fn returned NaN scores (first for user {int(sub.users[bad])})")
        # NB: -inf from the scorer becomes the lowest finite score, so seen items rank last.
        scores = scores.clamp(min=torch.finfo(torch.float32).min)
        scores.masked_fill_(self.seen if everyone else self.seen[rows], -math.inf)
        action[rows] = scores.topk(self.k, dim=1).indices
        return action

    def _check_action(self, action: torch.Tensor, active: torch.Tensor) -> None:
        def fail(bad: torch.Tensor, what: str):
            row = int(bad.any(1).nonzero()[0])
            item = int(action[row][bad[row]][0])
            raise ValueError(
                f"action row {row} (user {int(self.users[row])}) holds item {item}, {what}. "
                "Recommend with env.recommend(score_fn), which masks seen items."
            )

        if action.shape != (self.num_envs, self.k):
            raise ValueError(
                f"action has shape {tuple(action.shape)}, expected ({self.num_envs}, {self.k}): "
                "k item indices per simulated user"
            )
        live = active.unsqueeze(1)
        outside = live & ((action < 0) | (action >= self.num_items))
        if outside.any():
            fail(outside, f"outside the catalogue 0..{self.num_items - 1}")
        seen = live & self.seen.gather(1, action.clamp(0, self.num_items - 1))
        if seen.any():
            fail(seen, "which the user has already seen (start history or this session)")
        ordered = action.sort(1).values
        repeated = live & (ordered[:, 1:] == ordered[:, :-1])
        if repeated.any():
            fail(torch.nn.functional.pad(repeated, (1, 0)), "twice in one list")

    def utility(self, items: torch.Tensor) -> torch.Tensor:
        """Expected rating of ``items [B, n]`` for each simulated user now: the predicted
        rating lowered by ``penalty * (s . g) / |g|`` (before noise and clipping)."""
        predicted = self.preferences.predict(self.users.unsqueeze(1), items)
        satiation = (self.genre_share[items] * self.satiation.unsqueeze(1)).sum(-1)
        return predicted - self.rule.penalty * satiation

    def step(self, action):
        """One recommendation for every user still in session (see the class docstring)."""
        if self.generator is None:
            raise RuntimeError("call env.reset(seed=...) before env.step")
        active = ~self.done
        if not active.any():
            raise RuntimeError("every session has ended: call env.reset(seed=...) again")
        action = torch.as_tensor(action, dtype=torch.int64, device=self.device)
        if action.dim() == 1:
            action = action.unsqueeze(1)
        self._check_action(action, active)
        rule, gen, b = self.rule, self.generator, self.num_envs
        # Fixed-shape draws whatever the policy: noise, choice, leaving.
        noise = torch.randn(b, generator=gen, device=self.device)
        gumbel = -torch.log(-torch.log(torch.rand(b, self.k, generator=gen, device=self.device)
                                       .clamp(1e-12, 1 - 1e-7)))  # fmt: skip
        uniform = torch.rand(b, generator=gen, device=self.device)

        shown = action.clamp(0, self.num_items - 1)
        utility = self.utility(shown)
        if self.k == 1 or self.choice_temperature == 0:
            pick = utility.argmax(1)
        else:
            pick = (utility / self.choice_temperature + gumbel).argmax(1)
        item = shown.gather(1, pick.unsqueeze(1)).squeeze(1)
        low, high = self.rating_scale
        rating = utility.gather(1, pick.unsqueeze(1)).squeeze(1) + self.noise_std * noise
        rating = rating.clamp(low, high)
        reward = torch.where(active, centred_rating(rating, self.rating_scale), 0.0)

        # The item joins the history of active users (rows shift left by one column).
        live = active.unsqueeze(1)
        rows = active.nonzero().squeeze(1)
        # NB: out of place, so that observations handed out earlier stay as they were.
        self.items = self.items.index_put(
            (rows,), torch.cat([self.items[rows, 1:], item[rows, None]], 1)
        )
        self.ratings = self.ratings.index_put(
            (rows,), torch.cat([self.ratings[rows, 1:], rating[rows, None]], 1)
        )
        self.lengths = torch.where(active, (self.lengths + 1).clamp(max=self.width), self.lengths)
        self.seen[rows, item[rows]] = True
        self.recommended[action[rows].flatten()] = True
        t = self.steps.clamp(max=self.max_steps - 1)
        self.session_items[rows, t[rows]] = item[rows]
        self.session_ratings[rows, t[rows]] = rating[rows]
        satiation = rule.decay * self.satiation + (1 - rule.decay) * self.genre_share[item]
        self.satiation = torch.where(live, satiation, self.satiation)
        poor = rule.poor_decay * self.poor + (1 - rule.poor_decay) * (rating < rule.poor_rating)
        self.poor = torch.where(active, poor, self.poor)
        self.returns += reward
        self.steps += active

        boredom = self.satiation.max(1).values + rule.poor_weight * self.poor
        leave_probability = rule.leave_probability(boredom)
        leave = active & (uniform < leave_probability)
        self.terminated |= leave
        self.truncated |= active & ~leave & (self.steps >= self.max_steps)
        info = {
            "active": active,
            "item": torch.where(active, item, -1),
            "rating": torch.where(active, rating, math.nan),
            "leave_probability": torch.where(active, leave_probability, 0.0),
            "boredom": boredom,
        }
        return self.observation(), reward, self.terminated.clone(), self.truncated.clone(), info

    # ----------------------------------------------------------------- results

    def session_metrics(self) -> dict[str, torch.Tensor | float]:
        """Per-session figures of the sessions so far: ``return``, ``length``, ``left``,
        ``genres`` (distinct genres consumed), ``diversity`` (1 - Herfindahl index of the
        session's genre shares), and the catalogue ``coverage`` of all recommended items."""
        consumed = self.session_items >= 0
        share = self.genre_share[self.session_items.clamp(min=0)] * consumed.unsqueeze(-1)
        mass = share.sum(1)
        p = mass / mass.sum(1, keepdim=True).clamp(min=1e-12)
        return {
            "return": self.returns.clone(),
            "length": self.steps.clone(),
            "left": self.terminated.clone(),
            "genres": (mass > 0).sum(1),
            "diversity": 1 - (p**2).sum(1),
            "coverage": float(self.recommended.float().mean()),
        }


def oracle_scorer(env: UserSimulator, satiation_weight: float = 0.0) -> ScoreFn:
    """A policy that reads the world: the predicted rating minus ``satiation_weight`` stars
    per unit of the item's mean genre satiation (the env's own state).

    ``satiation_weight = 0`` is greedy on the world model (blind to boredom);
    ``= env.rule.penalty`` is greedy on the expected reward of this step; larger values avoid
    satiated genres beyond what this step costs, so they plan for later steps. An upper
    reference, not an agent: no agent sees the world model or the satiation.
    """
    prefs, share = env.preferences, env.genre_share

    def score(users: torch.Tensor, history: History) -> torch.Tensor:
        users = users.to(env.device)
        satiation = env.satiation[env._row_of_user[users]]
        return prefs.full(users) - satiation_weight * (satiation @ share.T)

    return score


# --------------------------------------------------------------------------- re-rankers


def unseen_candidates(base: ScoreFn, history: History, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n`` best unseen items of a base scorer ``[B, n]``, and their relevance min-max
    scaled to [0, 1] over the list."""
    scores = torch.as_tensor(base(history.users, history)).float().clone()
    items = history.items.to(scores.device)
    rows = torch.arange(len(scores), device=scores.device).unsqueeze(1).expand_as(items)
    mask = history.mask.to(scores.device)
    scores[rows[mask], items[mask]] = -math.inf
    top = scores.topk(n, dim=1)
    low, high = top.values[:, -1:], top.values[:, :1]
    return top.indices, (top.values - low) / (high - low).clamp(min=1e-12)


def rerank(base: ScoreFn, adjust, num_items: int, candidates: int = 100) -> ScoreFn:
    """A scorer that reorders the ``candidates`` best unseen items of ``base``: they score
    ``adjust(items, relevance, history)`` (``[B, n]`` each), every other item -3, below any
    candidate whose adjusted score stays above it."""

    def score(users: torch.Tensor, history: History) -> torch.Tensor:
        items, relevance = unseen_candidates(base, history, candidates)
        scores = torch.full((len(users), num_items), -3.0, device=items.device)
        return scores.scatter_(1, items, adjust(items, relevance, history))

    return score


def mmr_scorer(base: ScoreFn, genres: torch.Tensor, weight: float, candidates: int = 100,
               window: int = 10) -> ScoreFn:  # fmt: skip
    """Maximal marginal relevance on genres (Carbonell and Goldstein, 1998), re-ranking the
    ``candidates`` best unseen items of ``base``: ``(1 - weight) * rel_i - weight * max_j
    cos(g_i, g_j)`` over the last ``window`` items of the history; ``weight = 0`` is the
    greedy list. Used by both long-term notebooks."""
    genre_unit = torch.nn.functional.normalize(torch.as_tensor(genres).float(), dim=1)

    def adjust(items, relevance, history):
        last = history.last(window)
        unit = genre_unit.to(items.device)
        similarity = unit[items] @ unit[last.items.to(items.device)].transpose(1, 2)  # [B, n, w]
        mask = last.mask.to(items.device).unsqueeze(1)
        redundancy = similarity.masked_fill(~mask, 0.0).amax(2)
        return (1 - weight) * relevance - weight * redundancy

    return rerank(base, adjust, len(genre_unit), candidates)


# --------------------------------------------------------------------------- runs


def split_users(num_users: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded halves of the user indices: ``(selection, report)``, each sorted (the report
    half gets the odd user). Choose hyperparameters on one half, report on the other."""
    perm = np.random.default_rng(seed).permutation(num_users)
    half = num_users // 2
    return np.sort(perm[:half]), np.sort(perm[half:])


METRICS = ("return", "length", "reward per step", "coverage", "genres", "diversity", "left")


def run_sessions(
    env: UserSimulator, score_fn: ScoreFn, seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
) -> dict[str, np.ndarray]:
    """Play every user's session once per simulator seed with ``env.recommend(score_fn)``.

    Returns per-seed arrays: ``return`` (mean cumulative reward per session), ``length``
    (mean steps), ``reward per step`` (total reward / total steps), ``coverage`` (share of
    the catalogue recommended), ``genres`` (mean distinct genres per session), ``diversity``
    (mean 1 - Herfindahl of a session's genre shares), ``left`` (share of sessions ended by
    leaving), ``seconds`` (wall time), and ``seeds``.
    """
    rows = {name: [] for name in (*METRICS, "seconds")}
    for seed in seeds:
        start = time.perf_counter()
        env.reset(seed=seed)
        while not env.done.all():
            env.step(env.recommend(score_fn))
        m = env.session_metrics()
        rows["return"].append(m["return"].mean().item())
        rows["length"].append(m["length"].float().mean().item())
        rows["reward per step"].append((m["return"].sum() / m["length"].sum()).item())
        rows["coverage"].append(m["coverage"])
        rows["genres"].append(m["genres"].float().mean().item())
        rows["diversity"].append(m["diversity"].mean().item())
        rows["left"].append(m["left"].float().mean().item())
        rows["seconds"].append(time.perf_counter() - start)
    return {"seeds": np.asarray(seeds), **{k: np.asarray(v) for k, v in rows.items()}}


def summarise(
    results: Mapping[str, Mapping[str, np.ndarray]] | Mapping[str, np.ndarray],
    metrics: tuple[str, ...] = METRICS,
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean and t-interval over seeds of ``run_sessions`` results: one result, or a mapping
    ``{policy: result}``. Rows (policy, metric), columns ``mean``, ``low``, ``high``;
    ``.unstack()`` puts the metrics side by side."""
    if "return" in results:
        results = {"policy": results}
    rows = {}
    for policy, result in results.items():
        for metric in metrics:
            values = np.asarray(result[metric], dtype=np.float64)
            interval = t_interval(values, level, bounds=(-math.inf, math.inf)) or (np.nan, np.nan)
            rows[(policy, metric)] = (values.mean(), *interval)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "low", "high"])
    table.index = pd.MultiIndex.from_tuples(table.index, names=["policy", "metric"])
    return table


def pool_training_seeds(results: Mapping[int, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``run_sessions`` results of one agent, one per training seed, as one result.

    The arrays are concatenated (one entry per training seed and simulator seed), ``seeds``
    keeps the simulator seed of each entry and ``training_seeds`` its training seed, so that
    ``summarise``'s interval spans both sources of variation and ``paired_difference`` pairs
    each entry with a baseline played under the same simulator seed.
    """
    if not results:
        raise ValueError("no training seed to pool: results is empty")
    first = next(iter(results.values()))
    pooled = {key: np.concatenate([np.asarray(r[key]) for r in results.values()]) for key in first}
    pooled["training_seeds"] = np.concatenate(
        [np.full(len(r["seeds"]), seed) for seed, r in results.items()]
    )
    return pooled


def paired_difference(
    result: Mapping[str, np.ndarray], baseline: Mapping[str, np.ndarray], metric: str = "return"
) -> np.ndarray:
    """``result[metric]`` minus ``baseline[metric]`` under the same simulator seed, entry by
    entry (a pooled result has one entry per training seed and simulator seed; a pooled
    baseline is first averaged over its training seeds). Two policies played with one seed
    share the rating noise and leaving draws, so the difference is free of them."""
    base_seeds = np.asarray(baseline["seeds"]).astype(int)
    base_values = np.asarray(baseline[metric], dtype=float)
    at = {s: base_values[base_seeds == s].mean() for s in np.unique(base_seeds)}
    seeds = np.asarray(result["seeds"]).astype(int)
    missing = sorted(set(seeds.tolist()) - set(at))
    if missing:
        raise ValueError(f"the baseline was not played with simulator seeds {missing}")
    return np.asarray(result[metric], dtype=float) - np.array([at[s] for s in seeds])
