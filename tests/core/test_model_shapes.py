import pytest
import torch

from vatex_core import build_vatex, preset


def _check_outputs(out, pairs, cfg, frames, height, width):
    n, c = cfg.head.num_queries, cfg.head.hidden_dim
    assert out["pred_logits"].shape == (pairs, n, 2)
    assert out["pred_masks"].shape == (pairs, n, frames, height // 4, width // 4)
    assert len(out["aux_outputs"]) == cfg.head.decoder_layers  # + the final one = layers + 1 predictions
    for aux in out["aux_outputs"]:
        assert aux["pred_logits"].shape == out["pred_logits"].shape
        assert aux["pred_masks"].shape == out["pred_masks"].shape
    assert out["sentence_feature"].shape == (pairs, c)
    grid = cfg.clip.grid_size
    assert out["prior_heatmap"].shape == (pairs, grid, grid)
    assert len(out["level_sentences"]) == 5
    for value in (out["pred_logits"], out["pred_masks"], out["sentence_feature"]):
        assert torch.isfinite(value).all()


@torch.no_grad()
def test_tiny_image_batch_with_several_expressions_per_image(tiny_model):
    text = tiny_model.encode_text(["the red circle", "the big square on the left", "a star", "None"])
    out = tiny_model(torch.rand(2, 1, 3, 96, 128), text)
    _check_outputs(out, 4, tiny_model.cfg, 1, 96, 128)


@torch.no_grad()
def test_tiny_video_clip(tiny_model):
    out = tiny_model(torch.rand(2, 3, 3, 64, 96), tiny_model.encode_text(["the moving star", "the ring"]))
    _check_outputs(out, 2, tiny_model.cfg, 3, 64, 96)


def test_tiny_backward_reaches_every_trainable_parameter():
    torch.manual_seed(0)
    model = build_vatex(preset("tiny")).train()
    out = model(torch.rand(1, 2, 3, 64, 64), model.encode_text(["the blue square"]))
    loss = out["pred_masks"].mean() + out["pred_logits"].mean() + out["sentence_feature"].pow(2).mean()
    loss = loss + sum(a["pred_masks"].mean() + a["pred_logits"].mean() for a in out["aux_outputs"])
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


def test_dense_encoder_substitute_builds_and_runs():
    cfg = preset("tiny")
    cfg.head.encoder_attention = "dense"
    model = build_vatex(cfg).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 1, 3, 64, 64), model.encode_text(["the circle"]))
    _check_outputs(out, 1, cfg, 1, 64, 64)


def test_unknown_encoder_attention_is_a_clear_error():
    cfg = preset("tiny")
    cfg.head.encoder_attention = "sparse"
    with pytest.raises(ValueError, match="deformable"):
        build_vatex(cfg)


@pytest.mark.parametrize(
    "frames, expressions, message",
    [
        (torch.rand(1, 3, 64, 64), ["a"], r"\(B, T, 3, H, W\)"),
        (torch.rand(1, 1, 3, 60, 64), ["a"], "multiple of 32"),
        (torch.rand(2, 1, 3, 64, 64), ["a", "b", "c"], "split evenly"),
    ],
)
def test_forward_rejects_bad_shapes(tiny_model, frames, expressions, message):
    with pytest.raises(ValueError, match=message):
        tiny_model(frames, tiny_model.encode_text(expressions))


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_encode_text_rejects_empty_expressions(tiny_model, bad):
    with pytest.raises(ValueError, match="non-empty"):
        tiny_model.encode_text(["fine", bad])


@pytest.mark.slow
@torch.no_grad()
def test_paper_preset_image_and_video_shapes():
    cfg = preset("paper")
    model = build_vatex(cfg).eval()
    text = model.encode_text(["the man on the left", "a dog"])
    _check_outputs(model(torch.rand(2, 1, 3, 224, 224), text), 2, cfg, 1, 224, 224)
    _check_outputs(model(torch.rand(1, 2, 3, 128, 160), text.index(slice(0, 1))), 1, cfg, 2, 128, 160)


@torch.no_grad()
def test_without_clip_prior_ablation():
    cfg = preset("tiny")
    cfg.head.use_clip_prior = False
    model = build_vatex(cfg).eval()
    assert model.clip_prior is None
    out = model(torch.rand(1, 1, 3, 64, 64), model.encode_text(["the circle"]))
    assert out["prior_heatmap"] is None and out["pred_masks"].shape == (1, 5, 1, 16, 16)
