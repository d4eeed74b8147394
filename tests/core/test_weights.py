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


def test_unreadable_format_version_names_the_file(tmp_path):
    import safetensors.torch

    path = tmp_path / "odd.safetensors"
    safetensors.torch.save_file({"x": torch.zeros(1)}, str(path), metadata={"format_version": "abc", "config": "{}"})
    with pytest.raises(ValueError, match=r"odd\.safetensors: weights format version 'abc' is not a number"):
        read_config(path)


@pytest.mark.parametrize("text, problem", [("{not json", "not a weights manifest"),
                                           ('{"found_threshold": "abc"}', "found_threshold 'abc'"),
                                           ('{"found_threshold": 2.0}', "found_threshold '2.0'"),
                                           ("[1, 2]", "not a weights manifest")])
def test_bad_manifest_errors_name_the_manifest(tmp_path, text, problem):
    from vatex_core.weights import calibrated_threshold

    (tmp_path / "m.json").write_text(text)
    with pytest.raises(ValueError, match=rf"m\.json: {problem}"):
        calibrated_threshold(tmp_path / "m.safetensors")
