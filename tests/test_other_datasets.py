"""Every data set, not only ML-100K: the data-set parameter, its folders and its rating scale,
and the TD3 and REINFORCE notebooks run to the end (smoke mode) on small planted data sets in
the ML-1M layout ('::' files, whole stars) and the ML-20M layout (csv, half stars)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from notebook_cells import run_notebook

import recnn_helpers
from recnn_helpers.data import load_dataset
from recnn_helpers.env import FrameEnv
from recnn_helpers.synthetic import SHAPES, write_movielens

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {
    "notebooks/1-vanilla-rl/3-td3.ipynb": "td3.json",
    "notebooks/3-reinforce/1-reinforce.ipynb": "reinforce.json",
}
LAYOUTS = ("ml-1m", "ml-20m")


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data")
    for layout in LAYOUTS:
        write_movielens(data / layout, layout, *SHAPES["small"], seed=0)
    return data


def test_each_data_set_writes_into_its_own_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("RECNN_HOME", str(tmp_path))
    monkeypatch.delenv("RECNN_SMOKE", raising=False)
    monkeypatch.delenv("RECNN_RES", raising=False)
    # use_dataset writes os.environ itself: setting the variable through monkeypatch first
    # makes the teardown restore it, so that no later test (or notebook kernel) inherits it.
    monkeypatch.setenv("RECNN_DATASET", "ml-100k")
    default = recnn_helpers.paths()
    assert (default.dataset, default.res) == ("ml-100k", tmp_path / "res")
    other = recnn_helpers.use_dataset("ml-20m")
    assert os.environ["RECNN_DATASET"] == "ml-20m"
    assert other.res == tmp_path / "res" / "ml-20m"
    assert other.models == default.models / "ml-20m" and other.runs == default.runs / "ml-20m"
    with pytest.raises(ValueError, match="unknown data set 'ml-2m'.*ml-1m"):
        recnn_helpers.use_dataset("ml-2m")
    with pytest.raises(ValueError, match="folder name"):
        recnn_helpers.use_dataset("../elsewhere")


def test_threads_default_to_the_cores_and_obey_recnn_threads(monkeypatch):
    monkeypatch.delenv("RECNN_THREADS", raising=False)
    assert recnn_helpers.default_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("RECNN_THREADS", "1")
    assert recnn_helpers.default_threads() == 1
    monkeypatch.setenv("RECNN_THREADS", "two")
    with pytest.raises(ValueError, match="RECNN_THREADS"):
        recnn_helpers.default_threads()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rewards_are_centred_on_the_data_sets_own_scale(planted, layout):
    ml = load_dataset(layout, planted)
    data = ml.interactions()
    assert data.rating_scale == ml.rating_scale[:2]
    env = FrameEnv(data, np.eye(data.num_items, 4, dtype=np.float32), frame_size=3)
    reward = env.batch(np.arange(len(env)))["reward"]
    # ML-20M's half stars: 0.5 -> -1 and 5 -> 1, not the (1, 5) scale's -1.25.
    assert reward.min() == -1 and reward.max() == 1


def test_own_data_set_from_its_description(tmp_path):
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "ratings.csv").write_text("user,book,stars,time\n1,10,7,1\n1,11,9,2\n1,12,2,3\n")
    (folder / "books.csv").write_text(
        "book,name,shelves\n10,Dune,sf;classic\n11,Emma,\n12,Ubik,sf\n"
    )
    spec = {"ratings": "ratings.csv", "rating_scale": [1, 10, 1],
            "columns": {"user_id": "user", "item_id": "book", "rating": "stars",
                        "timestamp": "time"},
            "items": "books.csv", "item_columns": {"item_id": "book", "title": "name",
                                                   "genres": "shelves"},
            "genre_sep": ";"}  # fmt: skip
    (folder / "dataset.json").write_text(json.dumps(spec))
    ml = load_dataset("books", tmp_path)
    assert ml.title == "books" and ml.has_content
    assert ml.items["genres"].tolist() == ["sf|classic", "", "sf"]
    assert ml.interactions().rating_scale == (1.0, 10.0)
    del spec["items"], spec["item_columns"]
    (folder / "dataset.json").write_text(json.dumps(spec))
    assert not load_dataset("books", tmp_path).has_content
    spec["rating_scale"] = [1, 5, 1]  # a 7 and a 9 are off this scale
    (folder / "dataset.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="ratings.csv"):
        load_dataset("books", tmp_path)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_notebook_runs_on_a_planted_data_set(planted, layout, notebook, monkeypatch, tmp_path):
    env = {
        "RECNN_DATA": str(planted), "RECNN_DATASET": layout, "RECNN_HOME": str(tmp_path),
        "RECNN_SMOKE": "1", "RECNN_THREADS": "1", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1",
    }  # fmt: skip
    if layout == "ml-20m":
        # ML-20M's 138,493 users validate on a sample (VALIDATION_USERS): reach that path with
        # a sample smaller than the planted set's 600 users.
        env["RECNN_VALIDATION_USERS"] = "200"
    outputs = run_notebook(ROOT / notebook, monkeypatch, env)
    assert f"data set: {layout}" in outputs
    if layout == "ml-20m" and "td3" in notebook:
        assert "200 validation transitions" in outputs
    results = tmp_path / "runs" / "smoke" / "res" / layout / "results" / NOTEBOOKS[notebook]
    written = json.loads(results.read_text())
    assert written["dataset"] == layout and written["smoke"]
    assert not (tmp_path / "res").exists(), "a smoke run wrote into the full run's res/"
