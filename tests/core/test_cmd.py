import pytest
import torch

from vatex_core.cmd import BidirectionalAttention, masked_mean
from vatex_core.pixel_encoder import ms_deform_attn


def _pad_words(words, mask, extra):
    junk = torch.randn(words.shape[0], extra, words.shape[2]) * 100
    return torch.cat([words, junk], 1), torch.cat([mask, torch.ones(mask.shape[0], extra, dtype=torch.bool)], 1)


@torch.no_grad()
def test_bat_ignores_padded_words():
    torch.manual_seed(0)
    bat = BidirectionalAttention(32, 4).eval()
    vision, pos = torch.randn(2, 20, 32), torch.randn(1, 20, 32)
    words = torch.randn(2, 5, 32)
    mask = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    v1, w1 = bat(vision, pos, words, mask)
    padded, padded_mask = _pad_words(words, mask, 4)
    v2, w2 = bat(vision, pos, padded, padded_mask)
    assert torch.allclose(v1, v2, atol=1e-5)
    assert torch.allclose(w1[0], w2[0, :5], atol=1e-5)
    assert torch.allclose(w1[1, :3], w2[1, :3], atol=1e-5)


def test_bat_refuses_a_float_padding_mask():
    bat = BidirectionalAttention(32, 4)
    with pytest.raises(TypeError, match="bool"):
        bat(torch.randn(1, 4, 32), torch.zeros(1, 4, 32), torch.randn(1, 3, 32), torch.zeros(1, 3))


def test_masked_mean_skips_padding():
    words = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(words, torch.tensor([[False, False, True]])).item() == pytest.approx(2.0)


@torch.no_grad()
def test_padding_in_a_batch_does_not_change_an_expression_result(tiny_model):
    torch.manual_seed(0)
    frames = torch.rand(1, 1, 3, 64, 64)
    short = "the red circle"
    alone = tiny_model(frames, tiny_model.encode_text([short]))
    text = tiny_model.encode_text([short, "the very big striped square at the bottom right next to the star"])
    assert text.padding_mask[0].sum() > 0
    together = tiny_model(frames.expand(2, -1, -1, -1, -1), text)
    assert torch.allclose(together["pred_masks"][0], alone["pred_masks"][0], atol=1e-4)
    assert torch.allclose(together["sentence_feature"][0], alone["sentence_feature"][0], atol=1e-5)


def test_deformable_sampling_at_cell_centres_reads_the_cell_value():
    # one level 2x3, one head, one point per query, weight 1: output = value at the sampled cell
    value = torch.arange(6, dtype=torch.float32).view(1, 6, 1, 1)  # (B, S, heads, Dh)
    centres = torch.tensor([[(0.5 + x) / 3, (0.5 + y) / 2] for y in range(2) for x in range(3)])
    locations = centres.view(1, 6, 1, 1, 1, 2)
    out = ms_deform_attn(value, [(2, 3)], locations, torch.ones(1, 6, 1, 1, 1))
    assert torch.allclose(out.flatten(), torch.arange(6, dtype=torch.float32), atol=1e-5)
