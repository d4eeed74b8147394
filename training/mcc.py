"""Meaning Consistency Constraint (paper §3.3, eq. 6): sentence-level InfoNCE.

Each image of a batch brings a triplet of expressions: anchor p1, positive p2 (another
expression of the same object) and negative n (an expression of another object in the
image, or the literal string "None"). Eq. 6 pulls the vision-aware sentence features of p1
and p2 together and pushes n away. Following the authors' code we use the batch form:

- features are L2-normalised and compared by cosine similarity / temperature (0.1);
- for every anchor the target is its positive, and *all* other sentences of the batch are
  negatives: other triplets' anchors and positives and every explicit negative;
- the loss is symmetric: the same is done with each positive as the query and its anchor
  as the target, and the two directions are averaged.

The "None" negative is kept as a negative: it is a real expression the model sees (it must
predict "no object" for it), and its vision-aware feature must not look like a referring
one. Negatives come from the local batch only; under DDP they are not gathered across GPUs.

A triplet whose anchor is a no-target expression (it names nothing in the image; see
``training.data.triplets``) has no meaning to keep consistent: it asks no query, but its
sentences stay in the batch as negatives of the other triplets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TRIPLET = 3  # rows per image: anchor, positive, negative


def mcc_loss(sentence_features: torch.Tensor, temperature: float = 0.1,
             has_object: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE over the triplets of a batch.

    Args:
        sentence_features: (B*3, C) vision-aware sentence features (not normalised), rows
            ordered [b0 anchor, b0 positive, b0 negative, b1 anchor, ...].
        temperature: softmax temperature of the cosine similarities.
        has_object: (B*3,) bool in the same order; triplets whose anchor refers to nothing
            ask no query. None = every anchor refers to an object.

    Returns:
        Scalar loss (mean over the 2K queries of the K triplets with a referring anchor); 0
        (with a graph) if there is none.
    """
    if sentence_features.shape[0] % TRIPLET:
        raise ValueError("expected B*3 sentence features (anchor, positive, negative), "
                         f"got {sentence_features.shape[0]}")
    feats = F.normalize(sentence_features.float(), dim=-1)
    logits = feats @ feats.T / temperature  # (3B, 3B)
    eye = torch.eye(logits.shape[0], dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(eye, float("-inf"))  # a sentence is never its own negative
    anchors = torch.arange(0, logits.shape[0], TRIPLET, device=logits.device)  # (B,)
    if has_object is not None:
        anchors = anchors[has_object.to(logits.device)[anchors]]  # (K,) referring anchors only
    if anchors.numel() == 0:
        return sentence_features.sum() * 0.0
    positives = anchors + 1
    queries = torch.cat([anchors, positives])  # (2B,)
    targets = torch.cat([positives, anchors])
    return F.cross_entropy(logits[queries], targets)
