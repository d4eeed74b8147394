"""Encoders start from local checkpoint files in the formats timm and open_clip publish."""

import open_clip
import pytest
import timm
import torch

from vatex_core import build_vatex, preset
from vatex_core.backbone import Backbone
from vatex_core.clip_model import build_clip


def test_backbone_loads_a_timm_classification_checkpoint(tmp_path):
    cfg = preset("tiny").backbone
    torch.manual_seed(0)
    # A full timm model (with its classifier head), saved as timm's published weights are.
    source = timm.create_model(
        cfg.timm_name, embed_dim=cfg.embed_dim, depths=cfg.depths, num_heads=cfg.num_heads, window_size=cfg.window_size
    )
    path = tmp_path / "swin.pth"
    torch.save(source.state_dict(), path)
    backbone = Backbone(cfg, str(path))
    loaded = backbone.body.state_dict()
    expected = source.state_dict()
    compared = [name for name in loaded if name.replace("layers_", "layers.") in expected]
    assert len(compared) > 10
    for name in compared:
        assert torch.equal(loaded[name], expected[name.replace("layers_", "layers.")]), name


def test_clip_loads_an_openai_layout_checkpoint(tmp_path):
    cfg = preset("tiny").clip
    torch.manual_seed(0)
    # open_clip's plain CLIP (text modules at the top level) is the layout of OpenAI/LAION files.
    source = open_clip.CLIP(
        embed_dim=cfg.embed_dim,
        vision_cfg={"image_size": cfg.image_size, "patch_size": cfg.patch_size, "width": cfg.vision_width,
                    "layers": cfg.vision_layers, "head_width": cfg.vision_head_width, "pool_type": cfg.vision_pool},
        text_cfg={"context_length": cfg.context_length, "vocab_size": cfg.vocab_size, "width": cfg.text_width,
                  "heads": cfg.text_heads, "layers": cfg.text_layers},
    )
    path = tmp_path / "clip.bin"
    torch.save(source.state_dict(), path)
    clip = build_clip(cfg, path)
    assert torch.equal(clip.text.token_embedding.weight, source.token_embedding.weight)
    assert torch.equal(clip.visual.proj, source.visual.proj)
    model = build_vatex(preset("tiny"), clip_checkpoint=path)
    assert torch.equal(model.clip_prior.clip_visual.conv1.weight, source.visual.conv1.weight)


def test_missing_checkpoint_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="backbone checkpoint"):
        build_vatex(preset("tiny"), backbone_checkpoint=tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError, match="CLIP checkpoint"):
        build_vatex(preset("tiny"), clip_checkpoint=tmp_path / "nope.bin")
