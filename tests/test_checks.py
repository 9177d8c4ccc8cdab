"""Each check of recnn_helpers.checks passes on the right implementation and fails on a
deliberately wrong one (a check that cannot fail teaches nothing)."""

import copy

import pytest
import torch
from torch import nn

from recnn_helpers.checks import (
    assert_gradients_only_reach,
    assert_polyak_step,
    assert_topk_multiplier,
)

TAU = 0.005


def polyak(online, target, rate):
    with torch.no_grad():
        for p, p_targ in zip(online.parameters(), target.parameters(), strict=True):
            p_targ.lerp_(p, rate)


def networks():
    torch.manual_seed(0)
    online = nn.Linear(4, 3)
    target = copy.deepcopy(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(torch.randn_like(p))  # the online network has moved since the copy
    return online, target


def test_polyak_check_accepts_the_tau_step():
    online, target = networks()
    before = [p.clone() for p in target.parameters()]
    polyak(online, target, TAU)
    assert_polyak_step(before, online, target, TAU)


@pytest.mark.parametrize(
    "wrong_rate", [1.0, 1 - TAU, 0.0, 2 * TAU], ids=["hard copy", "1 - tau", "no move", "2 tau"]
)
def test_polyak_check_fails_on_a_wrong_rate(wrong_rate):
    online, target = networks()
    before = [p.clone() for p in target.parameters()]
    polyak(online, target, wrong_rate)
    with pytest.raises(AssertionError):
        assert_polyak_step(before, online, target, TAU)


class TwoHeads(nn.Module):
    """A policy and a behaviour head on a shared encoder, as in the off-policy correction."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Linear(5, 8)
        self.policy = nn.Linear(8, 6)
        self.beta = nn.Linear(8, 6)

    def losses(self, x, detach_for_beta=True):
        h = torch.relu(self.encoder(x))
        policy_loss = self.policy(h).logsumexp(1).mean()
        beta_input = h.detach() if detach_for_beta else h
        beta_loss = self.beta(beta_input).logsumexp(1).mean()
        return policy_loss, beta_loss


def test_gradient_check_accepts_a_detached_behaviour_head():
    model = TwoHeads()
    policy_loss, beta_loss = model.losses(torch.randn(7, 5))
    assert_gradients_only_reach(beta_loss, {"beta head": model.beta.parameters()},
                                {"encoder": model.encoder.parameters(),
                                 "policy head": model.policy.parameters()})  # fmt: skip
    assert_gradients_only_reach(
        policy_loss,
        {"encoder": model.encoder.parameters(), "policy head": model.policy.parameters()},
        {"beta head": model.beta.parameters()},
    )


def test_gradient_check_fails_when_the_behaviour_loss_trains_the_encoder():
    model = TwoHeads()
    _, beta_loss = model.losses(torch.randn(7, 5), detach_for_beta=False)
    with pytest.raises(AssertionError, match="encoder"):
        assert_gradients_only_reach(
            beta_loss, {"beta head": model.beta.parameters()},
            {"encoder": model.encoder.parameters()},
        )  # fmt: skip


def test_gradient_check_fails_when_a_head_gets_no_gradient():
    model = TwoHeads()
    policy_loss, _ = model.losses(torch.randn(7, 5))
    with pytest.raises(AssertionError, match="no gradient"):
        assert_gradients_only_reach(policy_loss, {"beta head": model.beta.parameters()}, {})


def test_topk_check_accepts_the_papers_multiplier():
    assert_topk_multiplier(lambda pi, k: k * (1 - pi) ** (k - 1))


@pytest.mark.parametrize(
    "wrong",
    [
        lambda pi, k: k * pi ** (k - 1),  # the example: passes bounds-only checks
        lambda pi, k: (1 - pi) ** (k - 1),  # forgot the factor K
        lambda pi, k: k * (1 - pi) ** k,  # wrong exponent
        lambda pi, k: torch.full_like(pi, float(k)),  # constant K
    ],
    ids=["K pi^(K-1)", "no K", "exponent K", "constant"],
)
def test_topk_check_fails_on_wrong_multipliers(wrong):
    with pytest.raises(AssertionError):
        assert_topk_multiplier(wrong)
