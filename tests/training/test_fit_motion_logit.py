"""Fitting the motion logit on a model's own streams: it learns what the motion words ask of the motion, and a fit
that cannot help leaves the model without the term."""

import dataclasses

import pytest
import torch

from training.config import load_config
from training.fit_motion_logit import FitConfig, StreamFrames, collect, fit, fit_motion_logit
from training.synthetic import make_motion_scenes
from vatex_core import build_vatex, preset
from vatex_core.motion_words import motion_requests
from vatex_core.temporal import MotionLogit

LEFT, RIGHT = motion_requests(["the thing moving left", "the thing moving right"])


def _look_alikes(frames: int, seed: int, moving: bool = True) -> StreamFrames:
    """Two look-alikes, query 0 favoured by appearance (+2 log-odds), moving right, query 1 moving left; the words
    name one of them by its direction ("moving left" or "moving right"), the named one is covered exactly. When
    nothing moves, which one is named has nothing to do with the words."""
    generator = torch.Generator().manual_seed(seed)
    left = torch.rand(frames, generator=generator) < 0.5  # the words say "left"
    request = torch.where(left[:, None], LEFT, RIGHT)  # (F, R)
    speed = 0.5 if moving else 0.0
    displacement = torch.tensor([[speed, 0.0, speed], [-speed, 0.0, speed]]).expand(frames, -1, -1)
    named = left if moving else torch.rand(frames, generator=generator) < 0.5  # query 1 is named
    ious = torch.stack([(~named).float(), named.float()], 1)  # (F, 2)
    return StreamFrames(torch.tensor([2.0, 0.0]).expand(frames, -1), displacement, request, ious,
                        torch.ones(frames, dtype=torch.bool), ["direction"] * frames)


def test_the_fit_learns_which_way_the_words_ask_for():
    head = MotionLogit(hidden=16)
    results = fit(head, _look_alikes(64, 0), _look_alikes(32, 1), FitConfig(epochs=300, check_every=20), 0.5)
    assert results["held-out picked IoU without"]["direction"] == pytest.approx(0.5, abs=0.2)  # appearance: query 0
    assert results["held-out picked IoU with"]["direction"] == 1.0
    assert results["held-out J with"]["direction"] == 1.0  # and found: the named object is in view on every frame
    assert results["epoch"]["chosen"] > 0


def test_a_fit_that_cannot_help_keeps_the_model_without_the_term():
    """Nothing moves: the displacement is zero, no epoch beats the start, the term stays zero."""
    head = MotionLogit(hidden=16)
    still = _look_alikes(64, 0, moving=False)
    results = fit(head, still, _look_alikes(32, 1, moving=False), FitConfig(epochs=100, check_every=20), 0.5)
    assert results["epoch"]["chosen"] == 0
    assert head.out.weight.abs().max() == 0 and head.out.bias.abs().max() == 0


def test_fitting_a_model_runs_its_streams_and_keeps_the_rest(tmp_path, monkeypatch):
    torch.manual_seed(0)
    cfg = preset("tiny")
    cfg.temporal = dataclasses.replace(cfg.temporal, memory_frames=2, correlation_radius=2, motion_logit=True)
    model = build_vatex(cfg)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    synthetic = load_config("training/configs/tiny-1.4.0/temporal_logit_4h.yaml").data.synthetic
    scenes = make_motion_scenes(synthetic, "train", 2, seed=0)
    fit_cfg = FitConfig(scenes=2, epochs=20, check_every=10)
    head = model.temporal.motion_logit
    with torch.no_grad():
        head.out.weight.fill_(1.0)  # weights with a fitted term: the streams still run without it
    terms = []

    def collect_and_check(predictor, part):
        terms.append(max(float(head.out.weight.detach().abs().max()), float(head.out.bias.detach().abs().max())))
        return collect(predictor, part)

    monkeypatch.setattr("training.fit_motion_logit.collect", collect_and_check)
    results = fit_motion_logit(model, scenes, fit_cfg, found_threshold=0.5, frames_cache=tmp_path / "streams")
    assert terms == [0.0, 0.0]  # train and held-out streams
    assert set(results) == {"epoch", *(f"{part} {measure} {term}" for part in ("held-out", "train")
                                       for measure in ("J", "picked IoU") for term in ("without", "with"))}
    changed = {name for name, tensor in model.state_dict().items() if not torch.equal(tensor, before[name])}
    assert changed <= {name for name in before if name.startswith("temporal.motion_logit.")}
    assert sorted(p.name for p in (tmp_path / "streams").iterdir()) == ["held_out.pt", "train.pt"]
    # a second fit of the same model and videos reads the streams: the model does not run, the fit is the same
    monkeypatch.setattr("training.fit_motion_logit.collect", lambda *args: pytest.fail("the streams ran again"))
    again = fit_motion_logit(model, scenes, fit_cfg, found_threshold=0.5, frames_cache=tmp_path / "streams")
    assert again == results
    with pytest.raises(ValueError, match="different found threshold"):
        fit_motion_logit(model, scenes, fit_cfg, found_threshold=0.4, frames_cache=tmp_path / "streams")
    with pytest.raises(ValueError, match="different set of videos"):
        fit_motion_logit(model, scenes[::-1], fit_cfg, found_threshold=0.5, frames_cache=tmp_path / "streams")
    with torch.no_grad():
        model.backbone.body.patch_embed.proj.weight.add_(0.01)  # another model: its streams would differ
    with pytest.raises(ValueError, match="different model"):
        fit_motion_logit(model, scenes, fit_cfg, found_threshold=0.5, frames_cache=tmp_path / "streams")
    with pytest.raises(ValueError, match="motion logit"):
        fit_motion_logit(build_vatex(preset("tiny")), scenes, FitConfig(), found_threshold=0.5)
    with pytest.raises(ValueError, match="strictly between"):
        fit_motion_logit(model, scenes, FitConfig(), found_threshold=1.0)
