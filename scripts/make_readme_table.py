"""Rewrite the results and new-items tables of README.md from res/results/*.json.

`notebooks/4-results/1-ranking.ipynb` writes `summary.json` (the rows of its results table:
baselines and agents, test metrics, 95% intervals, and for trained models the budget: the
cap of the early-stopping rule and the best step of each seed); this script turns it into a
markdown table between the `<!-- results:start -->` and `<!-- results:end -->` markers of the
README and leaves everything else untouched. The long-term columns (cumulative reward per
session in the simulated user, under each strength of its leaving rule) and the long-term
table between `<!-- long-term:start -->` and `<!-- long-term:end -->` come from
`long-term.json`, written by `notebooks/5-long-term/1-simulator.ipynb`; the new-items table
from `td3.json`; the planning table between `<!-- planning:start -->` and
`<!-- planning:end -->` from `long-term-planning.json`, written by
`notebooks/5-long-term/2-planning.ipynb`. Run by `scripts/main.sh` after the notebooks;
idempotent (a second run changes nothing) and atomic (a temporary file renamed over the README).

    python scripts/make_readme_table.py [--summary PATH] [--readme PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from recnn_helpers.io import atomic_write

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = ROOT / "res" / "results" / "summary.json"
README = ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
NEW_ITEMS = ROOT / "res" / "results" / "td3.json"
NEW_START, NEW_END = "<!-- new-items:start -->", "<!-- new-items:end -->"
TD3_NOTEBOOK = "notebooks/1-vanilla-rl/3-td3.ipynb"
NOTEBOOK = "notebooks/4-results/1-ranking.ipynb"
LONG_TERM = ROOT / "res" / "results" / "long-term.json"
LONG_START, LONG_END = "<!-- long-term:start -->", "<!-- long-term:end -->"
SIMULATOR_NOTEBOOK = "notebooks/5-long-term/1-simulator.ipynb"
PLANNING = ROOT / "res" / "results" / "long-term-planning.json"
PLANNING_START, PLANNING_END = "<!-- planning:start -->", "<!-- planning:end -->"
PLANNING_NOTEBOOK = "notebooks/5-long-term/2-planning.ipynb"
COLUMNS = (
    "model",
    "NDCG@10",
    "HR@10",
    "MRR@10",
    "coverage@10",
    "novelty@10",
    "session return (none / mild / strong)",
    "seeds",
    "best step / cap",
    "notebook",
)


class TableError(Exception):
    """A missing or malformed input; the message says which file and what to do."""


def load_rows(summary: Path) -> list[dict]:
    """The rows of ``summary.json``, best test NDCG@10 first."""
    if not summary.is_file():
        raise TableError(
            f"{summary} not found: run {NOTEBOOK} in full mode first (bash scripts/main.sh "
            "runs every notebook, then this script)"
        )
    try:
        document = json.loads(summary.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TableError(f"{summary}: invalid JSON ({e}); run {NOTEBOOK} again") from e
    rows = document.get("rows") if isinstance(document, dict) else None
    if not isinstance(rows, list) or not rows:
        raise TableError(f"{summary}: no 'rows' list of results; run {NOTEBOOK} again")
    for i, row in enumerate(rows):
        missing = [k for k in ("model", "NDCG@10") if not isinstance(row, dict) or k not in row]
        if missing:
            raise TableError(f"{summary}: row {i} lacks {missing}; run {NOTEBOOK} again")
    return sorted(rows, key=lambda r: -_number(r["NDCG@10"]))


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) else -math.inf


def _fmt(value, digits: int = 4) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def _ndcg(row: dict) -> str:
    low, high = row.get("NDCG@10 low"), row.get("NDCG@10 high")
    if isinstance(low, int | float) and isinstance(high, int | float):
        # The bounds, not a half-width: a percentile bootstrap is not symmetric, and a t
        # interval clipped at 0 (a mean near 0 over three seeds) is not either.
        return f"{_fmt(row['NDCG@10'])} ({_fmt(low)}-{_fmt(high)})"
    return _fmt(row["NDCG@10"])


def _seeds(row: dict) -> str:
    if str(row.get("interval", "")).startswith("bootstrap"):
        return "det."
    return str(row.get("seeds", "-"))


def _budget(row: dict) -> str:
    """Best step over the seeds (their range when they differ) and the cap, e.g.
    ``1,200-3,400 / 10,000 updates``; ``det.`` for a deterministic model, ``-`` where the
    row has no budget (an untrained floor, or an agent file from before budgets were stored)."""
    if str(row.get("interval", "")).startswith("bootstrap"):
        return "det."
    steps = [s for s in row.get("best steps") or [] if isinstance(s, int | float)]
    cap, unit = row.get("cap steps"), row.get("cap unit")
    if not steps or not isinstance(cap, int | float):
        return "-"
    low, high = int(min(steps)), int(max(steps))
    best = f"{low:,}" if low == high else f"{low:,}-{high:,}"
    return f"{best} / {int(cap):,} {unit or 'steps'}"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def load_long_term(path: Path) -> dict:
    """``long-term.json``: per policy and leaving rule, the session metrics (mean and 95%
    interval) and the policy's name in the results table (``model``)."""
    if not path.is_file():
        raise TableError(f"{path} not found: run {SIMULATOR_NOTEBOOK} in full mode first")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        policies, rules = document["policies"], document["args"]["rules"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise TableError(f"{path}: no policies/args.rules ({e!r}); run {SIMULATOR_NOTEBOOK}") from e
    if not isinstance(policies, dict) or not policies:
        raise TableError(f"{path}: no policy scored; run {SIMULATOR_NOTEBOOK} again")
    return {"policies": policies, "rules": list(rules), "users": document.get("users", {})}


def _returns(entry: dict | None, rules: list[str]) -> str:
    """``11.6 / 8.3 / 4.1``: mean cumulative reward per session under each rule."""
    if not entry:
        return "-"
    return " / ".join(
        _fmt((entry.get(rule) or {}).get("return", {}).get("mean"), 1) for rule in rules
    )


def render(rows: list[dict], long_term: dict | None = None) -> str:
    """The markdown block that goes between the markers (without the markers)."""
    by_model = {}
    if long_term:
        for entry in long_term["policies"].values():
            model = entry.get("model")
            if model:
                by_model[model] = entry
    # The long-term column only when the README shows the simulator's table too.
    columns = [c for c in COLUMNS if long_term or not c.startswith("session return")]
    lines = [
        f"(generated by `scripts/make_readme_table.py` from `res/results/summary.json`, written "
        f"by `{NOTEBOOK}`; test split, sorted by NDCG@10)",
        "",
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for row in rows:
        notebook = row.get("notebook") or "-"
        cells = [
            _cell(row["model"]),
            _ndcg(row),
            _fmt(row.get("HR@10")),
            _fmt(row.get("MRR@10")),
            _fmt(row.get("coverage@10"), 3),
            _fmt(row.get("novelty@10"), 2),
            *([_returns(by_model.get(row["model"]), long_term["rules"])] if long_term else []),
            _seeds(row),
            _budget(row),
            f"`{_cell(notebook)}`",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    rules = sorted({str(r["budget rule"]) for r in rows if r.get("budget rule")})
    lines += [
        "",
        "NDCG@10 (low-high): the test figure and its 95% interval, Student t over training "
        "seeds for trained models (clipped to [0, 1]), a bootstrap over users for deterministic "
        "ones (`det.`); no interval with one seed. Best step / cap: every trained model stops by "
        + (" or ".join(rules) if rules else "early stopping on validation NDCG@10")
        + " (patience 5) under a cap; the best step is the restored checkpoint's, over the "
        "seeds (a range when they differ); `-` where a results file does not record it."
        + (
            " Session return: mean cumulative reward per session of the report users in the "
            f"simulated user of `{SIMULATOR_NOTEBOOK}`, without / with a mild / with a strong "
            "leaving rule (table below); `-` where the simulator does not play the model."
            if long_term
            else ""
        ),
    ]
    return "\n".join(lines)


def _by_return(policies: dict, rule: str) -> list[tuple[str, dict]]:
    """Policies with the best mean return under ``rule`` first."""
    return sorted(
        policies.items(),
        key=lambda item: -_number((item[1].get(rule) or {}).get("return", {}).get("mean")),
    )


def _return_cell(entry: dict, rule: str) -> str:
    """``4.12 (3.86 to 4.39)``: mean return under ``rule`` and its 95% interval."""
    ret = (entry.get(rule) or {}).get("return", {})
    low, high = _fmt(ret.get("low"), 2), _fmt(ret.get("high"), 2)
    return f"{_fmt(ret.get('mean'), 2)} ({low} to {high})"


def render_long_term(long_term: dict) -> str:
    """Every policy of the simulator: cumulative reward and session length per rule, with
    the 95% interval of the return, next to its test NDCG@10 (best return under the last,
    strongest rule first)."""
    rules, policies = long_term["rules"], long_term["policies"]
    last = rules[-1]

    report = long_term["users"].get("report", "?")
    lines = [
        f"(generated by `scripts/make_readme_table.py` from `res/results/long-term.json`, "
        f"written by `{SIMULATOR_NOTEBOOK}`; {report} report users, mean and 95% interval over "
        "simulator seeds, and over training seeds for agents; sorted by return under the "
        f"`{last}` rule)",
        "",
        "| policy | test NDCG@10 | "
        + " | ".join(f"return, {r}" for r in rules)
        + " | "
        + " | ".join(f"length, {r}" for r in rules if r != "none")
        + " |",
        "| --- | --- | "
        + " | ".join("---" for _ in rules)
        + " | "
        + " | ".join("---" for r in rules if r != "none")
        + " |",
    ]
    for name, entry in _by_return(policies, last):
        ndcg = (entry.get(rules[0]) or {}).get("test NDCG@10")
        cells = [_cell(name), _fmt(ndcg), *(_return_cell(entry, rule) for rule in rules)]
        for rule in rules:
            if rule != "none":
                cells.append(_fmt((entry.get(rule) or {}).get("length", {}).get("mean"), 1))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_planning(path: Path) -> dict:
    """``long-term-planning.json``: per policy and rule the session metrics and test NDCG@10,
    and per rule the planner's comparison with the strongest myopic policy."""
    if not path.is_file():
        raise TableError(f"{path} not found: run {PLANNING_NOTEBOOK} in full mode first")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        keys = ("policies", "comparison", "args", "users")
        return {**{key: document[key] for key in keys}, "limits": document.get("limits", {})}
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise TableError(f"{path}: no policies/comparison ({e!r}); run {PLANNING_NOTEBOOK}") from e


def render_planning(planning: dict) -> str:
    """The planner next to its baselines: return per rule with its interval, test NDCG@10;
    then per rule the planner's return over the strongest myopic policy's, the share of the
    oracle planner's advantage it captures, and the paired gain of planning."""
    rules, policies, comparison = (
        planning["args"]["rules"],
        planning["policies"],
        planning["comparison"],
    )
    lines = [
        f"(generated by `scripts/make_readme_table.py` from `res/results/long-term-planning.json`, "
        f"written by `{PLANNING_NOTEBOOK}`; {planning['users'].get('report', '?')} report users, "
        "mean and 95% interval over simulator seeds)",
        "",
        "| policy | test NDCG@10 | " + " | ".join(f"return, {r}" for r in rules) + " |",
        "| --- | --- | " + " | ".join("---" for _ in rules) + " |",
    ]

    for name, entry in _by_return(policies, rules[-1]):
        ndcg = (entry.get(rules[0]) or {}).get("test NDCG@10")
        cells = [_cell(name), _fmt(ndcg), *(_return_cell(entry, rule) for rule in rules)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| | " + " | ".join(rules) + " |",
        "| --- | " + " | ".join("---" for _ in rules) + " |",
    ]
    for label, key, digits in (
        ("planner / strongest myopic", "planner / myopic", 3),
        ("share of the oracle planner's advantage", "share of the oracle advantage", 2),
        ("planning: planner - myopic (95% interval)",
         "planning (planner - myopic): mean [95% interval]", None),
        ("rule + penalty: myopic - greedy on the agent's model",
         "rule + penalty (myopic - model greedy): mean [95% interval]", None),
    ):  # fmt: skip
        values = [(comparison.get(rule) or {}).get(key) for rule in rules]
        cells = [_cell(v) if digits is None else _fmt(v, digits) for v in values]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for label, key in (
        ("planner / myopic, in the agent's own model", "planner / myopic, in its own model"),
        ("oracle planner / oracle myopic (planning with the world's model)",
         "oracle planner / oracle myopic, world"),
        ("greedy on the agent's model / oracle myopic", "model greedy / oracle myopic, world"),
    ):  # fmt: skip
        values = [(planning["limits"].get(rule) or {}).get(key) for rule in rules]
        if any(v is not None for v in values):
            lines.append(f"| {label} | " + " | ".join(_fmt(v, 3) for v in values) + " |")
    return "\n".join(lines)


def load_cold_start(path: Path) -> dict[str, dict]:
    """The new-item figures of TD3+BC retrained without the held-out items, per scoring."""
    if not path.is_file():
        raise TableError(f"{path} not found: run {TD3_NOTEBOOK} in full mode first")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        cold = document["agents"]["TD3+BC"]["cold_start"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise TableError(f"{path}: no agents/TD3+BC/cold_start ({e!r}); run {TD3_NOTEBOOK}") from e
    if not isinstance(cold, dict) or not cold:
        raise TableError(f"{path}: agents/TD3+BC/cold_start is empty; run {TD3_NOTEBOOK} again")
    return cold


def render_new_items(cold: dict[str, dict]) -> str:
    """The new-items table: HR@10 of the users whose target is new, with its Wilson interval,
    against NDCG@10 of everybody else, for each way of scoring."""
    users = {int(m.get("users", 0)) for m in cold.values()}
    lines = [
        f"(generated by `scripts/make_readme_table.py` from `res/results/td3.json`, written by "
        f"`{TD3_NOTEBOOK}`; {', '.join(map(str, sorted(users)))} users have a new test target)",
        "",
        "| TD3+BC retrained without the held-out items, scored by | HR@10, new-item users "
        "(95% Wilson) | median rank of the new target | NDCG@10, other users |",
        "| --- | --- | --- | --- |",
    ]
    for name, m in cold.items():
        low, high = _fmt(m.get("HR@10 low"), 3), _fmt(m.get("HR@10 high"), 3)
        hr = f"{_fmt(m.get('HR@10'), 3)} ({low}-{high})"
        rank = m.get("median rank")
        rank = f"{rank:,.0f}" if isinstance(rank, int | float) else "-"
        lines.append(f"| {_cell(name)} | {hr} | {rank} | {_fmt(m.get('NDCG@10, other users'))} |")
    return "\n".join(lines)


def replace_block(text: str, block: str, readme: Path, start: str = START, end: str = END) -> str:
    """``text`` with the lines between the markers replaced by ``block``."""
    START, END = start, end  # noqa: N806 (the names the messages below use)
    starts, ends = text.count(START), text.count(END)
    if starts != 1 or ends != 1:
        raise TableError(
            f"{readme}: expected the markers {START} and {END} once each, found {starts} and "
            f"{ends}; put them around the results table"
        )
    head, rest = text.split(START)
    if END not in rest:
        raise TableError(f"{readme}: {END} comes before {START}; put them in order")
    _, tail = rest.split(END)
    return f"{head}{START}\n{block}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--summary", type=Path, default=SUMMARY, help=f"default: {SUMMARY}")
    parser.add_argument("--readme", type=Path, default=README, help=f"default: {README}")
    parser.add_argument("--new-items", type=Path, default=NEW_ITEMS, help=f"default: {NEW_ITEMS}")
    parser.add_argument("--long-term", type=Path, default=LONG_TERM, help=f"default: {LONG_TERM}")
    parser.add_argument("--planning", type=Path, default=PLANNING, help=f"default: {PLANNING}")
    args = parser.parse_args(argv)
    try:
        rows = load_rows(args.summary)
        if not args.readme.is_file():
            raise TableError(f"{args.readme} not found")
        old = args.readme.read_text(encoding="utf-8")
        long_term = load_long_term(args.long_term) if LONG_START in old else None
        new = replace_block(old, render(rows, long_term), args.readme)
        if long_term:
            new = replace_block(new, render_long_term(long_term), args.readme, LONG_START, LONG_END)
        if PLANNING_START in new:
            planning = render_planning(load_planning(args.planning))
            new = replace_block(new, planning, args.readme, PLANNING_START, PLANNING_END)
        if NEW_START in new:
            cold = render_new_items(load_cold_start(args.new_items))
            new = replace_block(new, cold, args.readme, NEW_START, NEW_END)
    except TableError as e:
        print(f"make_readme_table: {e}", file=sys.stderr)
        return 1
    if new == old:
        print(f"{args.readme}: results table already up to date ({len(rows)} rows)")
        return 0
    with atomic_write(args.readme) as tmp:  # a temporary file renamed over the README
        tmp.write_text(new, encoding="utf-8")
    print(f"{args.readme}: results table rewritten ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
