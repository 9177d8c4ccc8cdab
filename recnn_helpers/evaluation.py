"""The evaluation protocol of ``PROTOCOL.md`` and the baselines every notebook shows.

``evaluate(score_fn, split, phase)`` ranks the whole catalogue for every user: the user's
history is masked out, the target's rank counts every unmasked item scoring greater than or
equal to it (ties count against the model, so a constant scorer gets 0), and the metrics are
averaged over all users. Used by every notebook.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import stats

from . import _validate, positive_int_from_env
from .data import Interactions, LeaveOneOut

KS = (10, 20)


@dataclass
class History:
    """A batch of users' histories, right-aligned: the most recent item is in the last column.

    Columns before a user's first item are padding (item 0, rating 0, ``mask`` False).
    """

    users: torch.Tensor  # int64 [B] user indices
    items: torch.Tensor  # int64 [B, L]
    ratings: torch.Tensor  # float32 [B, L]
    lengths: torch.Tensor  # int64 [B]
    mask: torch.Tensor  # bool [B, L], True on real interactions

    def last(self, n: int) -> History:
        """The last ``n`` columns (for agents that read a fixed frame)."""
        n = min(n, self.items.shape[1])
        return History(self.users, self.items[:, -n:], self.ratings[:, -n:],
                       self.lengths.clamp(max=n), self.mask[:, -n:])  # fmt: skip


ScoreFn = Callable[[torch.Tensor, History], "torch.Tensor | np.ndarray"]


def default_device() -> torch.device:
    """CUDA when available, else the CPU: where environments and the evaluator put their
    tensors unless told otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _follow_device(table: torch.Tensor) -> Callable[[torch.device], torch.Tensor]:
    """``table`` on the device asked for, copied once per device (scorers follow the device
    of the histories they are given, whatever device the table was built on)."""
    copies = {table.device: table}

    def on(device: torch.device) -> torch.Tensor:
        if device not in copies:
            copies[device] = table.to(device)
        return copies[device]

    return on


def history_batch(
    data: Interactions, users: np.ndarray, max_len: int | None = None, device="cpu"
) -> History:
    """Right-aligned padded histories of ``users`` (the last ``max_len`` items when given)."""
    max_len = _validate.optional_positive_int("max_len", max_len)
    users = np.asarray(users, dtype=np.int64)
    lengths = data.lengths[users]
    if max_len is not None:
        lengths = np.minimum(lengths, max_len)
    width = max(int(lengths.max(initial=0)), 1)
    col = np.arange(width)
    mask = col[None, :] >= (width - lengths)[:, None]
    # Only the real cells are gathered (one user's long history must not cost B * width):
    # the j-th of row r's lengths[r] items is data position end_u - lengths[r] + j, and goes
    # to column width - lengths[r] + j.
    before = np.cumsum(lengths) - lengths  # cells of the rows above
    j = np.arange(int(lengths.sum())) - np.repeat(before, lengths)
    src = np.repeat(data.offsets[users + 1] - lengths, lengths) + j
    rows, cols = np.repeat(np.arange(len(users)), lengths), np.repeat(width - lengths, lengths) + j
    items = np.zeros((len(users), width), dtype=np.int64)
    items[rows, cols] = data.items[src]
    ratings = np.zeros((len(users), width), dtype=np.float32)
    ratings[rows, cols] = data.ratings[src]

    def t(x, dtype):
        return torch.as_tensor(x, dtype=dtype, device=device)

    return History(t(users, torch.int64), t(items, torch.int64), t(ratings, torch.float32),
                   t(lengths, torch.int64), t(mask, torch.bool))  # fmt: skip


def _ranks_and_topk(
    scores: torch.Tensor, targets: torch.Tensor, hist_rows, hist_cols, k: int, out=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pessimistic 1-based rank of each target among unmasked items, and the top-k lists.

    ``out`` (optional, the shape of ``scores``) is scratch space for the masked scores, so
    that a loop over batches reuses one buffer instead of allocating one per batch.
    """
    masked = torch.zeros_like(scores, dtype=torch.bool)
    masked[hist_rows, hist_cols] = True
    rows = torch.arange(len(targets), device=scores.device)
    masked[rows, targets] = False  # a re-consumed target stays rankable
    target_score = scores[rows, targets]
    minus_inf = torch.tensor(-math.inf, dtype=scores.dtype, device=scores.device)
    filled = torch.where(masked, minus_inf, scores, out=out)
    # Count unmasked items scoring >= the target. Masked items hold -inf in ``filled``, so
    # they count only against a -inf target: those rows give them back. (int32: a bool sum
    # in the default int64 is an order of magnitude slower on CPU.)
    ranks = (filled >= target_score[:, None]).sum(1, dtype=torch.int32)
    at_minus_inf = target_score == -math.inf
    if at_minus_inf.any():
        ranks -= torch.where(at_minus_inf, masked.sum(1, dtype=torch.int32), 0)
    ranks = ranks.long()
    top = filled.topk(min(k, scores.shape[1]), dim=1)
    # A user with fewer than k unmasked items gets a shorter list: -1 marks the empty slots.
    return ranks, torch.where(torch.isfinite(top.values), top.indices, -1)


@torch.no_grad()
def evaluate(
    score_fn: ScoreFn,
    split: LeaveOneOut,
    phase: str = "valid",
    batch_size: int = 256,
    max_history: int | None = None,
    item_embeddings: torch.Tensor | np.ndarray | None = None,
    device: str | torch.device | None = None,
    return_ranks: bool = False,
    users: np.ndarray | None = None,
) -> dict[str, float]:
    """Score every item for every user and return the protocol metrics.

    ``users`` (sorted user indices) restricts the pass to them. By default the test phase
    reads every user and the validation phase the fixed sample ``validation_users`` (every
    user up to ``VALIDATION_USERS``, so all of ML-100K and ML-1M): model selection at
    ML-20M's size then costs 10,000 users a pass, the same users for every model and seed.

    ``score_fn(users, history)`` returns scores ``[B, num_items]`` (higher is better);
    ``history`` is what the phase allows (train for ``"valid"``, train + validation for
    ``"test"``), truncated to the last ``max_history`` items when given (the mask always uses
    the whole history). Returns ``HR@k``, ``NDCG@k``, ``MRR@k`` for k in 10, 20, and for the
    top-10 lists ``coverage@10``, ``novelty@10`` and, given ``item_embeddings``,
    ``diversity@10`` (mean pairwise cosine distance). With ``return_ranks`` the per-user
    ranks come back under ``"ranks"`` (for intervals).
    """
    batch_size = _validate.positive_int("batch_size", batch_size)
    max_history = _validate.optional_positive_int("max_history", max_history)
    if item_embeddings is not None:
        item_embeddings = _validate.finite_table(
            "item_embeddings", item_embeddings, split.num_items
        )
    if not split.num_users:
        raise ValueError("the split has no users: nothing to evaluate; check the ratings loaded")
    device = default_device() if device is None else torch.device(device)
    history = split.history(phase)
    targets_all = split.target(phase)
    if users is not None:
        order = _user_indices(users, split.num_users)
    else:
        order = (
            validation_users(split.num_users) if phase == "valid" else np.arange(split.num_users)
        )
    num_items = split.num_items
    counts = split.train.item_counts()
    # Novelty: -log2 of the share of users who rated the item in train (floored at one user).
    self_information = -np.log2(np.maximum(counts, 1) / split.num_users)
    self_information = torch.as_tensor(self_information, dtype=torch.float32, device=device)
    if item_embeddings is not None:
        unit = torch.nn.functional.normalize(torch.as_tensor(item_embeddings).float(), dim=1)
        unit = unit.to(device)

    ranks_all, novelty, diversity, recommended = [], [], [], []
    kmax = max(KS)
    scratch = torch.empty(min(batch_size, len(order)), num_items, device=device)
    for start in range(0, len(order), batch_size):
        users = order[start : start + batch_size]
        batch = history_batch(history, users, max_history, device)
        scores = torch.as_tensor(score_fn(batch.users, batch), device=device).float()
        if scores.shape != (len(users), num_items):
            raise ValueError(
                f"score_fn returned shape {tuple(scores.shape)}, expected "
                f"({len(users)}, {num_items}): one score per item of the catalogue per user"
            )
        # One reduction rules NaN out: a NaN anywhere makes the sum NaN (so may inf - inf).
        if torch.isnan(scores.sum()) and torch.isnan(scores).any():
            bad = int(torch.isnan(scores).any(1).nonzero()[0])
            raise ValueError(f"score_fn returned NaN scores (first for user index {users[bad]})")
        lengths = history.lengths[users]
        rows = torch.as_tensor(np.repeat(np.arange(len(users)), lengths))
        cols = torch.as_tensor(history.items[history.positions(users)])
        targets = torch.as_tensor(targets_all[users], device=device)
        ranks, top = _ranks_and_topk(scores, targets, rows.to(device), cols.to(device), kmax,
                                     out=scratch[: len(users)])  # fmt: skip
        top10 = top[:, :10]
        filled = top10 >= 0
        n = filled.sum(1)
        ranks_all.append(ranks.cpu())
        recommended.append(top10[filled].cpu())
        info = torch.where(filled, self_information[top10.clamp(min=0)], 0.0)
        novelty.append((info.sum(1) / n.clamp(min=1)).cpu())
        if item_embeddings is not None:
            e = unit[top10.clamp(min=0)] * filled.unsqueeze(-1)
            sim = e @ e.transpose(1, 2)
            pairs = (n * (n - 1)).clamp(min=1)
            off_diagonal = (sim.sum((1, 2)) - sim.diagonal(dim1=1, dim2=2).sum(1)) / pairs
            diversity.append(torch.where(n > 1, 1 - off_diagonal, 0.0).cpu())

    ranks = torch.cat(ranks_all).double()
    metrics = {}
    for k in KS:
        hit = ranks <= k
        metrics[f"HR@{k}"] = hit.double().mean().item()
        metrics[f"NDCG@{k}"] = torch.where(hit, 1 / torch.log2(ranks + 1), 0.0).mean().item()
        metrics[f"MRR@{k}"] = torch.where(hit, 1 / ranks, 0.0).mean().item()
    metrics["coverage@10"] = len(torch.cat(recommended).unique()) / num_items
    metrics["novelty@10"] = torch.cat(novelty).mean().item()
    if item_embeddings is not None:
        metrics["diversity@10"] = torch.cat(diversity).mean().item()
    if return_ranks:
        metrics["ranks"] = ranks.long().numpy()
    return metrics


def _validation_users_from_env(default: int = 10_000) -> int:
    return positive_int_from_env("RECNN_VALIDATION_USERS", default)


VALIDATION_USERS = _validation_users_from_env()
"""Users of a validation pass (``validation_users``); every user when there are fewer.
10,000 unless ``RECNN_VALIDATION_USERS`` says otherwise when the package is imported (a larger
sample on a GPU, a smaller one to try a large data set on a laptop; the tests use it to reach
the sampled path on small data)."""


def validation_users(num_users: int, size: int | None = None, seed: int = 0) -> np.ndarray:
    """The sorted, seeded sample of ``size`` user indices that every validation pass reads
    (all users when ``num_users <= size``); the same for every model, so selections compare.
    ``size`` defaults to ``VALIDATION_USERS`` read at call time, so that the evaluator and
    ``last_transitions`` of the environments always read the same users."""
    size = VALIDATION_USERS if size is None else _validate.positive_int("size", size)
    if num_users <= size:
        return np.arange(num_users)
    return np.sort(np.random.default_rng(seed).choice(num_users, size, replace=False))


def _user_indices(users, num_users: int) -> np.ndarray:
    array = np.asarray(users)
    if array.ndim != 1 or not len(array) or array.dtype.kind not in "iu":
        raise ValueError(f"users must be a non-empty 1-D array of user indices, got {users!r}")
    if array.min() < 0 or array.max() >= num_users or np.any(np.diff(array) <= 0):
        raise ValueError(f"users must be sorted, unique and in [0, {num_users - 1}]")
    return array.astype(np.int64)


def popularity_scorer(train: Interactions) -> ScoreFn:
    """Scores every item by how many users rated it in train (counted once per user)."""
    counts = torch.as_tensor(train.item_counts(), dtype=torch.float32)

    def score(users: torch.Tensor, history: History) -> torch.Tensor:
        return counts.to(users.device).expand(len(users), -1)

    return score


def random_scorer(num_items: int, seed: int = 0) -> ScoreFn:
    """Uniform random scores, reproducible for a seed (the floor every agent must beat)."""
    num_items = _validate.positive_int("num_items", num_items)
    generator = torch.Generator().manual_seed(seed)

    def score(users: torch.Tensor, history: History) -> torch.Tensor:
        return torch.rand(len(users), num_items, generator=generator).to(users.device)

    return score


def scores_from_actions(
    actions: torch.Tensor, item_embeddings: torch.Tensor, similarity: str = "dot"
) -> torch.Tensor:
    """Item scores of continuous actions ``[B, dim]``: ``dot``, ``cosine`` or ``neg_distance``
    to each item embedding ``[num_items, dim]`` (used by the DDPG, TD3, SAC and BCQ
    notebooks)."""
    if similarity == "dot":
        return actions @ item_embeddings.T
    if similarity == "cosine":
        a = torch.nn.functional.normalize(actions, dim=1)
        return a @ torch.nn.functional.normalize(item_embeddings, dim=1).T
    if similarity == "neg_distance":
        return -torch.cdist(actions, item_embeddings)
    raise ValueError(f"similarity must be 'dot', 'cosine' or 'neg_distance', got {similarity!r}")


def bootstrap_interval(
    per_user: np.ndarray, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of a per-user metric."""
    n_boot = _validate.positive_int("n_boot", n_boot)
    level = _validate.fraction("level", level)
    if not len(per_user):
        raise ValueError("per_user is empty: a bootstrap interval needs at least one user")
    rng = np.random.default_rng(seed)
    per_user = np.asarray(per_user, dtype=np.float64)
    # Resamples in blocks of an even number of rows: the same draws as one (n_boot, n) call
    # (numpy's bounded integers keep no half-used buffer across calls then), without holding
    # n_boot x n indices at once (2 GB for ML-20M's 138,493 users).
    rows = 64
    means = np.concatenate([
        per_user[rng.integers(0, len(per_user), size=(min(rows, n_boot - start), len(per_user)))]
        .mean(1)
        for start in range(0, n_boot, rows)
    ])  # fmt: skip
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def t_interval(
    values, level: float = 0.95, bounds: tuple[float, float] = (0.0, 1.0)
) -> tuple[float, float] | None:
    """Student t interval of the mean of per-seed figures, ``mean +- t * s / sqrt(n)``
    (None with fewer than two seeds): how much retraining moves a figure (PROTOCOL.md).

    The interval is clipped to ``bounds``, the range the metric can take (every ranking
    metric of the protocol lies in [0, 1]): with three seeds and a mean near 0 the symmetric
    interval would otherwise reach below 0, a value no seed can have.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return None
    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    low, high = bounds
    return float(max(values.mean() - half, low)), float(min(values.mean() + half, high))


def wilson_interval(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``hits / n`` (e.g. HR@10 over a few users).

    Unlike a bootstrap or a normal interval it stays informative at 0 or ``n`` hits: 0 hits
    of 95 users gives (0, 0.039), not (0, 0).
    """
    if n <= 0 or not 0 <= hits <= n:
        raise ValueError(f"need 0 <= hits <= n and n > 0, got hits={hits}, n={n}")
    z = stats.norm.ppf((1 + level) / 2)
    p = hits / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def seed_runs(
    run: Callable[[int], dict[str, float]],
    seeds: tuple[int, ...] | list[int],
    known: dict[int, dict[str, float]] | None = None,
) -> dict[int, dict[str, float]]:
    """Test metrics of one agent for each training seed: ``run(seed)`` trains and tests.

    Seeds in ``known`` (typically seed 0, trained and tested above) are reused, not retrained.
    The agent notebooks feed the result to ``seed_table`` and ``agent_record``.
    """
    known = dict(known or {})
    return {seed: known[seed] if seed in known else run(seed) for seed in seeds}


def seed_table(
    tests_by_agent: dict[str, dict[int, dict[str, float]]],
    metrics: tuple[str, ...] = ("NDCG@10", "HR@10"),
    level: float = 0.95,
) -> pd.DataFrame:
    """Test metrics per training seed (rows), their mean and the t interval over the seeds.

    ``tests_by_agent[agent][seed]`` is the metrics dict of that agent trained with that seed;
    agents may have different numbers of seeds (an agent with one seed gets no interval).
    Used by the agent notebooks for the "Seeds" section.
    """
    table = pd.DataFrame(
        {
            (agent, metric): {f"seed {seed}": test[metric] for seed, test in tests.items()}
            for agent, tests in tests_by_agent.items()
            for metric in metrics
        }
    )
    intervals = {column: t_interval(table[column].dropna(), level) for column in table}
    table.loc["mean"] = table.mean()
    table.loc["95% interval low"] = {c: i[0] if i else np.nan for c, i in intervals.items()}
    table.loc["95% interval high"] = {c: i[1] if i else np.nan for c, i in intervals.items()}
    return table.round(4)


def ndcg_from_ranks(ranks: np.ndarray, k: int = 10) -> np.ndarray:
    """Per-user NDCG@k from 1-based pessimistic ranks (for intervals and paired tests)."""
    k = _validate.positive_int("k", k)
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks <= k, 1 / np.log2(ranks + 1), 0.0)


def new_item_metrics(ranks: np.ndarray, new_target: np.ndarray) -> dict[str, float]:
    """Cold-start figures of one scorer (PROTOCOL.md, new items) from its per-user test ranks.

    ``new_target`` marks the users whose target is a held-out (new) item. Returns HR@10 on
    those users with its Wilson interval, their NDCG@10 and median rank, and the
    NDCG@10 on the other users (what a scorer that favours new items pays elsewhere).
    """
    ranks = np.asarray(ranks)
    new_target = np.asarray(new_target, dtype=bool)
    if ranks.shape != new_target.shape:
        raise ValueError(f"ranks {ranks.shape} and new_target {new_target.shape} differ in shape")
    if not new_target.any():
        raise ValueError("no user has a new item as target: hold out more items")
    new = ranks[new_target]
    # Wilson, not a bootstrap: at 0 hits a bootstrap interval collapses to (0, 0).
    low, high = wilson_interval(int((new <= 10).sum()), len(new))
    others = ranks[~new_target]
    return {
        "users": int(new_target.sum()),
        "HR@10": float((new <= 10).mean()),
        "HR@10 low": low,
        "HR@10 high": high,
        "NDCG@10": float(ndcg_from_ranks(new).mean()),
        "median rank": float(np.median(new)),
        "NDCG@10, other users": float(ndcg_from_ranks(others).mean()) if len(others) else np.nan,
    }


def mean_of_history_scorer(item_embeddings, similarity: str = "dot") -> ScoreFn:
    """Score = similarity to the mean embedding of the user's history (a baseline that
    learns nothing; notebook 0 and the results notebook put it next to the agents)."""
    on = _follow_device(_validate.finite_table("item_embeddings", item_embeddings))

    def score(users: torch.Tensor, history: History) -> torch.Tensor:
        table = on(history.items.device)
        e = table[history.items] * history.mask.unsqueeze(-1)
        mean = e.sum(1) / history.lengths.clamp(min=1).unsqueeze(1)
        return scores_from_actions(mean, table, similarity)

    return score


def last_item_scorer(item_embeddings, similarity: str = "dot") -> ScoreFn:
    """Score = similarity to the embedding of the user's last item (item-kNN on one item)."""
    on = _follow_device(_validate.finite_table("item_embeddings", item_embeddings))

    def score(users: torch.Tensor, history: History) -> torch.Tensor:
        table = on(history.items.device)
        return scores_from_actions(table[history.items[:, -1]], table, similarity)

    return score


# --------------------------------------------------------------------------- training budget


@dataclass
class EarlyStopping:
    """The one budget rule of every trained model: keep the best validation checkpoint, stop
    after ``patience`` validation passes without improvement
    (PROTOCOL.md, "Training budget and seeds").

    ``update(score, step, module)`` records a validation score (higher is better) and copies
    ``module``'s weights when it is the best so far; ``stop`` says the patience is spent;
    ``restore(module)`` loads the best weights back. Used by every agent notebook and by the
    trained baselines of the results notebook, so that no model gets a longer budget than
    another: each trains until its own validation score has stopped rising.
    """

    patience: int = 5
    best: float = -math.inf
    best_step: int = 0
    last_step: int = 0
    passes_without_gain: int = 0
    best_state: dict | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {self.patience!r}")

    def update(self, score: float, step: int, module: torch.nn.Module | None = None) -> bool:
        """Record ``score`` at ``step``; True when it is a new best."""
        if not math.isfinite(score):
            raise ValueError(f"validation score at step {step} is {score}; training diverged")
        self.last_step = step
        if score > self.best:
            self.best, self.best_step, self.passes_without_gain = score, step, 0
            if module is not None:
                self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return True
        self.passes_without_gain += 1
        return False

    @property
    def stop(self) -> bool:
        return self.passes_without_gain >= self.patience

    def restore(self, module: torch.nn.Module) -> None:
        if self.best_state is None:
            raise RuntimeError("no checkpoint recorded: call update(score, step, module) first")
        module.load_state_dict(self.best_state)


# --------------------------------------------------------------------------- results files


def agent_record(
    notebook: str,
    family: str,
    tests_by_seed: dict[int, dict[str, float]],
    *,
    best_steps: dict[int, int],
    max_steps: int,
    step_unit: str = "updates",
    test_ranks: np.ndarray | None = None,
    **extra,
) -> dict:
    """One agent's entry of a results file (the schema the results notebook reads).

    ``tests_by_seed[seed]`` are that seed's test metrics (``seed_runs`` gives them),
    ``best_steps[seed]`` the step of its best validation checkpoint, ``max_steps`` the cap of
    the budget rule; ``test_ranks`` the first seed's per-user test ranks (for paired tests).
    Extra keys (``cold_start``, ...) are stored as given.
    """
    if set(best_steps) != set(tests_by_seed):
        raise ValueError(
            f"best_steps has seeds {sorted(best_steps)}, tests_by_seed {sorted(tests_by_seed)}"
        )
    first = next(iter(tests_by_seed))
    record = {
        "notebook": notebook,
        "family": family,
        "test": {k: v for k, v in tests_by_seed[first].items() if k != "ranks"},
        "seeds": [
            {
                "seed": seed,
                "test": {k: v for k, v in test.items() if k != "ranks"},
                "best_step": int(best_steps[seed]),
            }
            for seed, test in tests_by_seed.items()
        ],  # fmt: skip
        "budget": {
            "rule": "early stopping on validation NDCG@10",
            "max": int(max_steps),
            "unit": step_unit,
        },  # fmt: skip
    }
    if test_ranks is not None:
        record["test_ranks"] = np.asarray(test_ranks)
    return record | extra


def summarise_record(record: dict, metrics: tuple[str, ...] = ("NDCG@10", "HR@10")) -> dict:
    """Mean over seeds and the t interval (clipped to [0, 1]) of a results-file entry."""
    seeds = record.get("seeds") or [{"seed": None, "test": record["test"]}]
    runs = [s["test"] for s in seeds]
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    mean = {k: float(np.mean([r[k] for r in runs])) for k in keys}
    interval = {k: t_interval([r[k] for r in runs]) for k in metrics if k in keys}
    kind = f"t over {len(runs)} seeds" if len(runs) > 1 else "1 seed"
    steps = [s["best_step"] for s in seeds if "best_step" in s]
    return record | {
        "test": mean,
        "interval": interval,
        "interval_kind": kind,
        "best_steps": steps,
    }


def save_results(name: str, agents: dict[str, dict], *, started: float, args, **extra) -> None:
    """Write ``RESULTS_DIR/<name>.json``: the agents' entries, the notebook's wall time since
    ``started`` (``time.time()`` at its first cell), its ``args`` and any extra figures."""
    import time
    from dataclasses import asdict, is_dataclass

    import recnn_helpers
    from recnn_helpers.io import save_json

    path = recnn_helpers.RESULTS_DIR / f"{name}.json"
    wall_time = time.time() - started
    save_json(
        path,
        {
            "agents": agents,
            **extra,
            "wall_time_s": wall_time,
            "dataset": recnn_helpers.dataset_name(),
            "smoke": recnn_helpers.smoke_mode(),
            "args": asdict(args) if is_dataclass(args) else dict(args),
        },
    )
    print(f"wall time {wall_time:.0f} s; wrote {path.name} ({len(agents)} agent(s))")
