"""Tests for recnn_helpers.plots (run with MPLBACKEND=Agg)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from recnn_helpers.plots import (
    plot_losses,
    plot_metric_bars,
    plot_reconstruction_kde,
    plot_similarity_matrices,
    set_style,
    similarity_matrix,
    smooth,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 1000
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_set_style_runs():
    set_style()


def test_smooth_is_debiased():
    values = np.array([10.0, 0.0, 0.0, 5.0])
    out = smooth(values, 0.9)
    assert out[0] == pytest.approx(10.0)  # a biased EMA would start at 1.0
    # Second value by hand: (0.9 * 0.1 * 10 + 0.1 * 0) / (1 - 0.81).
    assert out[1] == pytest.approx(0.9 * 1.0 / 0.19)


def test_smooth_of_constant_is_constant_and_zero_weight_is_identity():
    np.testing.assert_allclose(smooth(np.full(200, 3.0), 0.99), 3.0)
    values = np.random.default_rng(0).normal(size=50)
    np.testing.assert_allclose(smooth(values, 0.0), values)


def test_smooth_skips_non_finite():
    out = smooth([1.0, np.nan, 1.0, np.inf, 1.0], 0.5)
    assert np.isnan(out[1]) and np.isnan(out[3])
    np.testing.assert_allclose(out[[0, 2, 4]], 1.0)


def test_smooth_rejects_bad_weight():
    with pytest.raises(ValueError):
        smooth([1.0], 1.0)


def test_plot_losses_single_panel(tmp_path):
    losses = list(np.linspace(5, 1, 100) + np.random.default_rng(0).normal(size=100))
    path = tmp_path / "res" / "loss.png"
    fig = plot_losses({"loss": losses}, save=path)
    assert_png(path)
    (ax,) = fig.get_axes()
    raw, smoothed = ax.get_lines()
    np.testing.assert_array_equal(raw.get_ydata(), losses)
    assert smoothed.get_ydata()[0] == pytest.approx(losses[0])


def test_plot_losses_panels_and_step_value_pairs(tmp_path):
    history = {
        "value": {
            "train": np.linspace(2, 1, 50),
            "valid": (np.arange(0, 50, 10), [2, 1.8, 1.5, 1.4, 1.3]),
        },
        "policy": {"train": torch.linspace(0, -3, 50)},
    }
    path = tmp_path / "losses.png"
    fig = plot_losses(history, title="TD3", save=path)
    assert_png(path)
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["value", "policy"]
    steps = axes[0].get_lines()[2].get_xdata()  # raw "valid" curve
    np.testing.assert_array_equal(steps, [0, 10, 20, 30, 40])


def test_plot_losses_one_legend_outside_log_panels_and_x_label(tmp_path):
    history = {
        "ndcg": {"a": np.linspace(0, 1, 60), "b": np.linspace(0, 0.5, 60)},
        "kl": {"a": np.geomspace(1e-3, 1, 60), "b": np.geomspace(1e-2, 1, 60)},
    }
    path = tmp_path / "grid.png"
    fig = plot_losses(history, legend="outside", log_scale=["kl"], xlabel="update",
                      reference_lines={"kl": {"bound": 1.0}}, save=path)  # fmt: skip
    assert_png(path)
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert all(ax.get_legend() is None for ax in axes)  # no legend inside a panel
    (outside,) = fig.legends
    assert [t.get_text() for t in outside.get_texts()] == ["a", "b", "bound"]  # each label once
    assert [ax.get_yscale() for ax in axes] == ["linear", "log"]
    assert {ax.get_xlabel() for ax in axes} == {"update"}
    # The default keeps a legend in every panel.
    default = plot_losses(history)
    assert all(ax.get_legend() is not None for ax in default.get_axes() if ax.get_visible())
    with pytest.raises(KeyError, match="log_scale"):
        plot_losses(history, log_scale=["loss"])
    with pytest.raises(ValueError, match="legend"):
        plot_losses(history, legend="right")


def test_plot_losses_rejects_mixed_history():
    with pytest.raises(ValueError, match="mixes"):
        plot_losses({"a": [1.0, 2.0], "b": {"train": [1.0]}})


def test_similarity_matrix_cosine_symmetric_unit_diagonal():
    x = np.random.default_rng(0).normal(size=(20, 8)) * 5
    s = similarity_matrix(x, "cosine")
    np.testing.assert_allclose(s, s.T)
    np.testing.assert_allclose(np.diag(s), 1.0)
    assert s.max() <= 1 + 1e-12 and s.min() >= -1 - 1e-12


def test_similarity_matrix_dot_and_euclidean():
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(similarity_matrix(x, "dot"), [[1, 0], [0, 4]])
    np.testing.assert_allclose(
        similarity_matrix(x, "euclidean"), -np.array([[0, 5**0.5], [5**0.5, 0]])
    )
    with pytest.raises(ValueError, match="metric"):
        similarity_matrix(x, "manhattan")


def test_plot_similarity_matrices(tmp_path):
    rng = np.random.default_rng(0)
    real = rng.normal(size=(80, 16))
    generated = torch.randn(80, 16, requires_grad=True)  # straight from an actor
    path = tmp_path / "sim.png"
    fig = plot_similarity_matrices(real, generated, n=30, save=path)
    assert_png(path)
    images = [im for ax in fig.get_axes() for im in ax.get_images()]
    assert len(images) == 2
    for im in images:
        m = np.asarray(im.get_array())
        assert m.shape == (30, 30)
        np.testing.assert_allclose(m, m.T)
        np.testing.assert_allclose(np.diag(m), 1.0)
    assert images[0].get_clim() == images[1].get_clim()  # same colour scale
    np.testing.assert_allclose(np.asarray(images[0].get_array()), similarity_matrix(real[:30]))


def test_kde_distance_matches_scipy(tmp_path):
    rng = np.random.default_rng(0)
    # Same mean, different spread: a mean-difference "distance" would give about 0 here.
    real = rng.gamma(4.0, 0.05, size=500)
    generated = rng.gamma(1.0, 0.2, size=400)
    path = tmp_path / "kde.png"
    fig, distances = plot_reconstruction_kde(real, torch.tensor(generated), save=path)
    assert_png(path)
    assert distances == {"generated": pytest.approx(wasserstein_distance(real, generated))}
    assert distances["generated"] > 0.05
    assert "W = " in " ".join(t.get_text() for t in fig.get_axes()[0].get_legend().get_texts())


def test_kde_known_shift_and_identical_inputs():
    real = np.array([0.0, 1.0, 2.0, 3.0])
    generated = {"same": real.copy(), "shifted": real + 0.5, "collapsed": np.full(4, 1.5)}
    _, distances = plot_reconstruction_kde(real, generated)
    assert distances["same"] == pytest.approx(0.0, abs=1e-12)
    assert distances["shifted"] == pytest.approx(0.5)
    assert distances["collapsed"] == pytest.approx(1.0)  # mean |x - 1.5|


def test_kde_rejects_non_finite():
    with pytest.raises(ValueError, match="generated"):
        plot_reconstruction_kde(np.ones(3) + np.arange(3), np.array([0.1, np.nan]))


def test_plot_metric_bars(tmp_path):
    results = {
        "Popularity": {"HR@10": 0.08378, "NDCG@10": 0.04321},
        "TD3": {"HR@10": 0.12, "NDCG@10": 0.06},
        "BCQ": {"HR@10": 0.11, "NDCG@10": 0.055},
    }
    errors = {m: {"HR@10": 0.01, "NDCG@10": 0.005} for m in results}
    path = tmp_path / "bars.png"
    fig = plot_metric_bars(results, errors=errors, save=path)
    assert_png(path)
    # One panel per metric (accuracy and coverage never share an axis), one bar per model.
    for ax, metric in zip(fig.get_axes(), ("HR@10", "NDCG@10"), strict=True):
        widths = [round(p.get_width(), 5) for p in ax.patches]
        assert widths == [round(r[metric], 5) for r in results.values()]
        assert ax.get_title() == metric
        assert [t.get_text() for t in ax.texts] == [f"{r[metric]:.3g}" for r in results.values()]


def test_plot_metric_bars_names_missing_metric():
    with pytest.raises(KeyError, match="MRR@10"):
        plot_metric_bars({"TD3": {"HR@10": 0.1}}, metrics=("HR@10", "MRR@10"))


def test_kde_switches_to_a_log_axis_when_errors_differ_by_orders_of_magnitude():
    rng = np.random.default_rng(0)
    real = rng.gamma(2.0, 0.05, 200)
    fig, _ = plot_reconstruction_kde(real, {"collapsed": 100 + rng.gamma(2.0, 1.0, 200)})
    assert fig.get_axes()[0].get_xscale() == "log"
    fig, _ = plot_reconstruction_kde(real, {"close": real * 1.5})
    assert fig.get_axes()[0].get_xscale() == "linear"


def test_sparse_curves_are_drawn_unsmoothed_and_reference_lines_drawn():
    values = np.array([0.02, 0.002, 0.002, 0.002, 0.002])
    fig = plot_losses(
        {"ndcg": {"validation": (np.arange(5) * 200, values)}},
        smoothing=0.8,
        reference_lines={"ndcg": {"bound": 0.05}},
    )
    lines = fig.get_axes()[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), values)  # what the run measured
    assert lines[-1].get_ydata()[0] == 0.05 and lines[-1].get_label() == "bound"


def test_mean_pairwise_cosine_equals_the_matrix_route_without_the_matrix():
    from recnn_helpers.plots import mean_pairwise_cosine

    x = np.random.default_rng(0).normal(size=(40, 6)) + 0.3
    x[5] = 0.0  # a zero action counts 0 in both routes
    pairs = similarity_matrix(x)[np.triu_indices(len(x), 1)].mean()
    assert mean_pairwise_cosine(x) == pytest.approx(pairs, abs=1e-12)
    assert mean_pairwise_cosine(np.ones((3, 2))) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 rows"):
        mean_pairwise_cosine(np.ones((1, 2)))
