"""Hungarian matcher on constructed cases."""

import torch

from training.matcher import HungarianMatcher, pairwise_bce, pairwise_dice


def _square(size: int, top: int, left: int, side: int) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[top : top + side, left : left + side] = 1
    return mask


def test_picks_query_whose_mask_matches_target():
    torch.manual_seed(0)
    target = _square(64, 8, 8, 24)  # full resolution
    small = torch.nn.functional.avg_pool2d(target[None, None], 4)[0, 0]  # (16, 16), H/4 like the model
    masks = torch.full((5, 1, 16, 16), -8.0)
    masks[1, 0] = torch.where(small > 0.5, 8.0, -8.0)  # query 1 draws the target
    masks[3, 0] = torch.where(small.flip(1) > 0.5, 8.0, -8.0)  # query 3 draws the wrong place
    logits = torch.zeros(1, 5, 2)
    logits[0, 3, 0] = 3.0  # query 3 is more confident, but its mask is wrong
    matches = HungarianMatcher(num_points=2000)(logits, masks[None], target[None, None], torch.tensor([True]))
    query_idx, target_idx = matches[0]
    assert query_idx.tolist() == [1] and target_idx.tolist() == [0]


def test_class_cost_breaks_ties():
    masks = torch.zeros(1, 4, 1, 8, 8)  # identical masks
    logits = torch.zeros(1, 4, 2)
    logits[0, 2, 0] = 5.0
    target = torch.ones(1, 1, 32, 32)
    (query_idx, _), = HungarianMatcher(num_points=100)(logits, masks, target, torch.tensor([True]))
    assert query_idx.tolist() == [2]


def test_no_object_target_has_no_match_and_video_is_joint():
    torch.manual_seed(0)
    masks = torch.full((2, 3, 2, 8, 8), -6.0)  # (S, N, T, h, w)
    masks[1, 0, 1] = 6.0  # query 0: object only in frame 1
    masks[1, 2] = 6.0  # query 2: object in both frames (right)
    matches = HungarianMatcher(num_points=500)(torch.zeros(2, 3, 2), masks, torch.ones(2, 2, 32, 32),
                                              torch.tensor([False, True]))
    assert matches[0][0].numel() == 0
    assert matches[1][0].tolist() == [2]


def test_pairwise_costs_agree_with_direct_computation():
    torch.manual_seed(0)
    logits, targets = torch.randn(3, 50), (torch.rand(2, 50) > 0.5).float()
    bce = pairwise_bce(logits, targets)
    direct = torch.nn.functional.binary_cross_entropy_with_logits(logits[1], targets[0])
    assert torch.allclose(bce[1, 0], direct, atol=1e-6)
    probs = logits[2].sigmoid()
    dice = 1 - (2 * (probs * targets[1]).sum() + 1) / (probs.sum() + targets[1].sum() + 1)
    assert torch.allclose(pairwise_dice(logits, targets)[2, 1], dice, atol=1e-6)
