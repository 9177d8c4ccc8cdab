"""The item embeddings pipeline (recnn_helpers.embeddings): one finite row per item for every
kind, the same vectors for the same seed, no validation or test interaction in them, and new
items embedded from content landing near their true collaborative vectors.

Every build runs in a temporary data folder holding a copy of ML-100K and of the cached MiniLM
text vectors, so the texts are encoded at most once (into the project's data folder)."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from threadpoolctl import threadpool_limits

from recnn_helpers import embeddings as emb
from recnn_helpers.data import DATA_DIR, MovieLens, leave_one_out, load_movielens, to_interactions

DATASET = "ml-100k"
DIM = 128


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The builds are small: extra BLAS/OpenMP threads only wait on each other on a shared CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def movielens() -> MovieLens:
    return load_movielens(DATASET)


@pytest.fixture(scope="module")
def split(movielens):
    return leave_one_out(to_interactions(movielens.ratings, movielens.items.item_id.to_numpy()))


@pytest.fixture(scope="module")
def copy_data(movielens):
    """Makes data folders with ML-100K and the text vectors (encoded here on the first run)."""
    emb.load_text_embeddings(movielens)

    def make(root):
        shutil.copytree(DATA_DIR / DATASET, root / DATASET)
        (root / "embeddings").mkdir()
        shutil.copy(DATA_DIR / "embeddings" / f"{DATASET}-text.npz", root / "embeddings")
        return root

    return make


@pytest.fixture(scope="module")
def data_dir(copy_data, tmp_path_factory):
    return copy_data(tmp_path_factory.mktemp("embeddings-a"))


@pytest.fixture(scope="module")
def built(data_dir):
    return emb.load_embedding_set(DATASET, DIM, seed=0, data_dir=data_dir)


def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def test_every_kind_has_one_finite_row_per_item(built, data_dir, movielens):
    for kind in emb.KINDS:
        e = emb.load_item_embeddings(DATASET, kind, DIM, seed=0, data_dir=data_dir)
        assert e.shape == (len(movielens.items), DIM), kind
        assert e.dtype == np.float32 and np.isfinite(e).all(), kind
        np.testing.assert_array_equal(e, built[kind])
    with pytest.raises(ValueError, match="kind must be one of"):
        emb.load_item_embeddings(DATASET, "ratings", data_dir=data_dir)


def test_same_seed_builds_the_same_embeddings(built, copy_data, tmp_path):
    other = copy_data(tmp_path)
    again = emb.load_embedding_set(DATASET, DIM, seed=0, data_dir=other)
    assert list((other / "embeddings").glob(f"{DATASET}-d{DIM}-s0-*.npz")), "no second build"
    for kind in emb.KINDS:
        np.testing.assert_array_equal(again[kind], built[kind], err_msg=kind)


def ratings_with_new_targets(split) -> pd.DataFrame:
    """The ratings in time order with every user's validation and test items replaced by items
    the user never rated: the train part is untouched."""
    full = split.full
    items = full.items.copy()
    rng = np.random.default_rng(0)
    for u in range(full.num_users):
        seen = set(full.user(u)[0].tolist())
        unseen = np.setdiff1d(np.arange(full.num_items), list(seen))
        items[full.offsets[u + 1] - 2 : full.offsets[u + 1]] = rng.choice(unseen, 2, replace=False)
    return pd.DataFrame(
        {
            "user_id": full.user_ids[full.users],
            "item_id": full.item_ids[items],
            "rating": full.ratings,
            "timestamp": full.timestamps,
        }
    )


def test_validation_and_test_interactions_do_not_reach_the_embeddings(
    built, movielens, split, copy_data, tmp_path, monkeypatch
):
    changed = ratings_with_new_targets(split)
    changed_split = leave_one_out(to_interactions(changed, movielens.items.item_id.to_numpy()))
    assert (changed_split.valid_target != split.valid_target).all()
    assert (changed_split.test_target != split.test_target).all()
    np.testing.assert_array_equal(changed_split.train.items, split.train.items)

    fake = MovieLens(DATASET, changed, movielens.items, movielens.kg, movielens.links)
    monkeypatch.setattr(emb, "load_dataset", lambda *args, **kwargs: fake)
    rebuilt = emb.load_embedding_set(DATASET, DIM, seed=0, data_dir=copy_data(tmp_path))
    for kind in emb.KINDS:
        np.testing.assert_array_equal(rebuilt[kind], built[kind], err_msg=kind)


def test_collaborative_embeddings_do_change_with_the_train_part(split):
    # The control of the test above: one more train interaction moves the vectors.
    train = split.train
    user = 0
    extra = np.setdiff1d(np.arange(train.num_items), train.user(user)[0])[0]
    offsets = train.offsets.copy()
    offsets[user + 1 :] += 1
    at = train.offsets[user + 1]
    grown = type(train)(
        offsets,
        np.insert(train.items, at, extra),
        np.insert(train.ratings, at, 5.0),
        np.insert(train.timestamps, at, train.timestamps[at - 1]),
        train.user_ids,
        train.item_ids,
    )
    before = emb.collaborative_embeddings(train, DIM)
    after = emb.collaborative_embeddings(grown, DIM)
    assert not np.allclose(before, after)


def test_new_items_land_near_their_true_collaborative_vectors(built, data_dir, movielens):
    num_items = len(movielens.items)
    holdout = emb.holdout_items(num_items, 0.1, seed=0)
    held = emb.load_embedding_set(DATASET, DIM, seed=0, holdout=holdout, data_dir=data_dir)
    assert (held["counts"][holdout] == 0).all()
    new = emb.embed_new_items(movielens.items.iloc[holdout], DATASET, DIM, 0, holdout, data_dir)
    assert new.shape == (len(holdout), DIM) and np.isfinite(new).all()
    # The content route reproduces the held-out items' hybrid rows (count 0: mapped vector).
    np.testing.assert_allclose(new, held["hybrid"][holdout], atol=1e-5)

    # The two builds factorise different matrices: align the held-out build's collaborative
    # space to the full one on the items rated in both (never on a held-out item).
    both = np.setdiff1d(np.flatnonzero(built["counts"] > 0), holdout)
    rotation, _ = orthogonal_procrustes(held["collaborative"][both], built["collaborative"][both])
    true = built["collaborative"][holdout]
    random_items = np.random.default_rng(0).choice(both, len(holdout))
    to_true = (unit(new @ rotation) * unit(true)).sum(1).mean()
    to_random = (unit(new @ rotation) * unit(built["collaborative"][random_items])).sum(1).mean()
    assert to_true > to_random + 0.1, (to_true, to_random)


def test_rescale_new_items():
    table = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0], [0.3, 0.4]], dtype=np.float32)
    out = emb.rescale_new_items(table, np.array([3]), 0.5)  # other norms 5, 1, 2: median 2
    np.testing.assert_allclose(np.linalg.norm(out[3]), 2.0, rtol=1e-6)
    np.testing.assert_allclose(out[3] / np.linalg.norm(out[3]), [0.6, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(out[:3], table[:3])
    np.testing.assert_array_equal(table[3], np.float32([0.3, 0.4]))  # the input is unchanged
    with pytest.raises(ValueError, match="quantile"):
        emb.rescale_new_items(table, np.array([3]), 1.5)
    with pytest.raises(ValueError, match="subset"):
        emb.rescale_new_items(table, np.array([], dtype=np.int64), 0.5)
    with pytest.raises(ValueError, match="zero vector"):
        emb.rescale_new_items(np.vstack([table, [[0.0, 0.0]]]), np.array([4]), 0.5)
