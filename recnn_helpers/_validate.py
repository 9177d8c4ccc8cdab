"""Parameter checks shared by the public functions (env, evaluation, embeddings, data).

Each check returns the value in a canonical form or raises ``ValueError`` naming the
parameter, the allowed range and the value given, so that a bad argument fails where it
enters instead of deep inside numpy or torch.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch


def integer(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (either bound may be None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        allowed = (
            f"between {low} and {high}"
            if low is not None and high is not None
            else (f">= {low}" if low is not None else f"<= {high}")
        )
        raise ValueError(f"{name} must be an integer {allowed}, got {value}")
    return value


def positive_int(name: str, value) -> int:
    """``value`` as an int >= 1 (sizes: ``frame_size``, ``batch_size``, ``max_len``...)."""
    return integer(name, value, low=1)


def optional_positive_int(name: str, value) -> int | None:
    """None, or an int >= 1."""
    return None if value is None else positive_int(name, value)


def fraction(name: str, value, closed: bool = False) -> float:
    """``value`` as a float in (0, 1), or in [0, 1] when ``closed``."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    inside = ok and ((0 <= value <= 1) if closed else (0 < value < 1))
    if not inside:
        allowed = "in [0, 1]" if closed else "strictly between 0 and 1"
        raise ValueError(f"{name} must be a number {allowed}, got {value!r}")
    return float(value)


def rating_scale(name: str, scale, step: bool = False) -> tuple[float, ...]:
    """``(low, high)`` from a scale (extra entries ignored), or ``(low, high, step)`` when
    ``step``: finite numbers with ``low < high`` and a ``step > 0`` that divides the range."""
    try:
        values = tuple(float(v) for v in scale)
    except (TypeError, ValueError):
        values = ()
    values = values[:3] if step and len(values) == 3 else values[:2] if not step else ()
    good = len(values) >= 2 and all(math.isfinite(v) for v in values) and values[0] < values[1]
    if good and step:
        count = (values[1] - values[0]) / values[2] if values[2] > 0 else -1.0
        good = count > 0 and abs(count - round(count)) < 1e-6
    if not good:
        what = "(low, high, step) with step > 0 dividing high - low" if step else "(low, high)"
        example = "(1.0, 5.0, 1.0)" if step else "(1.0, 5.0)"
        raise ValueError(
            f"{name} must be {what}, finite with low < high (e.g. {example}), got {scale!r}"
        )
    return values


def finite_table(name: str, table, rows: int | None = None) -> torch.Tensor:
    """A float32 tensor ``[rows, dim]`` with ``dim >= 1`` and only finite values."""
    try:
        x = torch.as_tensor(np.asarray(table) if not torch.is_tensor(table) else table)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be a numeric [num_items, dim] table ({exc})") from exc
    if x.dim() != 2 or x.shape[1] < 1:
        raise ValueError(
            f"{name} must be a 2-D table [num_items, dim] with dim >= 1, got shape "
            f"{tuple(x.shape)}; one row per item (reshape a flat vector with .reshape(-1, dim))"
        )
    if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64, torch.int16)):
        raise ValueError(f"{name} must hold numbers, got dtype {x.dtype}")
    if rows is not None and x.shape[0] != rows:
        raise ValueError(
            f"{name} has {x.shape[0]} rows but the data has {rows} items: build the "
            "embeddings for this data set's catalogue"
        )
    x = x.float()
    finite = torch.isfinite(x).all(1)
    if not finite.all():
        bad = torch.nonzero(~finite).flatten()
        raise ValueError(
            f"{name} has non-finite values (NaN or inf) in {len(bad)} rows, first row "
            f"{int(bad[0])}: rebuild the table or replace those rows"
        )
    return x
