"""SetCriterion: mask losses, class-loss weights, aux sets, MCC, video."""

import math

import torch

from training.criterion import LossConfig, SetCriterion


def _target(size: int = 64) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[8:40, 20:48] = 1  # edges on the 4-pixel grid of the H/4 prediction
    return mask


def _outputs(mask_logits: torch.Tensor, num_queries: int = 3) -> dict:
    """One sample, query 0 carries ``mask_logits`` (T, h, w); the others predict background."""
    masks = torch.full((1, num_queries, *mask_logits.shape), -20.0)
    masks[0, 0] = mask_logits
    logits = torch.zeros(1, num_queries, 2)
    logits[0, 0] = torch.tensor([10.0, -10.0])  # query 0 says "object"
    logits[0, 1:] = torch.tensor([-10.0, 10.0])
    return {"pred_logits": logits, "pred_masks": masks}


def _criterion(**overrides) -> SetCriterion:
    return SetCriterion(LossConfig(weight_mcc=0.0, num_points=3000, **overrides))


def test_perfect_prediction_has_near_zero_mask_loss_and_wrong_one_high():
    torch.manual_seed(0)
    target = _target()
    small = torch.nn.functional.avg_pool2d(target[None, None], 4)[0]  # (1, 16, 16) at H/4
    perfect = _criterion()(_outputs(torch.where(small > 0.5, 20.0, -20.0)), target[None, None], torch.tensor([True]))
    wrong = _criterion()(_outputs(torch.where(small > 0.5, -20.0, 20.0)), target[None, None], torch.tensor([True]))
    # Uncertain points sit on the edge, where bilinear sampling of H/4 logits is soft: small, not 0.
    assert perfect["loss_mask"] < 0.1 and perfect["loss_dice"] < 0.1 and perfect["loss_ce"] < 1e-3
    assert wrong["loss_mask"] > 2 and wrong["loss_dice"] > 0.9
    assert wrong["loss"] > 10 * perfect["loss"]


def test_class_loss_uses_no_object_weight():
    # All logits zero: every query has CE log 2. Nothing referred: all targets "no object".
    outputs = {"pred_logits": torch.zeros(1, 4, 2), "pred_masks": torch.zeros(1, 4, 1, 8, 8)}
    none = _criterion()(outputs, torch.zeros(1, 1, 32, 32), torch.tensor([False]))
    assert math.isclose(none["loss_ce"].item(), math.log(2), rel_tol=1e-5)
    assert none["loss_mask"] == 0 and none["loss_dice"] == 0
    # Query 2 predicts the object confidently; it is matched (weight 1), the 3 others get 0.1.
    outputs["pred_logits"][0, 2] = torch.tensor([10.0, -10.0])
    one = _criterion()(outputs, torch.ones(1, 1, 32, 32), torch.tensor([True]))
    expected = (1.0 * math.log1p(math.exp(-20)) + 3 * 0.1 * math.log(2)) / (1.0 + 3 * 0.1)
    assert math.isclose(one["loss_ce"].item(), expected, rel_tol=1e-4)


def test_aux_sets_mcc_and_weighted_total():
    torch.manual_seed(0)
    s, n, t = 3, 4, 2  # one triplet, video of two frames
    outputs = {
        "pred_logits": torch.randn(s, n, 2, requires_grad=True),
        "pred_masks": torch.randn(s, n, t, 8, 8, requires_grad=True),
        "sentence_feature": torch.randn(s, 16, requires_grad=True),
    }
    outputs["aux_outputs"] = [
        {"pred_logits": torch.randn(s, n, 2), "pred_masks": torch.randn(s, n, t, 8, 8)} for _ in range(2)
    ]
    masks = (torch.rand(s, t, 32, 32) > 0.5).float()
    masks[2] = 0
    cfg = LossConfig(num_points=500)
    losses = SetCriterion(cfg)(outputs, masks, torch.tensor([True, True, False]))
    for name in ("loss_ce", "loss_mask", "loss_dice", "loss_ce_0", "loss_dice_1", "loss_mcc"):
        assert name in losses and torch.isfinite(losses[name])
    total = cfg.weight_mcc * losses["loss_mcc"]
    for suffix in ("", "_0", "_1"):
        total = (total + 2 * losses["loss_ce" + suffix] + 5 * losses["loss_mask" + suffix]
                 + 5 * losses["loss_dice" + suffix])
    assert torch.allclose(losses["loss"], total)
    losses["loss"].backward()
    assert outputs["pred_masks"].grad.abs().sum() > 0 and outputs["sentence_feature"].grad.abs().sum() > 0
    assert outputs["pred_masks"].grad[2].abs().sum() == 0  # the "None" sample has no mask loss
