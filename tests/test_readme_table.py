"""Tests for scripts/make_readme_table.py on a tiny fake summary (never the repo's files)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_readme_table.py"
spec = importlib.util.spec_from_file_location("make_readme_table", SCRIPT)
make_readme_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_readme_table)

README = """# project

Intro.

## Results

<!-- results:start -->
(placeholder)
<!-- results:end -->

## After
Text after the table | with a pipe.
"""

ROWS = [
    {"model": "Popularity", "NDCG@10": 0.04321, "NDCG@10 low": 0.0343, "NDCG@10 high": 0.0536,
     "HR@10": 0.0838, "MRR@10": 0.0309, "coverage@10": 0.054, "novelty@10": 1.2,
     "seeds": 1, "interval": "bootstrap over users", "cap": "det.", "best step": "det.",
     "budget rule": None, "cap steps": None, "cap unit": None, "best steps": [],
     "notebook": "notebooks/4-results/1-ranking.ipynb"},
    {"model": "SASRec", "NDCG@10": 0.1, "NDCG@10 low": 0.09, "NDCG@10 high": 0.11,
     "HR@10": 0.19, "MRR@10": 0.07, "coverage@10": 0.3, "novelty@10": 2.1, "seeds": 3,
     "interval": "t over 3 seeds", "budget rule": "early stopping on validation NDCG@10",
     "cap steps": 100, "cap unit": "epochs", "best steps": [31, 27, 40],
     "notebook": "notebooks/4-results/1-ranking.ipynb"},
    {"model": "TD3+BC", "NDCG@10": 0.08, "NDCG@10 low": 0.07, "NDCG@10 high": 0.09,
     "HR@10": 0.16, "MRR@10": 0.05, "coverage@10": 0.2, "novelty@10": 2.0, "seeds": 3,
     "interval": "t over 3 seeds", "budget rule": "early stopping on validation NDCG@10",
     "cap steps": 10000, "cap unit": "updates", "best steps": [4200, 4200, 4200],
     "notebook": "notebooks/1-vanilla-rl/3-td3.ipynb"},
    {"model": "TD3", "NDCG@10": 0.06, "NDCG@10 low": None, "NDCG@10 high": None,
     "HR@10": 0.12, "MRR@10": 0.04, "coverage@10": 0.1, "novelty@10": 1.5, "seeds": 1,
     "interval": "1 seed", "notebook": "notebooks/1-vanilla-rl/3-td3.ipynb"},
]  # fmt: skip


@pytest.fixture
def files(tmp_path):
    summary, readme = tmp_path / "summary.json", tmp_path / "README.md"
    summary.write_text(json.dumps({"rows": ROWS, "smoke": False}))
    readme.write_text(README)
    return summary, readme


def run(*argv):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, argv)],
                          capture_output=True, text=True)  # fmt: skip


def block(text):
    return text.split("<!-- results:start -->")[1].split("<!-- results:end -->")[0]


def test_rewrites_only_the_block(files):
    summary, readme = files
    done = run("--summary", summary, "--readme", readme)
    assert done.returncode == 0, done.stderr
    text = readme.read_text()
    before, after = README.split("<!-- results:start -->"), text.split("<!-- results:start -->")
    assert after[0] == before[0]
    assert after[1].split("<!-- results:end -->")[1] == before[1].split("<!-- results:end -->")[1]
    table = [line for line in block(text).splitlines() if line.startswith("| ")]
    assert table[0].startswith("| model | NDCG@10 | HR@10 | MRR@10 | coverage@10 | novelty@10")
    assert "| seeds | best step / cap | notebook |" in table[0]
    models = [line.split(" | ")[0].strip("| ") for line in table[2:]]
    assert models == ["SASRec", "TD3+BC", "TD3", "Popularity"]  # sorted by NDCG@10
    rows = {m: line for m, line in zip(models, table[2:], strict=True)}
    assert "| SASRec | 0.1000 (0.0900-0.1100) | 0.1900 |" in text
    assert "| TD3 | 0.0600 | 0.1200 |" in text  # one seed: no interval
    assert "| det. | det. |" in rows["Popularity"] and "| 3 |" in rows["SASRec"]
    # Best steps: their range over the seeds (one value when they agree), then the cap.
    assert "| 27-40 / 100 epochs |" in rows["SASRec"]
    assert "| 4,200 / 10,000 updates |" in rows["TD3+BC"]
    assert "| 1 | - |" in rows["TD3"]  # an old agent file without budget: "-", no crash
    assert "early stopping on validation NDCG@10" in block(text)  # the rule, from the rows
    assert "(placeholder)" not in text


def test_idempotent(files):
    summary, readme = files
    assert run("--summary", summary, "--readme", readme).returncode == 0
    first = readme.read_text()
    second_run = run("--summary", summary, "--readme", readme)
    assert second_run.returncode == 0 and "up to date" in second_run.stdout
    assert readme.read_text() == first
    assert not list(readme.parent.glob(".README.md.*"))  # no temporary file left behind


def test_missing_summary_fails_clearly(tmp_path, files):
    _, readme = files
    done = run("--summary", tmp_path / "absent.json", "--readme", readme)
    assert done.returncode != 0
    assert "absent.json not found" in done.stderr and "1-ranking.ipynb" in done.stderr
    assert readme.read_text() == README


@pytest.mark.parametrize(
    "text", ["no markers here\n", README.replace("<!-- results:end -->", ""),
             "<!-- results:end -->\n<!-- results:start -->\n"],
)  # fmt: skip
def test_bad_markers_fail_and_leave_readme(files, text):
    summary, readme = files
    readme.write_text(text)
    done = run("--summary", summary, "--readme", readme)
    assert done.returncode != 0 and "make_readme_table:" in done.stderr
    assert readme.read_text() == text


@pytest.mark.parametrize("content", ["{not json", json.dumps({"rows": []}), json.dumps([1])])
def test_malformed_summary_fails(files, content):
    summary, readme = files
    summary.write_text(content)
    assert make_readme_table.main(["--summary", str(summary), "--readme", str(readme)]) == 1
    assert readme.read_text() == README


def test_defaults_point_at_the_repository():
    root = SCRIPT.parent.parent
    assert make_readme_table.SUMMARY == root / "res" / "results" / "summary.json"
    assert make_readme_table.README == root / "README.md"


def test_new_items_block_is_generated_from_the_td3_results(tmp_path):
    cold = {
        "dot": {"users": 95, "HR@10": 0.0, "HR@10 low": 0.0, "HR@10 high": 0.0389,
                "median rank": 1234.0, "NDCG@10, other users": 0.1041},
        "cosine": {"users": 95, "HR@10": 0.2316, "HR@10 low": 0.15, "HR@10 high": 0.33,
                   "median rank": 42.0, "NDCG@10, other users": 0.034},
    }  # fmt: skip
    path = tmp_path / "td3.json"
    path.write_text(json.dumps({"agents": {"TD3+BC": {"cold_start": cold}}}))
    block = make_readme_table.render_new_items(make_readme_table.load_cold_start(path))
    assert "| dot | 0.000 (0.000-0.039) | 1,234 | 0.1041 |" in block
    assert "| cosine | 0.232 (0.150-0.330) | 42 | 0.0340 |" in block
    assert "95 users have a new test target" in block
    path.write_text(json.dumps({"agents": {"TD3": {}}}))
    with pytest.raises(make_readme_table.TableError, match="cold_start"):
        make_readme_table.load_cold_start(path)


def long_term_entry(model, returns, lengths, ndcg):
    return {
        "model": model,
        **{
            rule: {
                "test NDCG@10": ndcg,
                "return": {"mean": r, "low": r - 0.5, "high": r + 0.5},
                "length": {"mean": n, "low": n - 1, "high": n + 1},
            }
            for rule, r, n in zip(("none", "mild", "strong"), returns, lengths, strict=True)
        },
    }


def test_long_term_columns_and_table_come_from_the_simulator_results(tmp_path, files):
    summary, readme = files
    readme.write_text(README + "\n<!-- long-term:start -->\n<!-- long-term:end -->\n")
    path = tmp_path / "long-term.json"
    policies = {
        "popularity": long_term_entry("Popularity", (11.6, 8.3, 4.1), (30, 24, 12), 0.0432),
        "oracle planner": long_term_entry(None, (19.1, 16.1, 11.9), (30, 28, 22), 0.2),
        "TD3+BC": long_term_entry("TD3+BC", (6.2, 3.7, 1.9), (30, 20, 9), 0.08),
    }
    path.write_text(json.dumps({"policies": policies, "args": {"rules": ["none", "mild", "strong"]},
                                "users": {"report": 472}}))  # fmt: skip
    assert run("--summary", summary, "--readme", readme, "--long-term", path).returncode == 0
    text = readme.read_text()
    table = block(text)
    # The results table gains the returns of the models the simulator plays, '-' elsewhere.
    assert "| Popularity | 0.0432 (0.0343-0.0536) |" in table
    assert "| 11.6 / 8.3 / 4.1 |" in table and "| 6.2 / 3.7 / 1.9 |" in table
    assert table.count("| - / - / - |") == 0 and "| - | 3 |" in table  # SASRec: not played
    long_term = text.split("<!-- long-term:start -->")[1].split("<!-- long-term:end -->")[0]
    lines = [line for line in long_term.splitlines() if line.startswith("| ")][2:]
    assert [line.split(" | ")[0] for line in lines] == ["| oracle planner", "| popularity",
                                                         "| TD3+BC"]  # fmt: skip
    assert "| 4.10 (3.60 to 4.60) | 24.0 | 12.0 |" in lines[1]
    assert "472 report users" in long_term
    path.write_text(json.dumps({"policies": {}, "args": {"rules": ["none"]}}))
    result = run("--summary", summary, "--readme", readme, "--long-term", path)
    assert result.returncode == 1 and "no policy scored" in result.stderr


def test_planning_block_comes_from_the_planning_results(tmp_path, files):
    summary, readme = files
    readme.write_text(README + "\n<!-- planning:start -->\n<!-- planning:end -->\n")
    path = tmp_path / "long-term-planning.json"
    rules = ["none", "mild", "strong"]
    policies = {
        "planner": long_term_entry(None, (12.0, 9.0, 5.5), (30, 25, 15), 0.01),
        "popularity": long_term_entry(None, (11.6, 8.3, 4.1), (30, 24, 12), 0.0432),
    }
    comparison = {
        rule: {
            "planner / myopic": ratio,
            "share of the oracle advantage": share,
            "planning (planner - myopic): mean [95% interval]": "+0.10 [-0.2, +0.4]",
            "rule + penalty (myopic - model greedy): mean [95% interval]": "+1.0 [+0.5, +1.5]",
        }
        for rule, ratio, share in zip(rules, (1.0, 1.04, 1.2), (0.0, 0.1, 0.6), strict=True)
    }
    limits = {rule: {"oracle planner / oracle myopic, world": 1.0 + i / 10}
              for i, rule in enumerate(rules)}  # fmt: skip
    path.write_text(json.dumps({"policies": policies, "comparison": comparison, "limits": limits,
                                "args": {"rules": rules}, "users": {"report": 472}}))  # fmt: skip
    assert run("--summary", summary, "--readme", readme, "--planning", path).returncode == 0
    text = readme.read_text()
    planning = text.split("<!-- planning:start -->")[1].split("<!-- planning:end -->")[0]
    assert "| planner | 0.0100 | 12.00 (11.50 to 12.50) | 9.00 (8.50 to 9.50) |" in planning
    assert "| planner / strongest myopic | 1.000 | 1.040 | 1.200 |" in planning
    assert "| share of the oracle planner's advantage | 0.00 | 0.10 | 0.60 |" in planning
    assert (
        "| oracle planner / oracle myopic (planning with the world's model) | 1.000 | 1.100 |"
        in planning
    )
    rows = [line.split(" | ")[0] for line in planning.splitlines() if line.startswith("| p")]
    assert rows[1:3] == ["| planner", "| popularity"]  # best return under the strongest rule first
    assert "472 report users" in planning
    path.write_text(json.dumps({"policies": policies}))
    result = run("--summary", summary, "--readme", readme, "--planning", path)
    assert result.returncode == 1 and "comparison" in result.stderr
