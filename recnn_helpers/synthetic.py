"""Synthetic MovieLens data sets with planted, learnable structure, in the official formats.

GroupLens cannot be reached from CI, so the ML-1M and ML-20M paths of ``data.load_movielens``
and of the notebooks are tested on data written here. ``write_movielens(folder, layout, ...)``
writes, for ``layout="ml-1m"``, ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``, whole
stars) and ``movies.dat`` (``MovieID::Title (Year)::Genre1|Genre2``, latin-1); for
``layout="ml-20m"`` (the layout of ML-25M and ml-latest too), ``ratings.csv`` (header
``userId,movieId,rating,timestamp``, half stars) and ``movies.csv`` (header
``movieId,title,genres``, UTF-8, titles with a comma in double quotes, ``(no genres listed)``).
``load_movielens(layout, data_dir=folder.parent)`` reads them as it reads the real files when
``folder`` is named after the layout. Used by the tests of the ML-1M / ML-20M paths.

    python -m recnn_helpers.synthetic --layout ml-1m --users 600 --items 1000 \\
        --ratings 30000 --seed 0 data/ml-1m

What is planted
---------------
With the defaults ``structure=1`` and ``drift=1``:

- **Catalogue.** A movie has 1 to 6 genres of the release's vocabulary, drawn by the real
  genre frequencies (Drama and Comedy common, Film-Noir rare; 1% of ML-20M movies have none),
  a title ``Silent River (1994)`` (some ``Golden Night, The (1987)``, some with latin-1
  letters) with a year from the release's range, recent years likelier, and a MovieID with
  gaps (ids up to 1.07 x the movies for ML-1M, 4.9 x for ML-20M, as in the real files).
- **Exposure.** Long-tailed: Zipf-Mandelbrot weights ``(rank + c)^-2.6`` over a random
  ranking, ``c`` set so that the most exposed movie draws about 60% of the users (ML-1M and
  ML-20M's most rated movies reach 57% and 48%); ``c`` is about 380 for the ML-20M shape,
  and the median movie gets a few ratings.
- **Latent factors tied to genres.** Each genre has a random factor ``g_k`` (16-d); a movie's
  factor is the mean of its genres' factors plus noise, ``v_i = mean g_k + 0.5 e_i``, and
  its quality ``b_i`` rises loosely with its exposure. A user has two genre preferences
  ``p0_u``, ``p1_u`` (Dirichlet with concentration 0.15 per genre: peaked on a few genres),
  two tastes ``theta_j = p_j @ g + 0.5 e_uj`` and a bias ``c_u``.
- **Drift.** At position ``t`` of the user's ``n_u`` ratings, ``s = drift * t / (n_u - 1)``:
  the genre preference is ``(1 - s) p0_u + s p1_u`` and the taste ``theta_u(s) = (1 - s)
  theta_0 + s theta_1``. Early and late ratings follow different genres, so the order of a
  history matters and its recent part predicts the next movie best.
- **Selection.** With probability ``structure`` a rating's movie follows the user's taste: 8
  candidates, each a genre as above then a movie of that genre by exposure, of which one is
  kept with probability proportional to ``exp(4 z)``, ``z`` the affinity ``theta_u(s) . v_i``
  in standard deviations (over users and movies drawn by exposure): users rate what they
  are likely to like. The other ratings follow exposure alone. No (user, movie) pair
  repeats: a repeat is drawn again (by exposure from round 8, uniformly from round 16).
- **Ratings.** ``structure * (z + b_i + c_u) + 0.8 n``, ``n`` standard normal, mapped by its
  quantiles onto the release's scale so that the histogram is the real one (ML-1M: 5.6% ones
  to 22.6% fives; ML-20M: half stars, mode 4.0, mean near 3.5).
- **Activity and time.** Per user, 20 ratings plus a log-normal excess (median about half the
  mean, as in MovieLens), at most half the catalogue, summing exactly to ``num_ratings``.
  Timestamps rise along the user's sequence: 20% of ratings share the second of the one
  before (the bursts of ML-1M; ``to_interactions`` then keeps the file's order), about 45 s
  apart within a session, about 20 days between sessions, the whole fitted into the release's
  time range. Rows are grouped by user, then shuffled (ML-1M) or by MovieID (ML-20M), as in
  the real files.

``structure=0`` keeps these marginals (activity, exposure, rating histogram, timestamps) and
nothing else: movies follow exposure alone and ratings are noise, so popularity is the best
possible ranking. ``drift=0`` keeps one taste per user: the first and the last ratings of a
history then tell as much about the next one.

Shapes and cost
---------------
``SHAPES`` holds (users, movies, ratings). On one core of a shared 2-core machine ``generate``
takes 0.15 s for ``"small"`` (600, 1,000, 30,000); 1.3 s for ``"ml-20m-1%"``, 1% of ML-20M's
users and ratings (1,385 and 200,003) with 10% of its movies (2,674: MovieLens catalogues
grow about as the square root of their users); 7 s for ``"ml-1m"`` (6,040, 3,706,
1,000,209). Beyond a million ratings time and memory grow linearly, by about 7 s and 60 MB
per million over a fixed 0.3 GB (measured up to 8 M ratings: 58 s, 0.75 GB), so the full
``"ml-20m"`` shape (138,493, 26,744, 20,000,263) takes about 2.5 minutes and 1.5 GB, and
writing it about 0.7 GB more (the rows in file order, a block of them as text).

``write_movielens`` writes each file to a temporary name and renames it into place, and
records what it wrote in ``.recnn-synthetic.json`` (the parameters and each file's sha256):
it replaces only files listed there with their recorded content, never a user's files.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import CSV_RELEASES, DAT_RELEASES, ML100K_GENRES, RATING_SCALES, _sha256

MARKER = ".recnn-synthetic.json"
GENERATOR = "recnn_helpers.synthetic"  # what the marker says wrote the files
GENERATOR_VERSION = 1

# (users, movies, ratings): the real releases, and the shapes of the tests and the CLI.
SHAPES = {
    "small": (600, 1_000, 30_000),
    "ml-20m-1%": (1_385, 2_674, 200_003),
    "ml-1m": (6_040, 3_706, 1_000_209),
    "ml-20m": (138_493, 26_744, 20_000_263),
}


@dataclass(frozen=True)
class Layout:
    """One release's files and the statistics the generator copies from it."""

    ratings_file: str
    movies_file: str
    genre_counts: dict[str, int]  # the genre vocabulary, with its number of movies
    genres_per_movie: float  # mean number of genres of a movie
    no_genre_share: float  # share of movies with "(no genres listed)"
    rating_scale: tuple[float, float, float]  # (min, max, step), as in data.RATING_SCALES
    rating_shares: list[float]  # share of each rating value, lowest first, in percent
    time_range: tuple[int, int]  # the release's first and last timestamp
    years: tuple[int, int]  # range of the years in the titles
    id_spread: float  # largest MovieID / number of movies

    @property
    def genres(self) -> list[str]:
        return list(self.genre_counts)


# ML-1M's 18 genres (ML-100K's without "unknown"); ML-20M spells "Children" and adds IMAX.
_ML1M_COUNTS = [503, 283, 105, 251, 1200, 211, 127, 1603, 68, 44, 343, 114, 106, 471, 276, 492,
                143, 68]  # fmt: skip
_ML20M_COUNTS = [3520, 2329, 1027, 1139, 8374, 2939, 2471, 13344, 1412, 330, 2611, 1036, 1514,
                 4127, 1743, 4178, 1194, 676, 196]  # fmt: skip
_ML1M_GENRES = ML100K_GENRES[1:]
_ML20M_GENRES = [g.replace("Children's", "Children") for g in _ML1M_GENRES] + ["IMAX"]

LAYOUTS = {
    "ml-1m": Layout(
        ratings_file="ratings.dat",
        movies_file="movies.dat",
        genre_counts=dict(zip(_ML1M_GENRES, _ML1M_COUNTS, strict=True)),
        genres_per_movie=1.65,
        no_genre_share=0.0,
        rating_scale=RATING_SCALES["ml-1m"],
        rating_shares=[5.6, 10.8, 26.1, 34.9, 22.6],
        time_range=(956_703_932, 1_046_454_590),
        years=(1919, 2000),
        id_spread=1.07,
    ),
    "ml-20m": Layout(
        ratings_file="ratings.csv",
        movies_file="movies.csv",
        genre_counts=dict(zip(_ML20M_GENRES, _ML20M_COUNTS, strict=True)),
        genres_per_movie=2.0,
        no_genre_share=0.01,
        rating_scale=RATING_SCALES["ml-20m"],
        rating_shares=[1.2, 3.3, 1.4, 7.2, 4.4, 21.4, 10.5, 27.8, 7.6, 14.5],
        time_range=(789_652_009, 1_427_784_002),
        years=(1915, 2015),
        id_spread=4.9,
    ),
}

MIN_PER_USER = 20  # every MovieLens user has at least 20 ratings
DIM = 16  # latent dimension of the genre, movie and user factors
EXPOSURE_POWER = 2.6  # Zipf-Mandelbrot exponent of the exposure (ML-20M's curve)
TOP_REACH = 0.6  # the most exposed movie draws about this share of the users
CONCENTRATION = 0.15  # Dirichlet concentration of a genre preference, per genre
ITEM_NOISE = 0.5  # a movie's factor: mean of its genres' factors + ITEM_NOISE * noise
USER_NOISE = 0.5  # a user's taste: preference @ genre factors + USER_NOISE * noise
CANDIDATES = 8  # movies proposed per taste-driven rating, one kept by SELECTION * z
SELECTION = 4.0
CHUNK = 1 << 20  # rows per block where every rating gathers latent factors


@dataclass
class Synthetic:
    """A generated data set: one row per rating, grouped by user in time order, and the
    catalogue sorted by MovieID."""

    user_id: np.ndarray  # int64 [n], 1..num_users
    movie_id: np.ndarray  # int64 [n]
    rating: np.ndarray  # float32 [n]
    timestamp: np.ndarray  # int64 [n]
    movie_ids: np.ndarray  # int64 [num_items], sorted
    titles: list[str]  # "Some Title (1995)"
    genres: list[str]  # "A|B", or "(no genres listed)"


# --------------------------------------------------------------------------- generation


@dataclass
class _Planted:
    """The hidden model, with the cumulative sums that the draws search."""

    tastes: np.ndarray  # [2, num_users, DIM]: theta_u at s = 0 and s = 1
    item_factors: np.ndarray  # [num_items, DIM]
    pref_cdf: np.ndarray  # ``_flat_cdf`` of p0_u (rows 0..U-1) and p1_u (rows U..2U-1)
    genre_cdf: np.ndarray  # ``_flat_cdf`` of each genre's movies by exposure
    exposure_cdf: np.ndarray  # [num_items]
    num_genres: int
    user: np.ndarray  # int32 [n]: the user of each rating (a slot), in time order
    s: np.ndarray  # float64 [n]: each slot's place on the user's drift, 0 to ``drift``
    affinity_sd: float = 1.0  # sd of theta . v over slots and movies drawn by exposure


def generate(
    layout: str,
    num_users: int,
    num_items: int,
    num_ratings: int,
    seed: int = 0,
    *,
    structure: float = 1.0,
    drift: float = 1.0,
) -> Synthetic:
    """A data set of the given shape with the planted structure of the module docstring.

    ``layout`` (``"ml-1m"`` or ``"ml-20m"``) sets the genres, rating scale, time range and
    title years; ``structure`` and ``drift`` (each in [0, 1]) set how much there is to learn.
    Everything is drawn from ``np.random.default_rng(seed)``: same arguments, same data.
    """
    spec = _layout(layout)
    _check_shape(num_users, num_items, num_ratings)
    for name, value in (("structure", structure), ("drift", drift)):
        if isinstance(value, bool) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    rng = np.random.default_rng(seed)

    # Catalogue: ids with gaps, genres, exposure, factors tied to the genres, quality.
    max_id = max(int(num_items * spec.id_spread), num_items)
    movie_ids = np.sort(rng.choice(max_id, num_items, replace=False)) + 1
    in_genre = _movie_genres(rng, spec, num_items)  # bool [num_items, num_genres]
    exposure = _exposure(rng, num_items, TOP_REACH * num_users / num_ratings)
    genre_factors = rng.normal(0.0, DIM**-0.5, (len(spec.genres), DIM))
    item_factors = in_genre @ genre_factors / np.maximum(in_genre.sum(1, keepdims=True), 1)
    item_factors += ITEM_NOISE * rng.normal(0.0, DIM**-0.5, item_factors.shape)
    log_exposure = np.log(exposure)
    quality = 0.25 * (log_exposure - log_exposure.mean()) / log_exposure.std()
    quality += 0.35 * rng.normal(size=num_items)
    by_genre = (in_genre * exposure[:, None]).T  # movies of a genre by exposure
    by_genre[by_genre.sum(1) == 0] = exposure  # a genre without movies: all movies

    # Users: two genre preferences and tastes (start and end of the drift), bias, activity.
    genre_share = (in_genre.sum(0) + 1.0) / (in_genre.sum() + len(spec.genres))
    prefs = rng.dirichlet(CONCENTRATION * len(spec.genres) * genre_share, (2, num_users))
    tastes = prefs @ genre_factors + USER_NOISE * rng.normal(0.0, DIM**-0.5, (2, num_users, DIM))
    bias = rng.normal(0.0, 0.35, num_users)
    counts = _user_counts(rng, num_users, num_ratings, cap=num_items // 2)

    # One slot per rating, in time order: its user and its place s on the user's drift.
    offsets = np.concatenate([[0], np.cumsum(counts)])
    user = np.repeat(np.arange(num_users, dtype=np.int32), counts)
    s = np.arange(num_ratings, dtype=np.float64)
    s -= offsets[:-1][user]
    s *= drift / np.maximum(counts - 1, 1)[user]
    timestamp = _timestamps(rng, counts, offsets, spec.time_range)
    planted = _Planted(
        tastes.astype(np.float32), item_factors.astype(np.float32),
        _flat_cdf(prefs.reshape(2 * num_users, -1)), _flat_cdf(by_genre), np.cumsum(exposure),
        len(spec.genres), user, s,
    )  # fmt: skip

    # z: affinity in standard deviations over slots and movies drawn by exposure alone.
    probe = np.sort(rng.integers(0, num_ratings, 10_000))
    a = _affinity(planted, probe, _draw_exposure(rng, planted, len(probe)))
    planted.affinity_sd, mean = a.std() + 1e-12, a.mean()
    item = _choose_items(rng, planted, rng.random(num_ratings) < structure)
    latent = np.empty(num_ratings)
    for start in range(0, num_ratings, CHUNK):  # z of every rating, in blocks
        rows = slice(start, start + CHUNK)
        latent[rows] = _affinity(planted, rows, item[rows])
    latent -= mean
    latent /= planted.affinity_sd
    latent += quality[item]
    latent += bias[user]
    latent *= structure
    latent += 0.8 * rng.normal(size=num_ratings)
    rating = _quantise(latent, spec)
    titles, genres = _titles(rng, spec, in_genre)
    return Synthetic(user + np.int64(1), movie_ids[item], rating, timestamp, movie_ids, titles,
                     genres)  # fmt: skip


def _layout(layout: str) -> Layout:
    if layout not in LAYOUTS:
        raise ValueError(
            f"unknown layout {layout!r}: use 'ml-1m' (ratings.dat, movies.dat) or 'ml-20m' "
            "(ratings.csv, movies.csv; also the layout of ML-25M and ml-latest)"
        )
    return LAYOUTS[layout]


def _check_shape(num_users: int, num_items: int, num_ratings: int) -> None:
    for name, value in (("num_users", num_users), ("num_items", num_items),
                        ("num_ratings", num_ratings)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if num_items < 2 * MIN_PER_USER:
        raise ValueError(
            f"num_items={num_items}: need at least {2 * MIN_PER_USER} items, since every user "
            f"rates at least {MIN_PER_USER} and at most half the catalogue"
        )
    low, high = MIN_PER_USER * num_users, (num_items // 2) * num_users
    if not low <= num_ratings <= high:
        raise ValueError(
            f"num_ratings={num_ratings:,} does not fit {num_users:,} users with "
            f"{MIN_PER_USER} to {num_items // 2} ratings each (half of {num_items:,} items): "
            f"give between {low:,} and {high:,}"
        )


def _movie_genres(rng: np.random.Generator, spec: Layout, num_items: int) -> np.ndarray:
    """bool [num_items, num_genres]: 1 + Poisson genres per movie (at most 6), drawn without
    replacement by the release's genre frequencies (an exponential race); some have none."""
    weights = np.array(list(spec.genre_counts.values()), dtype=np.float64)
    k = np.minimum(1 + rng.poisson(spec.genres_per_movie - 1, num_items), 6)
    race = rng.exponential(size=(num_items, len(weights))) / weights
    rank = np.argsort(np.argsort(race, axis=1), axis=1)
    in_genre = rank < k[:, None]
    in_genre[rng.random(num_items) < spec.no_genre_share] = False
    return in_genre


def _exposure(rng: np.random.Generator, num_items: int, top: float) -> np.ndarray:
    """Zipf-Mandelbrot weights ``(rank + c) ** -EXPOSURE_POWER`` over a random ranking of the
    movies (sum 1), ``c`` set by bisection so that the first weighs ``top`` (near-uniform
    weights when ``top`` is below ``1 / num_items``)."""
    ranks = np.arange(1, num_items + 1, dtype=np.float64)

    def weights(log_c: float) -> np.ndarray:
        w = (ranks + np.exp(log_c)) ** -EXPOSURE_POWER
        return w / w.sum()

    lo, hi = -20.0, 25.0  # log c; the first weight falls as c grows
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if weights(mid)[0] > top else (lo, mid)
    return weights(hi)[rng.permutation(num_items)]


def _user_counts(rng: np.random.Generator, num_users: int, total: int, cap: int) -> np.ndarray:
    """Ratings per user: ``MIN_PER_USER`` plus a log-normal excess, at most ``cap``, summing
    exactly to ``total`` (the excess's scale is found by bisection)."""
    excess = rng.lognormal(0.0, 1.38, num_users)
    budget, room = total - MIN_PER_USER * num_users, cap - MIN_PER_USER

    def scaled(factor: float) -> np.ndarray:
        return np.minimum(excess * factor, room).astype(np.int64)

    lo, hi = 0.0, budget / excess.sum() * 4 + 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if scaled(mid).sum() <= budget else (lo, mid)
    extra = scaled(lo)
    short = budget - int(extra.sum())
    while short:  # the remainder, one more rating each for users below the cap
        free = np.flatnonzero(extra < room)
        chosen = rng.choice(free, min(short, len(free)), replace=False)
        extra[chosen] += 1
        short -= len(chosen)
    return MIN_PER_USER + extra


def _flat_cdf(weights: np.ndarray) -> np.ndarray:
    """The rows' cumulative sums of ``weights`` [R, K], each scaled to end at 1, laid end to
    end with row ``r`` shifted by ``r``: one sorted array for ``_categorical``."""
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    cdf += np.arange(len(weights))[:, None]
    return cdf.ravel()


def _categorical(rng: np.random.Generator, flat_cdf: np.ndarray, num_cols: int, rows):
    """One draw per entry of ``rows`` from that row of the weights of ``flat_cdf``, by one
    binary search for ``row + uniform`` (no [len(rows), num_cols] array)."""
    u = rng.random(len(rows))
    u += rows
    col = np.searchsorted(flat_cdf, u, side="right") - rows.astype(np.int64) * num_cols
    return np.clip(col, 0, num_cols - 1)


def _draw_genre(rng, planted: _Planted, slots: np.ndarray) -> np.ndarray:
    """A genre per slot from ``(1 - s) p0_u + s p1_u``: from ``p1`` with probability ``s``."""
    late = rng.random(len(slots)) < planted.s[slots]
    row = planted.user[slots] + late * len(planted.tastes[0])
    return _categorical(rng, planted.pref_cdf, planted.num_genres, row)


def _theta(planted: _Planted, slots) -> np.ndarray:
    """Each slot's taste ``(1 - s) theta0_u + s theta1_u`` [B, DIM]."""
    user, w = planted.user[slots], planted.s[slots, None]
    return (1 - w) * planted.tastes[0][user] + w * planted.tastes[1][user]


def _affinity(planted: _Planted, slots, item: np.ndarray) -> np.ndarray:
    """``theta . v_i`` of the slots' tastes and movies ``item`` [B] or [B, M]."""
    theta, v = _theta(planted, slots), planted.item_factors[item]
    return np.einsum("bd,bd->b" if item.ndim == 1 else "bd,bmd->bm", theta, v)


def _draw_exposure(rng, planted: _Planted, n: int) -> np.ndarray:
    """``n`` movies drawn by exposure (with repeats)."""
    cdf = planted.exposure_cdf
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1]), len(cdf) - 1)


def _draw_by_taste(rng, planted: _Planted, slots: np.ndarray) -> np.ndarray:
    """Per slot, ``CANDIDATES`` movies, each of a genre drawn from the slot's preference and
    by exposure within the genre; one is kept with probability proportional to
    ``exp(SELECTION * z)`` (Gumbel-max)."""
    num_items, m = len(planted.exposure_cdf), CANDIDATES
    out = np.empty(len(slots), dtype=np.int64)
    for start in range(0, len(slots), CHUNK // m):
        block = slots[start : start + CHUNK // m]
        b = len(block)
        genre = _draw_genre(rng, planted, np.repeat(block, m))
        cand = _categorical(rng, planted.genre_cdf, num_items, genre).reshape(b, m)
        z = _affinity(planted, block, cand) / planted.affinity_sd
        pick = np.argmax(SELECTION * z + rng.gumbel(size=z.shape), axis=1)
        out[start : start + b] = cand[np.arange(b), pick]
    return out


def _choose_items(rng, planted: _Planted, taste_driven: np.ndarray) -> np.ndarray:
    """The movie index of every slot, no (user, movie) twice. All pending slots are drawn at
    once, round after round: taste-driven slots by ``_draw_by_taste``, the others by exposure;
    a movie the user has already got is drawn again (by exposure from round 8, uniformly from
    round 16, so that heavy users always find unrated movies)."""
    n, num_items = len(planted.user), len(planted.exposure_cdf)
    item = np.empty(n, dtype=np.int64)
    taken = np.empty(0, dtype=np.int64)  # sorted keys user * num_items + movie already drawn
    pending = np.arange(n)
    for rnd in range(200):
        if not len(pending):
            return item
        if rnd < 16:
            draw = _draw_exposure(rng, planted, len(pending))
        else:
            draw = rng.integers(0, num_items, len(pending))
        if rnd < 8:
            by_taste = np.flatnonzero(taste_driven[pending])
            draw[by_taste] = _draw_by_taste(rng, planted, pending[by_taste])
        key = planted.user[pending].astype(np.int64) * num_items + draw
        ok = np.ones(len(pending), dtype=bool)
        if len(taken):
            at = np.minimum(np.searchsorted(taken, key), len(taken) - 1)
            ok &= taken[at] != key
        # Among this round's repeats of one (user, movie), the earliest slot keeps it.
        order = np.argsort(np.where(ok, key, -1), kind="stable")
        repeat = np.zeros(len(order), dtype=bool)
        repeat[1:] = key[order[1:]] == key[order[:-1]]
        ok[order[repeat]] = False
        item[pending[ok]] = draw[ok]
        taken = np.sort(np.concatenate([taken, np.sort(key[ok])]), kind="stable")
        pending = pending[~ok]
    raise RuntimeError(f"{len(pending)} ratings found no unrated movie; please report this bug")


def _timestamps(rng, counts, offsets, time_range) -> np.ndarray:
    """Increasing per user: 20% of ratings in the second of the one before, others about 45 s
    apart within a session, about 20 days between sessions (one starts at 1 rating in 12); a
    user's span is fitted into ``time_range`` (squeezed, with more ties, when it would not
    fit)."""
    n = int(offsets[-1])
    gap = rng.geometric(1 / 45, n).astype(np.int64)
    gap[rng.random(n) < 0.2] = 0
    breaks = np.flatnonzero(rng.random(n) < 1 / 12)  # a new session
    gap[breaks] = rng.exponential(20 * 86_400, len(breaks)).astype(np.int64) + 60
    first = offsets[:-1]
    gap[first] = 0
    elapsed = np.cumsum(gap)
    del gap
    elapsed -= np.repeat(elapsed[first], counts)
    span = elapsed[offsets[1:] - 1]
    low, high = time_range
    squeeze = np.minimum(1.0, 0.9 * (high - low) / np.maximum(span, 1))
    start = low + (rng.random(len(counts)) * (high - low - span * squeeze)).astype(np.int64)
    elapsed = (elapsed * np.repeat(squeeze, counts)).astype(np.int64)
    elapsed += np.repeat(start, counts)
    return elapsed


def _quantise(latent: np.ndarray, spec: Layout) -> np.ndarray:
    """Map ``latent`` onto the rating scale by its quantiles, so the histogram is the
    release's (``spec.rating_shares``) whatever the spread of ``latent``."""
    low, _, step = spec.rating_scale
    shares = np.asarray(spec.rating_shares) / sum(spec.rating_shares)
    sample = latent[:: max(1, len(latent) // 1_000_000)]
    cuts = np.quantile(sample, np.cumsum(shares)[:-1])
    return (low + step * np.searchsorted(cuts, latent)).astype(np.float32)


# Title words: a few hold latin-1 letters, as ML-1M's "Misérables, Les (1995)" does.
_WORDS_A = ["Last", "Silent", "Broken", "Golden", "Hidden", "Dark", "Lost", "Little", "Wild",
            "Secret", "Crimson", "Empty", "Blue", "Long", "Cold", "Bright", "Second", "Deadly",
            "Sweet", "Strange", "Naked", "Iron", "Frozen", "Burning"]  # fmt: skip
_WORDS_B = ["Night", "River", "Kingdom", "Summer", "Road", "Heart", "City", "Storm", "Garden",
            "Mirror", "Island", "Promise", "Train", "Letter", "Voyage", "Café", "Déjà Vu",
            "Misérables", "Harbor", "Witness", "Dream", "Frontier", "Machine", "Angel"]  # fmt: skip


def _titles(rng, spec: Layout, in_genre: np.ndarray) -> tuple[list[str], list[str]]:
    """'Last River (1987)', 'Golden Night, The (1995)', 'Storm 2 (2001)'; genres 'A|B'."""
    num_items = len(in_genre)
    lo, hi = spec.years
    years = np.maximum(hi - rng.exponential((hi - lo) / 4, num_items).astype(int), lo)
    a = rng.integers(0, len(_WORDS_A), num_items)
    b = rng.integers(0, len(_WORDS_B), num_items)
    kind = rng.integers(0, 10, num_items)  # 0-1: ", The" (quoted in a csv), 2: a sequel number
    titles = []
    for j in range(num_items):  # one string per movie, never per rating
        t = f"{_WORDS_A[a[j]]} {_WORDS_B[b[j]]}"
        if kind[j] < 2:
            t += ", The"
        elif kind[j] == 2:
            t += f" {2 + j % 3}"
        titles.append(f"{t} ({years[j]})")
    names = np.array(spec.genres, dtype=object)
    genres = ["|".join(names[row]) or "(no genres listed)" for row in in_genre]
    return titles, genres


# --------------------------------------------------------------------------- writing


def write_movielens(
    folder: str | Path,
    layout: str = "ml-1m",
    num_users: int = 600,
    num_items: int = 1_000,
    num_ratings: int = 30_000,
    seed: int = 0,
    *,
    structure: float = 1.0,
    drift: float = 1.0,
) -> dict:
    """Generate a data set (``generate``) and write it into ``folder`` in ``layout``'s files.

    ``folder`` is the data set's own folder: ``load_movielens(layout,
    data_dir=folder.parent)`` reads it when ``folder.name == layout``. Each file is written
    to a temporary name and renamed into place; ``.recnn-synthetic.json`` records the
    parameters and each file's sha256. A file that exists already is replaced only when that
    record lists it with its current content; otherwise ``FileExistsError``, and nothing is
    written. Same arguments, same bytes. Returns the record.
    """
    from .io import atomic_write  # imports torch: only when writing

    folder = Path(folder)
    spec = _layout(layout)
    names = [spec.ratings_file, spec.movies_file]
    record = _check_target(folder, names)
    params = dict(layout=layout, num_users=num_users, num_items=num_items,
                  num_ratings=num_ratings, seed=seed, structure=structure, drift=drift)  # fmt: skip
    data = generate(**params)
    files = {k: v for k, v in record.get("files", {}).items() if k not in names}
    with atomic_write(folder / names[0]) as ratings_tmp, atomic_write(folder / names[1]) as tmp:
        _write_ratings(ratings_tmp, data, layout, seed)
        _write_movies(tmp, data, layout)
        new = {names[0]: _sha256(ratings_tmp), names[1]: _sha256(tmp)}
        # Until both renames are done, the old and the new content both count as ours.
        swap = {n: [new[n], *record.get("files", {}).get(n, [])] for n in names}
        _write_marker(folder, {**files, **swap}, params)
    return _write_marker(folder, {**files, **{n: [new[n]] for n in names}}, params)


def _check_target(folder: Path, names: list[str]) -> dict:
    """The folder's record (empty when there is none); raise when a file to be written exists
    and the record does not list it with its current content."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} is a file: give a folder to write the data set into")
    marker = folder / MARKER
    record = {}
    if marker.exists():
        try:
            record = json.loads(marker.read_text())
            ours = record.get("generator") == GENERATOR and isinstance(record.get("files"), dict)
        except (ValueError, AttributeError, OSError):
            ours = False
        if not ours:
            raise FileExistsError(
                f"{marker} was not written by {GENERATOR} (or was edited): nothing was "
                f"written. Remove it if {folder} holds nothing of yours, or choose another "
                "folder."
            )
    listed = record.get("files", {})
    for name in names:
        path = folder / name
        if not path.exists() or (path.is_file() and _sha256(path) in listed.get(name, [])):
            continue
        why = f"{MARKER} lists it with other content" if record else f"there is no {MARKER}"
        raise FileExistsError(
            f"{path} exists and was not written by {GENERATOR} ({why}): nothing was "
            "written. It may be a real MovieLens file: move it away, or write the "
            "synthetic data set into another folder."
        )
    return record


def _write_marker(folder: Path, files: dict, params: dict) -> dict:
    from .io import atomic_write

    record = {"generator": GENERATOR, "version": GENERATOR_VERSION, "params": params,
              "files": {k: files[k] for k in sorted(files)}}  # fmt: skip
    with atomic_write(folder / MARKER) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return record


def _write_ratings(path: Path, data: Synthetic, layout: str, seed: int) -> None:
    """By pyarrow's csv writer, in blocks (ML-1M's '::' written as ':', then doubled). Rows
    are grouped by user as in the real files: by MovieID within a user in ML-20M, in a
    shuffled order (seeded) in ML-1M; ``load_movielens`` restores the time order."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if layout == "ml-20m":
        order = np.lexsort((data.movie_id, data.user_id))
    else:
        noise = np.random.default_rng([seed, 1]).random(len(data.user_id))
        order = np.lexsort((noise, data.user_id))
    low, high, step = LAYOUTS[layout].rating_scale
    values = np.arange(low, high + step / 2, step)
    labels = [f"{v:.0f}" if layout == "ml-1m" else f"{v:.1f}" for v in values]
    code = np.rint((data.rating - low) / step).astype(np.int8)
    options = pacsv.WriteOptions(include_header=False, quoting_style="none",
                                 delimiter=":" if layout == "ml-1m" else ",")  # fmt: skip
    with open(path, "wb") as f:
        if layout == "ml-20m":
            f.write(b"userId,movieId,rating,timestamp\n")
        for a in range(0, len(order), CHUNK):
            rows = order[a : a + CHUNK]
            table = pa.table({
                "user": pa.array(data.user_id[rows], type=pa.int64()),
                "movie": pa.array(data.movie_id[rows], type=pa.int64()),
                "rating": pa.DictionaryArray.from_arrays(code[rows], pa.array(labels)),
                "timestamp": pa.array(data.timestamp[rows], type=pa.int64()),
            })  # fmt: skip
            block = io.BytesIO()
            pacsv.write_csv(table, block, options)
            text = block.getvalue()
            f.write(text.replace(b":", b"::") if layout == "ml-1m" else text)


def _write_movies(path: Path, data: Synthetic, layout: str) -> None:
    """``movies.dat`` (latin-1, '::'-separated) or ``movies.csv`` (UTF-8, csv-quoted)."""
    if layout == "ml-1m":
        lines = [f"{m}::{t}::{g}\n" for m, t, g in zip(data.movie_ids, data.titles, data.genres,
                                                       strict=True)]  # fmt: skip
        path.write_bytes("".join(lines).encode("latin-1"))
        return
    import pandas as pd

    frame = pd.DataFrame({"movieId": data.movie_ids, "title": data.titles, "genres": data.genres})
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recnn_helpers.synthetic",
        description="Write a synthetic MovieLens data set with planted structure.",
    )
    parser.add_argument("folder", type=Path, help="the data set's folder, e.g. data/ml-1m")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="ml-1m")
    parser.add_argument(
        "--shape",
        choices=list(SHAPES),
        default="small",
        help="preset (users, items, ratings); --users, --items, --ratings override it",
    )
    parser.add_argument("--users", type=int)
    parser.add_argument("--items", type=int)
    parser.add_argument("--ratings", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--structure", type=float, default=1.0, help="0: nothing to learn")
    parser.add_argument("--drift", type=float, default=1.0, help="0: no drift of taste")
    args = parser.parse_args(argv)
    users, items, ratings = SHAPES[args.shape]
    shape = (args.users or users, args.items or items, args.ratings or ratings)
    t0 = time.perf_counter()
    try:
        write_movielens(args.folder, args.layout, *shape, args.seed, structure=args.structure,
                        drift=args.drift)  # fmt: skip
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {shape[2]:,} ratings of {shape[0]:,} users on {shape[1]:,} movies "
        f"({args.layout} layout, seed {args.seed}) in {time.perf_counter() - t0:.1f} s:"
    )
    spec = LAYOUTS[args.layout]
    for name in (spec.ratings_file, spec.movies_file, MARKER):
        path = args.folder / name
        print(f"  {path}  {path.stat().st_size:,} bytes")
    # Any release of the same layout reads these files from its own folder name.
    same_layout = DAT_RELEASES if args.layout == "ml-1m" else CSV_RELEASES
    name = args.folder.name if args.folder.name in same_layout else args.layout
    print(f'read it with load_movielens("{name}", data_dir="{args.folder.parent}")')
    if args.folder.name != name:
        print(f"  (load_movielens reads <data_dir>/<release>/, one of {', '.join(same_layout)}:"
              " rename the folder so)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
