"""Meaning Consistency Constraint on hand-made sentence features."""

import pytest
import torch

from training.mcc import mcc_loss


def _triplets(aligned: bool) -> torch.Tensor:
    """Two triplets in 4-d; anchors and positives aligned (or not), negatives elsewhere."""
    e = torch.eye(4)
    if aligned:
        rows = [e[0], e[0] * 2, e[1], e[2], e[2] * 3, e[3]]  # positives = scaled anchors (scale is normalised away)
    else:
        rows = [e[0], e[1], e[0], e[2], e[3], e[2]]  # negatives sit on the anchors
    return torch.stack(rows)


def test_lower_when_positives_aligned():
    aligned, misaligned = mcc_loss(_triplets(True)), mcc_loss(_triplets(False))
    assert aligned < 0.01 < 5 < misaligned


def test_matches_hand_computed_value():
    feats = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # one triplet
    # anchor: logits to (pos, neg) = (10, 0) -> CE = log(1 + e^-10); positive the same.
    expected = torch.log1p(torch.exp(torch.tensor(-10.0)))
    assert torch.allclose(mcc_loss(feats, temperature=0.1), expected, atol=1e-6)


def test_symmetric_in_anchor_and_positive():
    torch.manual_seed(0)
    feats = torch.randn(12, 8)
    swapped = feats.view(4, 3, 8)[:, [1, 0, 2]].reshape(12, 8)
    assert torch.allclose(mcc_loss(feats), mcc_loss(swapped), atol=1e-6)


def test_gradient_flows_and_rejects_bad_layout():
    feats = torch.randn(6, 8, requires_grad=True)
    mcc_loss(feats).backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        mcc_loss(torch.randn(4, 8))
