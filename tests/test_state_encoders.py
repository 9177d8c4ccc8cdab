"""The state encoders of notebooks/1-vanilla-rl/5-state-representation.ipynb.

Models live in the notebook, so the test runs its imports cell and the cells tagged
``encoders`` (the encoder classes and ``last_step``) into a namespace, then checks on small
random histories that every encoder gives the same state for a history whatever the padding
after it, and that gradients reach every trained encoder (the ESN's fixed reservoir gets
none).
"""

from pathlib import Path

import pytest
import torch
from notebook_cells import tagged_cells_namespace
from torch import nn

NOTEBOOK = (
    Path(__file__).resolve().parent.parent
    / "notebooks"
    / "1-vanilla-rl"
    / "5-state-representation.ipynb"
)
DIM, HIDDEN, FRAME = 5, 8, 3
LENGTHS = [1, 4, 7, 2]


@pytest.fixture(scope="module")
def ns() -> dict:
    return tagged_cells_namespace(NOTEBOOK, "encoders")


BUILDERS = {
    "frame": lambda ns: ns["FrameEncoder"](DIM, FRAME),
    "mean": lambda ns: ns["MeanEncoder"](DIM, HIDDEN),
    "rnn": lambda ns: ns["RecurrentEncoder"]("rnn", DIM, HIDDEN),
    "lstm": lambda ns: ns["RecurrentEncoder"]("lstm", DIM, HIDDEN),
    "gru": lambda ns: ns["RecurrentEncoder"]("gru", DIM, HIDDEN),
    "gru-loop": lambda ns: ns["LoopGRUEncoder"](DIM, HIDDEN),
    "tcn": lambda ns: ns["TCNEncoder"](DIM, HIDDEN, 3, 2),
    "esn": lambda ns: ns["EchoStateEncoder"](DIM, HIDDEN, 0.9, 0.5, 1.0, seed=0),
    "cfn": lambda ns: ns["CFNEncoder"](DIM, HIDDEN),
}
UNTRAINED = {"frame", "esn"}  # no parameters: nothing to reach


def make(ns, name):
    torch.manual_seed(0)
    return BUILDERS[name](ns)


def histories(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, DIM, generator=g) for n in LENGTHS]


def padded(seqs, width, fill="zeros", seed=1):
    """Left-aligned [B, width, DIM]; the steps after each sequence are zeros or noise."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(len(seqs), width, DIM)
    if fill == "noise":
        out = 3 * torch.randn(len(seqs), width, DIM, generator=g)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, torch.tensor([len(s) for s in seqs])


def test_every_encoder_class_is_tested(ns):
    modules = {k for k, v in ns.items() if isinstance(v, type) and issubclass(v, nn.Module)}
    classes = modules - {"TemporalBlock"}  # a part of TCNEncoder
    built = {type(make(ns, name)).__name__ for name in BUILDERS}
    assert classes <= built, f"encoders without a test: {sorted(classes - built)}"


@pytest.mark.parametrize("name", list(BUILDERS))
def test_padding_does_not_change_the_state(ns, name):
    encoder = make(ns, name).eval()
    seqs = histories()
    with torch.no_grad():
        tight = encoder(*padded(seqs, max(LENGTHS)))
        wide = encoder(*padded(seqs, max(LENGTHS) + 9))
        noisy = encoder(*padded(seqs, max(LENGTHS) + 5, fill="noise"))
        alone = torch.cat([encoder(*padded([s], len(s))) for s in seqs])
    assert tight.shape == (len(seqs), encoder.out_dim)
    assert torch.isfinite(tight).all()
    for other in (wide, noisy, alone):
        torch.testing.assert_close(other, tight, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(tight[0], tight[1]), "different histories, same state"


@pytest.mark.parametrize("name", sorted(set(BUILDERS) - UNTRAINED))
def test_gradients_reach_the_encoder(ns, name):
    encoder = make(ns, name)
    z = encoder(*padded(histories(), max(LENGTHS) + 3, fill="noise"))
    (z**2).sum().backward()
    params = dict(encoder.named_parameters())
    assert params
    for key, p in params.items():
        assert p.grad is not None, f"{name}.{key} gets no gradient"
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f"{name}.{key}"


def test_the_esn_reservoir_gets_no_gradient(ns):
    esn = make(ns, "esn")
    assert not list(esn.parameters()), "the reservoir must be fixed buffers, not parameters"
    reservoir = {k: v.clone() for k, v in esn.named_buffers()}
    assert set(reservoir) >= {"w", "w_in"}
    readout = nn.Linear(esn.out_dim, 2)
    state, lengths = padded(histories(), max(LENGTHS))
    z = esn(state.requires_grad_(), lengths)
    assert not z.requires_grad, "the reservoir loop must build no graph"
    readout(z).pow(2).sum().backward()
    assert readout.weight.grad is not None and readout.weight.grad.abs().sum() > 0
    assert all(b.grad is None for b in esn.buffers())
    assert state.grad is None
    spectral_radius = torch.linalg.eigvals(esn.w).abs().max().item()
    assert spectral_radius == pytest.approx(0.9, rel=1e-4)
    assert all(torch.equal(v, dict(esn.named_buffers())[k]) for k, v in reservoir.items())


def test_frame_is_the_last_items_right_aligned(ns):
    frame = make(ns, "frame")
    seqs = histories()
    z = frame(*padded(seqs, max(LENGTHS) + 2)).view(len(seqs), FRAME, DIM)
    for i, s in enumerate(seqs):
        n = min(len(s), FRAME)
        torch.testing.assert_close(z[i, FRAME - n :], s[-n:])
        assert (z[i, : FRAME - n] == 0).all()


def test_cfn_follows_its_equations(ns):
    cfn = make(ns, "cfn")
    x = histories()[2]  # 7 steps
    (v_theta, v_eta), (b_theta, b_eta) = cfn.gates_x.weight.chunk(2), cfn.gates_x.bias.chunk(2)
    u_theta, u_eta = cfn.gates_h.weight.chunk(2)
    w = cfn.input.weight
    h = torch.zeros(HIDDEN)
    for x_t in x:
        theta = torch.sigmoid(u_theta @ h + v_theta @ x_t + b_theta)
        eta = torch.sigmoid(u_eta @ h + v_eta @ x_t + b_eta)
        h = theta * torch.tanh(h) + eta * torch.tanh(w @ x_t)
    with torch.no_grad():
        z = cfn(x.unsqueeze(0), torch.tensor([len(x)]))[0]
    torch.testing.assert_close(z, h.detach(), atol=1e-6, rtol=1e-5)


def test_python_loop_gru_is_torch_gru(ns):
    gru, loop = make(ns, "gru"), make(ns, "gru-loop")
    with torch.no_grad():
        loop.x2h.weight.copy_(gru.rnn.weight_ih_l0)
        loop.x2h.bias.copy_(gru.rnn.bias_ih_l0)
        loop.h2h.weight.copy_(gru.rnn.weight_hh_l0)
        loop.h2h.bias.copy_(gru.rnn.bias_hh_l0)
        batch = padded(histories(), max(LENGTHS) + 2, fill="noise")
        torch.testing.assert_close(loop(*batch), gru(*batch), atol=1e-5, rtol=1e-5)


def test_tcn_is_causal_and_sees_far_enough(ns):
    tcn = make(ns, "tcn")  # kernel 3, 2 levels: 1 + 2 * 2 * (1 + 2) = 13 steps
    assert tcn.receptive_field == 13
    x = torch.randn(1, 20, DIM)
    with torch.no_grad():
        base = tcn.blocks(x.transpose(1, 2))[0, :, -1]
        early = x.clone()
        early[0, 20 - tcn.receptive_field] += 1.0  # the oldest step it can see
        assert not torch.allclose(tcn.blocks(early.transpose(1, 2))[0, :, -1], base)
        too_early = x.clone()
        too_early[0, 20 - tcn.receptive_field - 1] += 1.0
        torch.testing.assert_close(tcn.blocks(too_early.transpose(1, 2))[0, :, -1], base)
