"""The anomaly autoencoder: how much does a generated action look like a real item?

Taught in ``notebooks/1-vanilla-rl/1-anomaly-detection.ipynb``, which trains it on the item
embeddings and saves its weights; the DDPG, TD3, SAC and BCQ notebooks load them
(``load_or_train_autoencoder``) to score their generated actions by reconstruction error
(``plots.plot_reconstruction_kde`` draws the densities and the Wasserstein distance).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from recnn_helpers.io import PathLike, load_weights

__all__ = [
    "Autoencoder",
    "autoencoder_meta",
    "load_or_train_autoencoder",
    "train_autoencoder",
]


class Autoencoder(nn.Module):
    """Item embedding -> small code -> item embedding; `reconstruction_error` is the anomaly score.

    The one-hidden-layer encoder and decoder of the original RecNN article.
    """

    def __init__(self, dim: int, hidden_size: int = 256, latent_size: int = 64):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(dim, hidden_size), nn.ReLU(), nn.Linear(hidden_size, latent_size)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def reconstruction_error(self, x: torch.Tensor) -> torch.Tensor:
        """Squared distance between each row and its reconstruction, shape [B]."""
        return ((self(x) - x) ** 2).sum(1)


def train_autoencoder(
    model: Autoencoder,
    items: torch.Tensor,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    valid: torch.Tensor | None = None,
    writer=None,
) -> dict[str, list[float]]:
    """Fit ``model`` to the rows of ``items`` with Adam on shuffled mini-batches.

    Returns the mean error per epoch (``train``, and ``valid`` given held-out rows). Given
    ``valid``, the weights of the epoch with the lowest held-out error are kept. ``writer``
    (a TensorBoard SummaryWriter) gets ``losses/train_error`` and ``losses/valid_error``.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"train": [], "valid": []}
    best_error, best_state = float("inf"), None
    for epoch in range(epochs):
        for idx in torch.randperm(len(items), device=items.device).split(batch_size):
            loss = model.reconstruction_error(items[idx]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            history["train"].append(model.reconstruction_error(items).mean().item())
            if valid is not None:
                history["valid"].append(model.reconstruction_error(valid).mean().item())
        for name, errors in history.items():
            if writer is not None and errors:
                writer.add_scalar(f"losses/{name}_error", errors[-1], epoch)
        if valid is not None and history["valid"][-1] < best_error:
            best_error = history["valid"][-1]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def autoencoder_meta(
    item_embeddings: torch.Tensor | np.ndarray, kind: str, hidden_size: int, latent_size: int
) -> dict[str, object]:
    """What a saved autoencoder was built for: the embeddings (kind and a fingerprint of the
    values) and its sizes, so that a notebook can tell a stale file from a good one."""
    values = np.ascontiguousarray(torch.as_tensor(item_embeddings).cpu().numpy())
    return {
        "kind": kind,
        "hidden_size": hidden_size,
        "latent_size": latent_size,
        "embeddings": hashlib.sha256(values.tobytes()).hexdigest()[:16],
    }


def load_or_train_autoencoder(
    path: PathLike,
    item_embeddings: torch.Tensor,
    kind: str,
    hidden_size: int = 256,
    latent_size: int = 64,
    epochs: int = 100,
    seed: int = 0,
) -> Autoencoder:
    """The autoencoder saved by the anomaly notebook at ``path`` when it was built for these
    embeddings and sizes; otherwise one trained here on all the items (seeded), and said so."""
    from recnn_helpers import seed_everything

    path = Path(path)
    meta = autoencoder_meta(item_embeddings, kind, hidden_size, latent_size)
    model = Autoencoder(item_embeddings.shape[1], hidden_size, latent_size)
    model = model.to(item_embeddings.device)
    if path.is_file() and load_weights(path)[1] == meta:
        load_weights(path, model, device=item_embeddings.device)
        print(f"anomaly autoencoder: loaded {path.name}")
        return model
    seed_everything(seed)
    train_autoencoder(model, item_embeddings, epochs)
    print(f"anomaly autoencoder: no saved one for these embeddings, trained {epochs} epochs here")
    return model
