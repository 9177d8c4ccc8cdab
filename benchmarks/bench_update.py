"""Speed of one agent update ``learn(batch)`` and of the evaluator, beside the matmul bound.

For each agent the notebooks train (DQN, DDPG+BC, TD3+BC, SAC+BC, BCQ, REINFORCE) this script
runs the notebook's own code: it reads the agent's cells from the notebook (the ``Args`` cell,
the networks, the agent class or ``learn`` function; matched by the first line of each code
cell, see ``AGENTS``) and executes them after a small fixed import preamble, with the
notebook's full-mode hyperparameters (``Args()``: batch size, widths, policy delay, ...). The
batches come from a real ``FrameEnv`` over a synthetic data set of MovieLens' shape (see
``synthetic_split``) with random 128-d item embeddings, so a state has 10 * (128 + 1) = 1290
dimensions, as in the notebooks. Everything runs on the CPU, with ``--threads`` torch threads.

Per agent, after a warm-up:

==================  =========================================================================
figure              how it is obtained
==================  =========================================================================
measured            transitions per second of ``learn`` alone: ``--updates`` updates, each on
                    a fresh batch drawn as the notebook's loop draws it (``env.sample()``;
                    REINFORCE: ``env.batch`` over a shuffled epoch), only the ``learn`` calls
                    timed; best of ``--repeats``
FLOP/transition     the floating-point work of the matrix products one update runs (forward
                    and backward of every ``nn.Linear``, the products with the item table, the
                    target networks' forwards, ...), counted by
                    ``torch.utils.flop_counter.FlopCounterMode`` around real ``learn`` calls,
                    divided by the batch size. TD3's actor steps every ``policy_delay``
                    updates, so its figures are over ``policy_delay`` updates
bound               the same matrix products run alone: every distinct call recorded during
                    that count (op, shapes, strides, dtype) is rebuilt with random tensors and
                    timed (best of several repeats, same thread count), and the bound is
                    batch / the sum of those times over the calls of one update, i.e. the
                    matmul rate on these very shapes / (FLOP per transition)
ratio               measured / bound; the target is >= 80 %
sample              transitions per second of drawing the batches (timed apart from ``learn``;
                    the notebooks' loops pay it too)
==================  =========================================================================

Hand check of the count (DDPG+BC, batch B = 256, state 1290, action 128, hidden 128; biases
are additions, not counted): the actor's layers hold 1290*128 + 128*128 + 128*128 = 197,888
weights and the critic's 1418*128 + 128*128 + 128*1 = 198,016. The critic step runs the
target actor, the target critic and the critic forward (197,888 + 2 * 198,016 MACs per row)
and the critic's backward (its weight gradients, 198,016, and the input gradients of its last
two layers, 16,512: the first layer's input needs none). The actor step runs actor and critic
forward (197,888 + 198,016), the critic's backward in full (weights and inputs: 2 * 198,016,
the action needs its gradient) and the actor's backward (weights, 197,888, and the inputs of
its last two layers, 32,768). Sum: 1,831,040 multiply-adds per row = 3,662,080 FLOP per
transition, the figure the table prints for DDPG+BC.

The evaluator rows time ``recnn_helpers.evaluation.evaluate(..., "test")`` over every user of
the synthetic data, with the TD3 actor's dot-product scorer (as the TD3 notebook scores:
``scores_from_actions(actor(env.state_from_history(history)), item_embeddings, "dot")``, with
``max_history=frame_size``) and with the popularity scorer, both with ``item_embeddings`` as
the notebooks pass it (diversity@10). Their bound is the slower of two: the FLOPs per user at
the matmul rate measured as above, and the bytes per user at the memory bandwidth of a copy of
a score matrix of the same shape (256 users x catalogue, float32): every user's row of scores
is written once by the scorer and read at least once by the ranking, 2 * 4 * num_items bytes.

DQN's Q-values and REINFORCE's softmax span the catalogue, so their cost grows with it: they
run for each ``--items`` catalogue (1,682: ML-100K; 26,744: ML-20M), the other agents once.

    python benchmarks/bench_update.py                      # ML-100K's catalogue, 1 thread
    python benchmarks/bench_update.py --items 1682 26744   # and ML-20M's catalogue
    python benchmarks/bench_update.py --repeats 1 --updates 4 --users 300   # smoke test

The figures are only meaningful on an idle machine: other jobs on the cores slow the measured
updates and the matmul replays by different amounts.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's recnn_helpers, installed or not

from recnn_helpers.data import LeaveOneOut, leave_one_out, to_interactions  # noqa: E402
from recnn_helpers.env import FrameEnv  # noqa: E402
from recnn_helpers.evaluation import evaluate, popularity_scorer, scores_from_actions  # noqa: E402

TARGET_RATIO = 0.8
EMBEDDING_DIM = 128
EVAL_BATCH = 256  # evaluate()'s default batch of users
DEVICE = torch.device("cpu")

# --------------------------------------------------------------------------- notebook cells

# What the agents' cells need besides themselves (the notebooks' import cells also load data
# and set folders; only these names are used by the cells below).
PREAMBLE = """\
import copy
import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

from recnn_helpers import default_threads
"""
ARGS_CELL = "@dataclass\nclass Args:"


def code_cells(notebook: str) -> list[str]:
    """The sources of the notebook's code cells, in order."""
    path = ROOT / notebook
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(f"cannot read the code cells of {notebook}: {error}") from None
    sources = [c["source"] for c in cells if c.get("cell_type") == "code"]
    return ["".join(s) if isinstance(s, list) else s for s in sources]


def find_cell(notebook: str, cells: list[str], first_line: str) -> int:
    """Index of the one code cell that starts with ``first_line``; a clear error otherwise."""
    found = [i for i, source in enumerate(cells) if source.lstrip().startswith(first_line)]
    if len(found) != 1:
        what = "no code cell starts" if not found else f"{len(found)} code cells start"
        raise SystemExit(
            f"{notebook}: {what} with {first_line!r}, a cell this benchmark runs. If the "
            "notebook renamed, merged or split it, update AGENTS in benchmarks/bench_update.py."
        )
    return found[0]


def run_args_cell(notebook: str) -> dict:
    """A namespace holding the preamble and the notebook's ``Args`` cell run in full mode:
    ``args`` is the notebook's own ``Args()``."""
    namespace: dict = {"__name__": f"bench_{Path(notebook).stem}", "SMOKE": False}
    run_source(PREAMBLE, "preamble", namespace)
    cells = code_cells(notebook)
    i = find_cell(notebook, cells, ARGS_CELL)
    run_source(cells[i], f"{notebook}, code cell {i + 1}", namespace)
    return namespace


def run_cells(notebook: str, first_lines: tuple[str, ...], namespace: dict) -> None:
    """Run the cells that start with ``first_lines`` in ``namespace``, in notebook order."""
    cells = code_cells(notebook)
    for i in sorted(find_cell(notebook, cells, line) for line in first_lines):
        run_source(cells[i], f"{notebook}, code cell {i + 1}", namespace)


def run_source(source: str, where: str, namespace: dict) -> None:
    """Execute cell code as the notebook does (without this module's ``__future__`` import,
    which would turn the cells' annotations into strings)."""
    exec(compile(source, where, "exec", dont_inherit=True), namespace)


# --------------------------------------------------------------------------- synthetic data


def synthetic_split(num_items: int, num_users: int, seed: int = 0) -> LeaveOneOut:
    """Leave-one-out split of ratings shaped like MovieLens: 20-200 interactions per user
    (ML-100K's mean is 106), items drawn with a long-tailed popularity, ratings 1-5."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 201, num_users)
    n = int(lengths.sum())
    popularity = 1 / (np.arange(num_items) + 10.0)
    popularity = rng.permutation(popularity / popularity.sum())
    ratings = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(1, num_users + 1), lengths),
            "item_id": rng.choice(num_items, n, p=popularity) + 1,
            "rating": rng.integers(1, 6, n).astype(np.float64),
            "timestamp": np.arange(n),
        }
    )
    return leave_one_out(to_interactions(ratings, np.arange(1, num_items + 1)))


def random_embeddings(num_items: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(num_items, EMBEDDING_DIM, generator=generator)


# --------------------------------------------------------------------------- the agents


@dataclass
class Updater:
    """One agent ready to train: ``update(draw())`` is one ``learn`` call of the notebook."""

    update: Callable[[Any], Any]
    draw: Callable[[], Any]  # what the notebook's loop feeds learn (env.sample(), ...)
    batch_size: int
    cycle: int = 1  # updates after which the work repeats (TD3: policy_delay)


def frame_env(namespace: dict, split: LeaveOneOut, item_embeddings: torch.Tensor) -> FrameEnv:
    """The notebook's environment (its frame size, batch size and seed), and the names its
    cells read as globals (``make_networks`` and ``make_agent`` use them)."""
    args = namespace["args"]
    env = FrameEnv(
        split.train, item_embeddings, args.frame_size, args.batch_size, args.seed, DEVICE
    )
    namespace.update(
        env=env,
        device=DEVICE,
        item_embeddings=env.item_embeddings,
        action_scale=env.item_embeddings.abs().amax(0),
        state_dim=env.state_dim,
        action_dim=env.item_embeddings.shape[1],
        num_items=env.num_items,
    )
    return env


def build_dqn(ns: dict, env: FrameEnv) -> Updater:
    """As the DQN notebook's ``train``: a Q-network, its target copy, Adam, the conservative
    weight of the reported agent."""
    args = ns["args"]
    qf = ns["QNetwork"](env.num_items, args.embedding_dim, args.hidden_dim, args.tied)
    target_qf = copy.deepcopy(qf)
    optimizer = torch.optim.Adam(qf.parameters(), lr=args.learning_rate)
    learn = ns["learn"]
    return Updater(
        lambda batch: learn(qf, target_qf, optimizer, batch, args.cql_alpha),
        env.sample,
        args.batch_size,
    )


def build_ddpg_bc(ns: dict, env: FrameEnv) -> Updater:
    args = ns["args"]  # any alpha: the update's work does not depend on it
    agent = ns["DDPGBC"](*ns["make_networks"](), args, alpha=args.alphas[-1])
    return Updater(agent.learn, env.sample, args.batch_size)


def build_td3_bc(ns: dict, env: FrameEnv) -> Updater:
    args = ns["args"]
    agent = ns["TD3BC"](*ns["make_networks"](), args, alpha=args.alphas[-1])
    return Updater(agent.learn, env.sample, args.batch_size, cycle=args.policy_delay)


def build_sac_bc(ns: dict, env: FrameEnv) -> Updater:
    args = ns["args"]
    agent = ns["SACBC"](*ns["make_networks"](), args, bc_weight=args.bc_weights[0])
    return Updater(agent.learn, env.sample, args.batch_size)


def build_bcq(ns: dict, env: FrameEnv) -> Updater:
    args = ns["args"]
    agent = ns["make_agent"](args.phis[0], args.kl_weights[0])
    return Updater(agent.learn, env.sample, args.batch_size)


def build_reinforce(ns: dict, env: FrameEnv) -> Updater:
    """As the REINFORCE notebook's ``train``: batches of a shuffled epoch, each transition
    weighted by its normalised return (random positive weights here: same work)."""
    args = ns["args"]
    policy = ns["Policy"](env.state_dim, env.num_items, args.hidden_dim, args.dropout)
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
    weights = 0.5 + torch.rand(len(env), generator=torch.Generator().manual_seed(0))
    learn, batches = ns["learn"], epoch_indices(env, args.batch_size)

    def draw():
        idx = next(batches)
        return env.batch(idx), weights[idx]

    return Updater(
        lambda batch_weight: learn(policy, optimizer, *batch_weight), draw, args.batch_size
    )


def epoch_indices(env: FrameEnv, batch_size: int):
    """Full batches of transition indices, epoch after epoch, in the env's shuffled order."""
    while True:
        order = torch.randperm(len(env), generator=env.generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


@dataclass(frozen=True)
class AgentSpec:
    notebook: str
    cells: tuple[str, ...]  # first lines of the code cells run after the Args cell
    build: Callable[[dict, FrameEnv], Updater]
    per_catalogue: bool = False  # a Q-value or softmax over the catalogue: one row per --items


ACTOR_CRITIC = ("class Actor(", "class Critic(")
AGENTS = {
    "DQN": AgentSpec(
        "notebooks/0-embeddings/2-dqn-embeddings.ipynb",
        ("class QNetwork(", "def learn(qf, target_qf, optimizer, batch, cql_alpha)"),
        build_dqn,
        per_catalogue=True,
    ),
    "DDPG+BC": AgentSpec(
        "notebooks/1-vanilla-rl/2-ddpg.ipynb",
        (*ACTOR_CRITIC, "class DDPG:", "class DDPGBC(", "def make_networks("),
        build_ddpg_bc,
    ),
    "TD3+BC": AgentSpec(
        "notebooks/1-vanilla-rl/3-td3.ipynb",
        (*ACTOR_CRITIC, "class TD3:", "class TD3BC(", "def make_networks("),
        build_td3_bc,
    ),
    "SAC+BC": AgentSpec(
        "notebooks/1-vanilla-rl/4-sac.ipynb",
        (*ACTOR_CRITIC, "class SAC:", "class SACBC(", "def make_networks("),
        build_sac_bc,
    ),
    "BCQ": AgentSpec(
        "notebooks/2-bcq/1-bcq.ipynb",
        (
            "class StateMLP(",
            "class VAE(",
            "class Perturbation(",
            "class Critic(",
            "class BCQ(",
            "def make_agent(",
        ),
        build_bcq,
    ),
    "REINFORCE": AgentSpec(
        "notebooks/3-reinforce/1-reinforce.ipynb",
        ("class StateEncoder(", "class Policy(", "def learn(policy, optimizer, batch, weight)"),
        build_reinforce,
        per_catalogue=True,
    ),
}


def make_updater(name: str, split: LeaveOneOut, item_embeddings: torch.Tensor) -> Updater:
    spec = AGENTS[name]
    namespace = run_args_cell(spec.notebook)
    env = frame_env(namespace, split, item_embeddings)
    run_cells(spec.notebook, spec.cells, namespace)
    torch.manual_seed(0)
    return spec.build(namespace, env)


# --------------------------------------------------------------------------- matmul bound


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype


def _spec(x):
    """Arguments with every tensor replaced by its shape, strides and dtype (hashable)."""
    if isinstance(x, torch.Tensor):
        return TensorSpec(tuple(x.shape), tuple(x.stride()), x.dtype)
    if isinstance(x, (list, tuple)):
        return tuple(_spec(v) for v in x)
    if isinstance(x, dict):
        return tuple(sorted((k, _spec(v)) for k, v in x.items()))
    return x


def _rebuild(spec):
    """Random tensors with the recorded shapes and strides (a transposed view stays one)."""
    if isinstance(spec, TensorSpec):
        extent = 1 + sum((n - 1) * s for n, s in zip(spec.shape, spec.stride, strict=True))
        storage = torch.randn(extent if all(spec.shape) else 0, dtype=spec.dtype)
        return storage.as_strided(spec.shape, spec.stride)
    if isinstance(spec, tuple):
        return tuple(_rebuild(v) for v in spec)
    return spec


class MatmulLog(TorchDispatchMode):
    """Every call of an op that ``FlopCounterMode`` counts (mm, addmm, bmm, ...), grouped by
    (op, argument shapes, strides, dtypes): how often it ran and its FLOPs per call, by
    ``FlopCounterMode``'s own formulas."""

    def __init__(self):
        super().__init__()
        self.calls: dict[tuple, list[int]] = {}  # (op, args, kwargs) -> [count, flops]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(getattr(func, "_overloadpacket", None))
        if formula is not None:
            key = (func, _spec(args), _spec(kwargs))
            entry = self.calls.setdefault(key, [0, formula(*args, **kwargs, out_val=out)])
            entry[0] += 1
        return out

    @property
    def flops(self) -> int:
        return sum(count * flops for count, flops in self.calls.values())


def record_matmuls(fn: Callable[[], Any]) -> MatmulLog:
    """Run ``fn()`` once under ``FlopCounterMode`` and a ``MatmulLog`` below it (which so sees
    the very ops the counter counts); their totals must agree."""
    with MatmulLog() as log, FlopCounterMode(display=False) as counter:
        fn()
    if log.flops != counter.get_total_flops():
        raise RuntimeError(
            f"recorded matmuls add up to {log.flops:,} FLOPs but FlopCounterMode counted "
            f"{counter.get_total_flops():,}: an op escaped the log (by op: "
            f"{counter.get_flop_counts().get('Global')})"
        )
    return log


def seconds_per_call(fn: Callable[[], Any], repeats: int, min_seconds: float = 0.02) -> float:
    """Best time of one ``fn()`` over ``repeats`` loops of at least ``min_seconds`` each."""
    fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    number = max(1, int(min_seconds / max(once, 1e-9)))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def replay_matmuls(log: MatmulLog, repeats: int) -> tuple[float, list[dict]]:
    """Seconds the logged matmuls take alone (each distinct call rebuilt with random tensors of
    the same layout, timed, times its count), and one line per distinct call."""
    total, lines = 0.0, []
    with torch.no_grad():
        for (func, args, kwargs), (count, flops) in log.calls.items():
            a, kw = _rebuild(args), dict(_rebuild(kwargs))
            seconds = seconds_per_call(lambda f=func, a=a, kw=kw: f(*a, **kw), repeats)
            total += count * seconds
            shapes = [s.shape for s in args if isinstance(s, TensorSpec)]
            lines.append({"op": str(func), "shapes": shapes, "count": count, "flops": flops,
                          "seconds": seconds})  # fmt: skip
    return total, lines


def copy_bandwidth(rows: int, cols: int, repeats: int) -> float:
    """Bytes per second of ``dst.copy_(src)`` on float32 ``[rows, cols]`` (read + write)."""
    src = torch.randn(rows, cols)
    dst = torch.empty_like(src)
    return 2 * src.nbytes / seconds_per_call(lambda: dst.copy_(src), repeats)


# --------------------------------------------------------------------------- measurements


def time_updates(updater: Updater, updates: int) -> tuple[float, float]:
    """Seconds spent in ``learn`` and in drawing batches over ``updates`` updates."""
    learn_s = draw_s = 0.0
    for _ in range(updates):
        t0 = time.perf_counter()
        batch = updater.draw()
        t1 = time.perf_counter()
        updater.update(batch)
        t2 = time.perf_counter()
        draw_s += t1 - t0
        learn_s += t2 - t1
    return learn_s, draw_s


def measure_agent(name: str, split: LeaveOneOut, item_embeddings, args) -> dict:
    """Warm up, count one cycle's matmuls, time the updates, then replay the matmuls."""
    updater = make_updater(name, split, item_embeddings)
    cycle = updater.cycle
    updates = -(-args.updates // cycle) * cycle  # whole cycles: TD3's actor steps included
    time_updates(updater, max(-(-args.warmup // cycle), 1) * cycle)  # warm-up
    batches = [updater.draw() for _ in range(cycle)]
    log = record_matmuls(lambda: [updater.update(b) for b in batches])
    transitions = updater.batch_size * updates
    learn_tps, draw_tps = [], []
    for _ in range(args.repeats):
        learn_s, draw_s = time_updates(updater, updates)
        learn_tps.append(transitions / learn_s)
        draw_tps.append(transitions / draw_s)
    matmul_s, lines = replay_matmuls(log, max(args.repeats, 3))
    per_cycle = updater.batch_size * cycle
    return {
        "agent": name,
        "items": split.num_items,
        "batch_size": updater.batch_size,
        "cycle": cycle,
        "flops_per_transition": log.flops / per_cycle,
        "measured": learn_tps,
        "sample": draw_tps,
        "bound": per_cycle / matmul_s,
        "matmul_flops_per_s": log.flops / matmul_s,
        "calls": lines,
    }


def measure_evaluator(scorer: str, score_fn, split, item_embeddings, kwargs, args) -> dict:
    """Users per second of ``evaluate(..., "test")`` over every user, beside the slower of its
    matmul bound and its memory bound."""
    users = split.num_users

    protocol = {"item_embeddings": item_embeddings, "device": DEVICE, **kwargs}

    def run():
        return evaluate(score_fn, split, "test", **protocol)

    evaluate(score_fn, split, "test", users=np.arange(min(EVAL_BATCH, users)), **protocol)
    measured = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        measured.append(users / (time.perf_counter() - start))
    log = record_matmuls(run)
    repeats = max(args.repeats, 3)
    matmul_s, lines = replay_matmuls(log, repeats)
    bytes_per_user = 2 * 4 * split.num_items  # a row of float32 scores written, then read
    bandwidth = copy_bandwidth(min(EVAL_BATCH, users), split.num_items, repeats)
    by_matmul = users / matmul_s if matmul_s else float("inf")
    by_memory = bandwidth / bytes_per_user
    return {
        "scorer": scorer,
        "items": split.num_items,
        "users": users,
        "flops_per_user": log.flops / users,
        "bytes_per_user": bytes_per_user,
        "measured": measured,
        "bound": min(by_matmul, by_memory),
        "bound_by": "matmul" if by_matmul < by_memory else "memory",
        "matmul_flops_per_s": log.flops / matmul_s if matmul_s else float("nan"),
        "bandwidth": bandwidth,
        "calls": lines,
    }


def evaluator_rows(split, item_embeddings, td3_actor, frame_size: int, args) -> list[dict]:
    """The TD3 actor's dot-product scorer and the popularity scorer on one catalogue."""
    env = FrameEnv(split.train, item_embeddings, frame_size, device=DEVICE)

    def actor_scores(users, history):  # the TD3 notebook's score_actions, similarity "dot"
        actions = td3_actor(env.state_from_history(history))
        return scores_from_actions(actions, env.item_embeddings, "dot")

    td3_actor.eval()
    table, window = env.item_embeddings, {"max_history": frame_size}
    return [
        measure_evaluator("TD3 actor (dot)", actor_scores, split, table, window, args),
        measure_evaluator("popularity", popularity_scorer(split.train), split, table, {}, args),
    ]


def td3_actor(split: LeaveOneOut, item_embeddings: torch.Tensor) -> tuple[torch.nn.Module, int]:
    """An (untrained) actor of the TD3 notebook and its frame size."""
    spec = AGENTS["TD3+BC"]
    namespace = run_args_cell(spec.notebook)
    frame_env(namespace, split, item_embeddings)
    run_cells(spec.notebook, spec.cells, namespace)
    torch.manual_seed(0)
    return namespace["make_networks"]()[0], namespace["args"].frame_size


# --------------------------------------------------------------------------- report


def _n(value: float) -> str:
    if value >= 1e9:
        return f"{value / 1e9:,.2f}G"
    if value >= 1e6:
        return f"{value / 1e6:,.2f}M"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _verdict(ratio: float) -> str:
    return "PASS" if ratio >= TARGET_RATIO else "MISS"


def _judged(row: dict) -> tuple[str, str]:
    """The best of a row's runs, and its ratio / target / verdict cells (both tables)."""
    best = max(row["measured"])
    ratio = best / row["bound"]
    return _n(best), f"{ratio:>7.0%}  {f'>= {TARGET_RATIO:.0%}':<7}{_verdict(ratio):<8}"


def _all_runs(row: dict) -> str:
    return " ".join(_n(v) for v in row["measured"])


def report(agents: list[dict], evaluators: list[dict], args, threads: int, load) -> None:
    print(
        f"\ntorch {torch.__version__}, {threads} thread(s), {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f}..{load[1]:.1f}; {args.updates} timed updates x {args.repeats} "
        f"repeat(s), best kept; synthetic data, {args.users:,} users"
    )
    print("\nAgent update learn(batch): transitions/s")
    print(
        f"{'agent':<10}{'items':>7}{'batch':>6}{'FLOP/tr':>12}{'measured':>10}{'bound':>9}"
        f"{'ratio':>7}  {'target':<7}{'verdict':<8}{'matmul':>11}{'sample':>9}{'threads':>8}"
        f"  all runs"
    )
    for r in agents:
        best, judged = _judged(r)
        print(
            f"{r['agent']:<10}{r['items']:>7,}{r['batch_size']:>6}"
            f"{r['flops_per_transition']:>12,.0f}{best:>10}{_n(r['bound']):>9}{judged}"
            f"{_n(r['matmul_flops_per_s']) + 'F/s':>11}{_n(max(r['sample'])):>9}{threads:>8}"
            f"  {_all_runs(r)}"
        )
    print(
        "  FLOP/tr: matmul FLOPs of one update per transition (FlopCounterMode); bound: batch "
        "/ time of those matmuls run alone; matmul: their rate;\n  sample: transitions/s of "
        "drawing the batches (not in measured)"
    )
    if evaluators:
        print("\nEvaluator evaluate(..., 'test'): users/s")
        print(
            f"{'scorer':<17}{'items':>7}{'FLOP/user':>12}{'B/user':>9}{'measured':>10}"
            f"{'bound':>9}{'by':>8}{'ratio':>7}  {'target':<7}{'verdict':<8}{'matmul':>11}"
            f"{'memory':>11}{'threads':>8}  all runs"
        )
        for r in evaluators:
            best, judged = _judged(r)
            print(
                f"{r['scorer']:<17}{r['items']:>7,}{r['flops_per_user']:>12,.0f}"
                f"{_n(r['bytes_per_user']):>9}{best:>10}{_n(r['bound']):>9}"
                f"{r['bound_by']:>8}{judged}"
                f"{_n(r['matmul_flops_per_s']) + 'F/s':>11}{_n(r['bandwidth']) + 'B/s':>11}"
                f"{threads:>8}  {_all_runs(r)}"
            )
        print(
            "  bound: the slower of FLOP/user at the matmul rate and B/user (a float32 score "
            "row written and read) at the bandwidth of a copy of a 256 x items score matrix"
        )
    if args.shapes:
        print("\nMatmul calls (per update cycle / per evaluate pass): op, shapes, count, "
              "FLOPs per call, replay time per call")  # fmt: skip
        for r in [*agents, *evaluators]:
            print(f"{r.get('agent') or r['scorer']} ({r['items']:,} items)")
            for c in r["calls"]:
                shapes = " x ".join(str(tuple(s)) for s in c["shapes"])
                print(f"  {c['op']:<22}{shapes:<40}{c['count']:>6}{_n(c['flops']):>10}"
                      f"{c['seconds'] * 1e6:>10.1f} us")  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's)")
    parser.add_argument("--updates", type=int, default=100, help="timed updates per agent")
    parser.add_argument("--warmup", type=int, default=10, help="untimed updates first (>= 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (best kept)")
    parser.add_argument(
        "--items",
        type=int,
        nargs="+",
        default=[1682],
        help="catalogue sizes for DQN, REINFORCE and the evaluator (ML-100K 1682, ML-20M 26744)",
    )
    parser.add_argument("--users", type=int, default=5_000, help="users of the synthetic data")
    parser.add_argument(
        "--agents", nargs="+", choices=list(AGENTS), default=list(AGENTS), help="agents to run"
    )
    parser.add_argument("--no-evaluator", action="store_true", help="skip the evaluator rows")
    parser.add_argument("--shapes", action="store_true", help="list every matmul and its time")
    args = parser.parse_args(argv)
    if min(args.updates, args.repeats, args.users, *args.items) < 1 or args.warmup < 0:
        parser.error("--updates, --repeats, --users and --items must be >= 1, --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    threads = torch.get_num_threads()
    load_before = os.getloadavg()[0]
    data = {n: (synthetic_split(n, args.users), random_embeddings(n)) for n in args.items}
    agents = []
    for name in args.agents:
        for n in args.items if AGENTS[name].per_catalogue else args.items[:1]:
            print(f"{name}, {n:,} items ...", flush=True)
            agents.append(measure_agent(name, *data[n], args))
    evaluators = []
    if not args.no_evaluator:
        actor, frame_size = td3_actor(*data[args.items[0]])
        for n in args.items:
            print(f"evaluator, {n:,} items ...", flush=True)
            evaluators += evaluator_rows(*data[n], actor, frame_size, args)
    load = (min(load_before, os.getloadavg()[0]), max(load_before, os.getloadavg()[0]))
    report(agents, evaluators, args, threads, load)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
