"""Checks of an implementation that can fail: each one catches a known wrong version.

The agent notebooks define their updates inline and call these on them; ``tests/test_checks.py``
shows that each check raises on a deliberately wrong implementation (a hard copy instead of a
Polyak step, a gradient leaking into a head it must not reach, a wrong top-K multiplier).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = [
    "assert_gradients_only_reach",
    "assert_polyak_step",
    "assert_topk_multiplier",
    "topk_multiplier_reference",
]


def assert_polyak_step(
    before: Iterable[torch.Tensor],
    online: nn.Module,
    after: nn.Module,
    tau: float,
    atol: float = 1e-6,
) -> None:
    """``after`` (a target network) must equal ``tau * online + (1 - tau) * before``, parameter
    by parameter, where ``before`` are the target's parameters copied just before the update
    and ``online`` the online network after it. A hard copy (rate 1), a rate of ``1 - tau``
    or a target that did not move all fail."""
    before = [b.detach() for b in before]
    targets = [p.detach() for p in after.parameters()]
    sources = [p.detach() for p in online.parameters()]
    if not len(before) == len(targets) == len(sources):
        raise AssertionError("before, online and target networks have different parameter lists")
    moved = False
    for i, (b, p, t) in enumerate(zip(before, sources, targets, strict=True)):
        expected = tau * p + (1 - tau) * b
        if not torch.allclose(t, expected, atol=atol, rtol=0):
            error = (t - expected).abs().max().item()
            raise AssertionError(
                f"target parameter {i} is not the Polyak step with tau={tau} "
                f"(largest difference {error:.3g})"
            )
        moved |= not torch.equal(t, b)
    if not moved:
        raise AssertionError("the target network did not move")


def assert_gradients_only_reach(
    loss: torch.Tensor,
    reach: dict[str, Iterable[nn.Parameter]],
    spare: dict[str, Iterable[nn.Parameter]],
) -> None:
    """``loss.backward()`` must give a non-zero gradient to some parameter of every group in
    ``reach`` and none at all to the groups in ``spare`` (e.g. the behaviour head's loss must
    not train the policy's encoder). Gradients are cleared before and after."""
    groups = {**{("reach", k): list(v) for k, v in reach.items()},
              **{("spare", k): list(v) for k, v in spare.items()}}  # fmt: skip
    for params in groups.values():
        for p in params:
            p.grad = None
    loss.backward(retain_graph=True)
    try:
        for (kind, name), params in groups.items():
            touched = any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)
            if kind == "reach" and not touched:
                raise AssertionError(f"the loss sends no gradient to {name}")
            if kind == "spare" and touched:
                raise AssertionError(f"the loss sends a gradient to {name}; it must not train it")
    finally:
        for params in groups.values():
            for p in params:
                p.grad = None


def topk_multiplier_reference(pi: torch.Tensor, k: int) -> torch.Tensor:
    """lambda_K(pi) = K (1 - pi)^(K - 1) (Chen et al., 2019, eq. 6), for the checks only."""
    return k * (1 - pi) ** (k - 1)


def assert_topk_multiplier(multiplier: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """``multiplier(pi, K)`` must be the top-K correction's lambda_K: lambda_K(0) = K,
    lambda_K(1/K) = K (1 - 1/K)^(K - 1), lambda_1 = 1, decreasing in pi for K > 1, and equal
    to the reference on a grid. ``K * pi**(K-1)`` and ``(1 - pi)**(K-1)`` both fail."""
    pi = torch.linspace(0, 1, 101, dtype=torch.float64)
    for k in (1, 2, 5, 10):
        got = multiplier(pi, k).to(torch.float64)
        if abs(got[0].item() - k) > 1e-9:
            raise AssertionError(f"lambda_{k}(0) = {got[0].item():.6g}, expected {k}")
        at_inverse = multiplier(torch.tensor([1 / k], dtype=torch.float64), k).item()
        expected = k * (1 - 1 / k) ** (k - 1)
        if abs(at_inverse - expected) > 1e-9:
            raise AssertionError(f"lambda_{k}(1/{k}) = {at_inverse:.6g}, expected {expected:.6g}")
        if k > 1 and not bool((got[1:] <= got[:-1]).all()):
            raise AssertionError(f"lambda_{k} is not decreasing in pi")
        if not torch.allclose(got, topk_multiplier_reference(pi, k), atol=1e-9):
            raise AssertionError(f"lambda_{k} differs from K (1 - pi)^(K - 1)")
