"""Batched inference: the one forward + softmax loop of the evaluate, score and pseudo stages."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from alseg.train import to_input


@torch.no_grad()
def predict_batches(
    model: torch.nn.Module | None,
    images: np.ndarray,
    batch_size: int,
    temperature: float | None = None,
    features: bool = False,
) -> Iterator[tuple]:
    """Stream softmax probabilities over a (memory-mapped) image array, one batch deep.

    Yields (rows, probs (B, C, H, W) float32 on the model's device) with probs =
    softmax(logits * temperature) (None: softmax(logits)); ``features``: (rows, probs, decoder
    features (B, D, h, w)). ``model`` None (a policy that needs no model): probs is None.
    """
    if model is not None:
        model.eval()
    for start in range(0, len(images), batch_size):
        rows = slice(start, min(start + batch_size, len(images)))
        if model is None:
            yield rows, None
            continue
        x = to_input(images[rows], model)
        logits, decoder = model(x, return_features=True) if features else (model(x), None)
        logits = logits.float() if temperature is None else logits.float() * temperature
        probs = torch.softmax(logits, dim=1)
        yield (rows, probs, decoder) if features else (rows, probs)
