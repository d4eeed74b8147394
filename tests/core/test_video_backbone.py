"""Video Swin-B backbone (paper Table 3): one map per frame at the image backbone's strides, local weights only."""

import pytest
import torch

from vatex_core.config import BackboneConfig, check_config, preset
from vatex_core.video_backbone import VideoBackbone


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return VideoBackbone(BackboneConfig(video=True)).eval()


def test_four_levels_one_map_per_frame(backbone):
    clips = torch.rand(2, 4, 3, 64, 96)
    with torch.no_grad():
        levels = backbone.encode_clip(clips)
    assert [tuple(level.shape) for level in levels] == [
        (8, 128, 16, 24), (8, 256, 8, 12), (8, 512, 4, 6), (8, 1024, 2, 3)]
    assert backbone.channels == [128, 256, 512, 1024] and backbone.strides == [4, 8, 16, 32]
    assert torch.equal(levels[0][0], levels[0][1]) and not torch.equal(levels[0][1], levels[0][2])  # 2-frame patches


def test_a_single_frame_is_a_still_clip(backbone):
    frame = torch.rand(1, 1, 3, 64, 64)
    with torch.no_grad():
        single = backbone.encode_clip(frame)[2]
        still = backbone.encode_clip(frame.expand(-1, 2, -1, -1, -1))[2][:1]
    assert torch.allclose(single, still, atol=1e-5)


def test_weights_from_a_local_torchvision_file(backbone, tmp_path):
    path = tmp_path / "swin3d_b.pth"
    torch.save({name: tensor for name, tensor in backbone.body.state_dict().items()}, path)
    loaded = VideoBackbone(BackboneConfig(video=True), str(path)).eval()
    clip = torch.rand(1, 2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.encode_clip(clip)[3], backbone.encode_clip(clip)[3])
    torch.save({"patch_embed.proj.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a torchvision swin3d_b checkpoint"):
        VideoBackbone(BackboneConfig(video=True), str(tmp_path / "other.pth"))
    with pytest.raises(FileNotFoundError):
        VideoBackbone(BackboneConfig(video=True), str(tmp_path / "missing.pth"))


def test_size_overrides_do_not_apply_to_the_video_backbone():
    cfg = preset("tiny")
    cfg.backbone.video = True
    with pytest.raises(ValueError, match="backbone.video builds Video Swin-B as it is"):
        check_config(cfg)
