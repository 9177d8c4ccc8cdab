"""Figures shared by the notebooks, in one style.

Every function returns its matplotlib Figure and, given `save=path`, also writes a PNG there.
Figures are made with pyplot, so Jupyter shows them at the end of the cell: assign the result
(`fig = plot_losses(...)`) rather than leaving it as the cell's last expression, or the
figure is shown twice. Arrays may be numpy arrays or torch tensors.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import cycle
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from cycler import cycler
from matplotlib.figure import Figure
from scipy.signal import lfilter
from scipy.stats import wasserstein_distance

from recnn_helpers.io import PathLike, atomic_write, check_output_path, to_numpy

__all__ = [
    "PALETTE",
    "SAVE_DPI",
    "plot_losses",
    "plot_metric_bars",
    "plot_reconstruction_kde",
    "plot_similarity_matrices",
    "set_style",
    "similarity_matrix",
    "mean_pairwise_cosine",
    "smooth",
]

# seaborn's "colorblind" palette, spelled out so that colours do not move with its version.
PALETTE = (
    "#0173b2",
    "#de8f05",
    "#029e73",
    "#d55e00",
    "#cc78bc",
    "#ca9161",
    "#fbafe4",
    "#949494",
    "#ece133",
    "#56b4e9",
)
SAVE_DPI = 120
METRICS = ("cosine", "dot", "euclidean")


def set_style() -> None:
    """Apply the project style to every later figure; the notebooks call it once after imports."""
    sns.set_theme(context="notebook", style="whitegrid", palette=list(PALETTE))


@contextmanager
def _style() -> Iterator[None]:
    """The project style for the figures drawn inside, whether or not set_style() ran.

    Only the style's own rcParams are saved and restored. ``mpl.rc_context`` restores every
    rcParam instead, and when a kernel's first figure is drawn inside it, the inline backend
    that the figure loads turns interactive mode on, the context turns it back off on exit,
    and no later figure of that kernel is displayed under its cell.
    """
    style = {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context("notebook"),
        "axes.prop_cycle": cycler(color=PALETTE),
    }
    saved = {key: mpl.rcParams[key] for key in style}
    mpl.rcParams.update(style)
    try:
        yield
    finally:
        mpl.rcParams.update(saved)


def save_figure(fig: Figure, path: PathLike) -> None:
    """Write ``fig`` as a PNG at ``path`` atomically, creating the folder.

    Every figure of the project goes through here: the plot helpers (their ``save=``) and the
    figures the notebooks draw themselves, so a run never leaves half a file in ``res/``.
    """
    check_output_path(path)
    with atomic_write(path) as tmp:
        # format given explicitly: the temporary name must not decide it.
        fig.savefig(tmp, format="png", dpi=SAVE_DPI, bbox_inches="tight")


def _save(fig: Figure, save: PathLike | None) -> None:
    if save is not None:
        save_figure(fig, save)


def smooth(values: Any, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average, debiased as TensorBoard does (first output = first input).

    Used by `plot_losses`. Non-finite values stay NaN and are skipped by the average.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    x = to_numpy(values).astype(np.float64).ravel()
    out = np.full_like(x, np.nan)
    finite = np.isfinite(x)
    # NB: starting the average at 0 biases early values toward 0; dividing by 1 - w^t
    # removes that bias (as in Adam), so the curve starts on the first raw value.
    ema = lfilter([1.0 - weight], [1.0, -weight], x[finite])
    out[finite] = ema / (1.0 - weight ** np.arange(1, ema.size + 1))
    return out


def _curve(data: Any) -> tuple[np.ndarray, np.ndarray]:
    # A curve is either the values (x = 0, 1, ...) or a (steps, values) pair for logged
    # intervals; a 2-tuple of scalars is two values, not a pair.
    if isinstance(data, tuple) and len(data) == 2 and to_numpy(data[0]).ndim == 1:
        steps, values = (to_numpy(d).ravel() for d in data)
        if steps.shape != values.shape:
            raise ValueError(
                f"{steps.size} steps but {values.size} values in a (steps, values) curve"
            )
        return steps, values
    values = to_numpy(data).astype(np.float64).ravel()
    return np.arange(values.size), values


def _panels(history: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    nested = [isinstance(v, Mapping) for v in history.values()]
    if all(nested) and nested:
        return dict(history)
    if any(nested):
        raise ValueError("history mixes panels (dicts) and curves; nest every curve in a panel")
    return {"": history}


def plot_losses(
    history: Mapping[str, Any],
    smoothing: float = 0.9,
    title: str | None = None,
    save: PathLike | None = None,
    reference_lines: Mapping[str, Mapping[str, float]] | None = None,
    min_points_to_smooth: int = 50,
    xlabel: str = "step",
    legend: str = "panel",
    log_scale: Collection[str] = (),
) -> Figure:
    """Plot smoothed loss curves over the raw ones, one panel per key of a nested history.

    Used by the training sections of the vanilla RL, BCQ and REINFORCE notebooks.
    `history` is `{"loss": [...]}` (one panel) or `{"value": {"train": [...]}, ...}`; a
    curve may also be `(steps, values)`. A curve with fewer than `min_points_to_smooth`
    points (a validation figure every few hundred updates) is drawn as it is, with markers:
    an average over ten points would show values the run never had. `reference_lines` maps a
    panel to `{label: y}` horizontal lines (e.g. the largest return the rewards allow).
    `legend="outside"` draws one legend beside the panels (for many curves, or the same curves
    in every panel) instead of one in each; `log_scale` names the panels with a log y axis.
    The figure is final when it returns, so `save=` writes what the reader sees.
    """
    panels = _panels(history)
    reference_lines = reference_lines or {}
    for what, names in (("reference_lines", reference_lines), ("log_scale", log_scale)):
        unknown = set(names) - set(panels)
        if unknown:
            raise KeyError(f"{what} names panels {sorted(unknown)}; panels: {list(panels)}")
    if legend not in ("panel", "outside"):
        raise ValueError(f"legend must be 'panel' or 'outside', got {legend!r}")
    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    width = 5 * ncols + (2.5 if legend == "outside" else 0)  # NB: room for the legend beside
    with _style():
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(width, 3.6 * nrows), squeeze=False, layout="constrained"
        )
        for ax, (name, curves) in zip(axes.flat, panels.items(), strict=False):
            for color, (label, data) in zip(cycle(PALETTE), curves.items()):
                steps, values = _curve(data)
                if len(values) < min_points_to_smooth:
                    ax.plot(steps, values, color=color, linewidth=2, marker="o", markersize=3,
                            label=label)  # fmt: skip
                    continue
                ax.plot(steps, values, color=color, alpha=0.25, linewidth=1)
                ax.plot(steps, smooth(values, smoothing), color=color, linewidth=2, label=label)
            for line_style, (label, y) in zip(
                cycle(("--", ":", "-.")), reference_lines.get(name, {}).items()
            ):
                ax.axhline(y, color="0.3", linestyle=line_style, linewidth=1.2, label=label)
            ax.set(title=name, xlabel=xlabel, ylabel=name or "loss")
            if name in log_scale:
                ax.set_yscale("log")
            if legend == "panel":
                ax.legend(fontsize="small", framealpha=0.8)
        for ax in axes.flat[len(panels) :]:
            ax.set_visible(False)
        if legend == "outside":
            # One entry per label, in the order the panels first draw them.
            entries = {}
            for ax in axes.flat[: len(panels)]:
                for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                    entries.setdefault(label, handle)
            fig.legend(entries.values(), entries.keys(), loc="outside right center",
                       fontsize="small")  # fmt: skip
        if title:
            fig.suptitle(title)
        _save(fig, save)
    return fig


def mean_pairwise_cosine(x: Any) -> float:
    """The mean cosine similarity over the pairs of distinct rows of `x` (a zero row counts 0),
    in O(rows x dim): for unit rows, the sum over pairs is (|sum of rows|^2 - sum of |row|^2) / 2.
    The pairwise matrix itself would take 143 GiB for ML-20M's 138,493 users."""
    x = to_numpy(x).astype(np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"expected a 2-D array of at least 2 rows (actions), got {x.shape}")
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    total = unit.sum(0)
    pairs = (total @ total - np.sum(unit * unit)) / 2
    return float(pairs / (len(x) * (len(x) - 1) / 2))


def similarity_matrix(x: Any, metric: str = "cosine") -> np.ndarray:
    """Pairwise similarities between the rows of `x`: cosine, dot, or euclidean (= -distance).

    Used by `plot_similarity_matrices`, so the notebooks can assert on the matrices it shows.
    """
    x = to_numpy(x).astype(np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array (rows = actions), got shape {x.shape}")
    if metric == "cosine":
        # Floor the norm so that a zero action gives zeros instead of NaN.
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x @ x.T
    if metric == "dot":
        return x @ x.T
    if metric == "euclidean":
        sq = np.sum(x**2, axis=1)
        return -np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0))
    raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")


def plot_similarity_matrices(
    real_actions: Any,
    generated_actions: Any,
    n: int = 50,
    metric: str = "cosine",
    save: PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """Heatmaps of pairwise similarities of real next items and generated actions, same scale.

    Used by the distribution checks of the vanilla RL and BCQ notebooks. Rows of the two
    arrays belong to the same states; the first `n` rows are shown.
    """
    real = similarity_matrix(to_numpy(real_actions)[:n], metric)
    generated = similarity_matrix(to_numpy(generated_actions)[:n], metric)
    vmin = min(real.min(), generated.min())
    vmax = max(real.max(), generated.max())
    with _style():
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
        for ax, matrix, name in zip(
            axes, (real, generated), ("real next items", "generated actions"), strict=True
        ):
            image = ax.imshow(matrix, vmin=vmin, vmax=vmax, cmap="viridis", interpolation="none")
            ax.set(title=name, xlabel="state", ylabel="state")
            ax.grid(False)
        fig.colorbar(image, ax=axes, label=f"{metric} similarity", shrink=0.9)
        if title:
            fig.suptitle(title)
        _save(fig, save)
    return fig


def _errors(name: str, errors: Any) -> np.ndarray:
    x = to_numpy(errors).astype(np.float64).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"reconstruction errors {name!r} are empty or not finite")
    return x


def plot_reconstruction_kde(
    real_errors: Any,
    generated_errors: Any | Mapping[str, Any],
    labels: Sequence[str] = ("real", "generated"),
    save: PathLike | None = None,
    title: str | None = None,
    log_scale: bool | None = None,
) -> tuple[Figure, dict[str, float]]:
    """KDE of autoencoder reconstruction errors, real vs generated actions.

    Used by the distribution checks of the vanilla RL and BCQ notebooks. `generated_errors`
    is one array (named `labels[1]`) or a dict label -> errors. Returns the figure and the
    Wasserstein distance between the real errors and each generated set. `log_scale=None`
    draws the error axis on a log scale when the sets' medians are more than 30 times apart
    (a collapsed actor's errors sit orders of magnitude above the items'; on a linear axis the
    real items would be a spike at 0).
    """
    real = _errors(labels[0], real_errors)
    if not isinstance(generated_errors, Mapping):
        generated_errors = {labels[1]: generated_errors}
    generated = {name: _errors(name, e) for name, e in generated_errors.items()}
    distances = {name: float(wasserstein_distance(real, e)) for name, e in generated.items()}
    everything = [real, *generated.values()]
    if log_scale is None:
        medians = [np.median(e) for e in everything]
        log_scale = bool(min(medians) > 0 and max(medians) / min(medians) > 30)
    if log_scale and min(e.min() for e in everything) <= 0:
        raise ValueError("a log axis needs positive errors; pass log_scale=False")
    with _style():
        fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
        _density(ax, real, PALETTE[0], labels[0], log_scale)
        for color, (name, e) in zip(cycle(PALETTE[1:]), generated.items()):
            _density(ax, e, color, f"{name} (W = {distances[name]:.3g})", log_scale)
        xlabel = "reconstruction error" + (" (log scale)" if log_scale else "")
        ax.set(xlabel=xlabel, ylabel="density" + (" of log error" if log_scale else ""))
        ax.set_title(title or "Autoencoder reconstruction error (W = Wasserstein distance to real)")
        ax.legend(fontsize="small", framealpha=0.8)
        _save(fig, save)
    return fig, distances


def _density(ax: plt.Axes, x: np.ndarray, color: str, label: str, log_scale: bool) -> None:
    if np.ptp(x) == 0:
        # A collapsed generator gives one repeated error; a KDE of it is undefined, so mark it.
        ax.axvline(x[0], color=color, linewidth=2, label=label)
        if log_scale:
            ax.set_xscale("log")
        return
    # cut=0: errors are non-negative, so the density must not spill below the data.
    sns.kdeplot(x=x, ax=ax, color=color, fill=True, alpha=0.3, cut=0, label=label,
                log_scale=log_scale)  # fmt: skip


def plot_metric_bars(
    results: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = ("HR@10", "NDCG@10"),
    errors: Mapping[str, Mapping[str, float]] | None = None,
    save: PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """Bars of each model, one panel per metric (each on its own axis), values written on them.

    Used by the results notebook and the evaluation sections of the vanilla RL, BCQ and
    REINFORCE notebooks. `results` is model -> metric -> value; `errors` are 95% half-widths.
    Metrics of different kinds (accuracy, coverage) never share an axis, and a bar of 0 reads
    "0" rather than looking like a missing value.
    """
    models = list(results)
    values = _metric_table(results, models, metrics, "results")
    err = None if errors is None else _metric_table(errors, models, metrics, "errors")
    colors = [color for color, _ in zip(cycle(PALETTE), models)]
    with _style():
        fig, axes = plt.subplots(
            1,
            len(metrics),
            figsize=(max(3.2 * len(metrics), 6), 1.2 + 0.32 * len(models) + 2.2),
            squeeze=False,
            layout="constrained",
        )
        y = np.arange(len(models))
        for j, (ax, metric) in enumerate(zip(axes.flat, metrics, strict=True)):
            xerr = None if err is None else err[:, j]
            bars = ax.barh(y, values[:, j], xerr=xerr, capsize=3, color=colors)
            ax.bar_label(bars, fmt="%.3g", padding=3, fontsize="small")
            ax.set_yticks(y, models if j == 0 else [""] * len(models))
            ax.invert_yaxis()
            ax.set_title(metric)
            ax.set_xlim(0, max(values[:, j].max(), 1e-12) * 1.3)
        if title:
            fig.suptitle(title)
        _save(fig, save)
    return fig


def _metric_table(
    table: Mapping[str, Mapping[str, float]], models: list[str], metrics: Sequence[str], name: str
) -> np.ndarray:
    for model in models:
        if model not in table:
            raise KeyError(f"{name} has no entry for model {model!r}")
        missing = [m for m in metrics if m not in table[model]]
        if missing:
            raise KeyError(
                f"{name}[{model!r}] lacks {missing}; it has {sorted(table[model])}. "
                "Pass metrics= with names that every model reports"
            )
    return np.array([[float(table[model][m]) for m in metrics] for model in models])
