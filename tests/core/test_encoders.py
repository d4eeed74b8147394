"""`vatex fetch-encoders`: downloads through timm's and open_clip's own mechanisms (here a local fake hub),
a manifest with source, version and SHA-256, and configs that find the files afterwards. No test reaches a hub."""

import importlib.util
import json
import logging
import sys
import time
from pathlib import Path

import open_clip
import pytest
import safetensors.torch
import timm
import torch

from training.config import ModelSpec
from vatex_core import build_vatex, preset
from vatex_core import encoders
from vatex_core.encoders import SOURCES, fetch_encoders, fetched_encoders
from vatex_core.weights import sha256
from vatex_ros.cli import main

_spec = importlib.util.spec_from_file_location("fake_hub", Path(__file__).parents[1] / "fake_hub.py")
fake_hub = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fake_hub
_spec.loader.exec_module(fake_hub)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The fake hub serving tiny-preset encoders under TINY_SOURCES; the network is blocked."""
    fake_hub.block_network(monkeypatch)
    hub = fake_hub.FakeHub()
    hub.install(monkeypatch)
    hub.sources = fake_hub.serve_tiny_encoders(hub, tmp_path / "published")
    monkeypatch.setitem(SOURCES, "tiny", fake_hub.TINY_SOURCES)
    return hub


def test_fetch_writes_files_and_manifest_that_configs_find(hub, tmp_path, monkeypatch):
    manifest = fetch_encoders("tiny", tmp_path / "encoders")
    folder = tmp_path / "encoders" / "tiny"
    assert json.loads((folder / "encoders.json").read_text()) == manifest
    assert (fake_hub.TIMM_REPO, "model.safetensors") in hub.requests
    assert (fake_hub.CLIP_REPO, "open_clip_pytorch_model.bin") in hub.requests
    backbone, clip = manifest["files"]["backbone"], manifest["files"]["clip"]
    assert backbone["source"] == "timm:swin_tiny_patch4_window7_224.ms_in1k" and backbone["library"] == "timm"
    assert backbone["library_version"] == timm.__version__
    assert clip["source"] == "open_clip:ViT-B-16/openai" and clip["library_version"] == open_clip.__version__
    for entry in (backbone, clip):
        assert (entry["sha256"] == sha256(folder / entry["file"])
                and entry["bytes"] == (folder / entry["file"]).stat().st_size)
    assert not [p for p in folder.iterdir() if p.name.startswith(".download")]  # the hub cache is gone
    # The backbone file drops the classifier; the rest is the published tensors.
    saved = safetensors.torch.load_file(str(folder / backbone["file"]))
    published = safetensors.torch.load_file(str(hub.sources["backbone"]))
    assert "head.fc.weight" in published and "head.fc.weight" not in saved
    assert all(torch.equal(saved[k], published[k]) for k in saved) and len(saved) > 10

    # A config naming them "fetched" finds them through $VATEX_ENCODERS; the model starts from them.
    monkeypatch.setenv("VATEX_ENCODERS", str(tmp_path / "encoders"))
    spec = ModelSpec(preset="tiny", backbone_checkpoint="fetched", clip_checkpoint="fetched")
    assert spec.encoder_checkpoints() == (str(folder / backbone["file"]), str(folder / clip["file"]))
    model = build_vatex(preset("tiny"), *spec.encoder_checkpoints())
    source_clip = torch.load(hub.sources["clip"], weights_only=True)
    assert torch.equal(model.text_encoder.clip.token_embedding.weight, source_clip["token_embedding.weight"])
    assert torch.equal(model.clip_prior.clip_visual.conv1.weight, source_clip["visual.conv1.weight"])
    assert torch.equal(model.backbone.body.state_dict()["patch_embed.proj.weight"],
                       published["patch_embed.proj.weight"])
    assert (ModelSpec(preset="tiny", clip_checkpoint="fetched").encoder_checkpoints()
            == (None, str(folder / clip["file"])))


def test_fetched_files_are_verified(hub, tmp_path):
    fetch_encoders("tiny", tmp_path)
    files = fetched_encoders("tiny", tmp_path)
    with open(files.clip, "r+b") as handle:  # one flipped byte
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 1]))
    with pytest.raises(ValueError, match="damaged or replaced"):
        fetched_encoders("tiny", tmp_path)
    files.backbone.unlink()
    with pytest.raises(FileNotFoundError, match="is missing"):
        fetched_encoders("tiny", tmp_path, verify=False)
    with pytest.raises(FileNotFoundError, match="vatex fetch-encoders --preset paper"):
        fetched_encoders("paper", tmp_path)


def test_cli_prints_the_manifest_and_fails_in_one_line_offline(hub, tmp_path, capsys, caplog):
    assert main(["fetch-encoders", "--preset", "tiny", "--dir", str(tmp_path / "ok")]) == 0
    out = capsys.readouterr().out
    assert "backbone: timm:swin_tiny_patch4_window7_224.ms_in1k" in out and "sha256" in out
    assert f"export VATEX_ENCODERS=\"{(tmp_path / 'ok').resolve()}\"" in out

    hub.offline = True  # the hub answers nothing (past the connection probe)
    caplog.set_level(logging.ERROR)
    assert main(["fetch-encoders", "--preset", "tiny", "--dir", str(tmp_path / "offline")]) == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    message = errors[0].getMessage()
    assert "could not download timm swin_tiny_patch4_window7_224.ms_in1k" in message and "needs the internet" in message
    assert "\n" not in message and not (tmp_path / "offline" / "tiny" / "encoders.json").exists()


def test_offline_fails_fast_at_the_connection_probe(monkeypatch, tmp_path, caplog):
    """No hub reachable (here: the network blocked): one line within seconds, before any library retries."""
    fake_hub.block_network(monkeypatch)
    caplog.set_level(logging.ERROR)
    started = time.monotonic()
    assert main(["fetch-encoders", "--preset", "paper", "--dir", str(tmp_path)]) == 2
    assert time.monotonic() - started < 10
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cannot reach huggingface.co:443" in errors[0].getMessage()
    monkeypatch.setattr(encoders.huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(encoders.EncoderFetchError, match="HF_HUB_OFFLINE"):
        fetch_encoders("paper", tmp_path)


def test_a_file_that_does_not_fit_the_preset_is_refused(hub, tmp_path):
    other = fake_hub.tiny_encoder_files(tmp_path / "wrong")
    state = safetensors.torch.load_file(str(other["backbone"]))
    state["patch_embed.proj.weight"] = torch.zeros(7, 3, 4, 4)  # another width
    safetensors.torch.save_file(state, str(other["backbone"]))
    hub.add(fake_hub.TIMM_REPO, "model.safetensors", other["backbone"])
    with pytest.raises(encoders.EncoderFetchError, match="swin_tiny_patch4_window7_224"):
        fetch_encoders("tiny", tmp_path / "encoders")
    assert not (tmp_path / "encoders" / "tiny" / "encoders.json").exists()


def test_presets_without_published_encoders_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no published encoders"):
        fetch_encoders("tiny", tmp_path)


def test_paper_sources_are_names_timm_and_open_clip_publish():
    """The paper's entry names weights the installed libraries know (a typo would only show when online)."""
    sources = SOURCES["paper"]
    cfg = timm.models.get_pretrained_cfg(f"{preset('paper').backbone.timm_name}.{sources.timm_tag}")
    assert cfg is not None and cfg.hf_hub_id and cfg.num_classes == 21841  # ImageNet-22k, as Mask2Former starts
    assert open_clip.get_pretrained_cfg(sources.clip_model, sources.clip_pretrained).get("hf_hub")
