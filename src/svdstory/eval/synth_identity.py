"""Identity consistency across a story's images: hidden attributes that agree, and pooled embeddings
that point the same way."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pairs(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.triu_indices(n, n, offset=1)


def attribute_agreement(attributes: dict[str, torch.Tensor]) -> dict[str, float]:
    """name -> fraction of image pairs (i < j) whose argmax value of that attribute is the same.

    A story of one image has no pair to disagree, so it scores 1.
    """
    agreement = {}
    for name, probs in attributes.items():  # probs (N, n_values)
        values = probs.argmax(-1)
        i, j = _pairs(len(values))
        agreement[name] = float((values[i] == values[j]).double().mean()) if len(i) else 1.0
    return agreement


def attribute_chance(attributes: dict[str, torch.Tensor]) -> float:
    """Pair agreement expected if every attribute were drawn uniformly and independently per image."""
    return float(sum(1.0 / probs.shape[-1] for probs in attributes.values()) / len(attributes))


def pooled_embedding(embedding: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, E) unit vectors: the (N, E, h, w) embedding averaged with weights from the (N, H, W) mask.

    The mask is area-averaged down to (h, w), so a subject smaller than one embedding cell still
    weighs in; an image with an empty mask pools to the zero vector (cosine 0 with everything).
    """
    weight = F.adaptive_avg_pool2d(mask.float().unsqueeze(1), embedding.shape[-2:])  # (N, 1, h, w)
    pooled = (embedding * weight).sum((2, 3)) / weight.sum((2, 3)).clamp_min(1e-8)  # (N, E)
    return F.normalize(pooled, dim=1, eps=1e-8)


def embedding_consistency(embedding: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean cosine over image pairs of the subject-pooled embeddings, in [-1, 1]; 1 for a single image."""
    pooled = pooled_embedding(embedding, mask)
    i, j = _pairs(len(pooled))
    if not len(i):
        return 1.0
    return float((pooled[i] * pooled[j]).sum(-1).mean())


def identity_metrics(predictions) -> dict[str, float]:
    """identity_attr (+ one per attribute), its chance level, and identity_embed of a story's predictions."""
    agreement = attribute_agreement(predictions.attributes)
    metrics = {"identity_attr": sum(agreement.values()) / len(agreement)}
    metrics.update({f"identity_attr_{name}": value for name, value in agreement.items()})
    metrics["identity_attr_chance"] = attribute_chance(predictions.attributes)
    metrics["identity_embed"] = embedding_consistency(predictions.embedding, predictions.mask)
    return metrics
