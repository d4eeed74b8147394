import pickle

import pytest
import torch

from vatex_core import build_vatex, load_vatex, load_weights, preset, read_config, save_weights


@torch.no_grad()
def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = build_vatex(preset("tiny")).eval()
    path = tmp_path / "m.safetensors"
    save_weights(model, path)
    assert read_config(path) == model.cfg
    torch.manual_seed(123)  # a different random init, overwritten by the load
    loaded = load_vatex(path)
    frames = torch.rand(1, 1, 3, 64, 64)
    a = model(frames, model.encode_text(["the red circle"]))
    b = loaded(frames, loaded.encode_text(["the red circle"]))
    assert torch.equal(a["pred_masks"], b["pred_masks"])
    assert torch.equal(a["pred_logits"], b["pred_logits"])


def test_weights_of_another_preset_are_refused(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_weights(build_vatex(preset("tiny")), path)
    cfg = preset("tiny")
    cfg.name = "paper-like"
    cfg.head.decoder_layers = 3
    with pytest.raises(ValueError, match="preset 'tiny'.*preset 'paper-like'"):
        load_weights(build_vatex(cfg), path)


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        load_vatex(tmp_path / "nothing.safetensors")


def test_pickle_files_are_not_loaded(tmp_path):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_vatex(path)
