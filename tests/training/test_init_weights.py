"""Starting weights of a training stage: the same model, or one without the temporal parts the stage adds."""

import pytest
import torch

from training.train import load_init_weights
from vatex_core import build_vatex, preset, save_weights


def _model(memory_frames: int = 0, query_motion: bool = False, correlation_radius: int = 0, seed: int = 0,
           motion_logit: bool = False):
    torch.manual_seed(seed)
    cfg = preset("tiny")
    cfg.temporal.memory_frames = memory_frames
    cfg.temporal.query_motion = query_motion
    cfg.temporal.correlation_radius = correlation_radius
    cfg.temporal.motion_logit = motion_logit
    return build_vatex(cfg)


@pytest.mark.parametrize(("saved", "added"), [
    ({}, ("temporal.",)),
    ({"memory_frames": 2}, ("temporal.query_motion.", "temporal.correlation.")),
    ({"memory_frames": 2, "query_motion": True}, ("temporal.correlation.",)),
])
def test_a_stage_adds_temporal_parts_that_start_untrained(tmp_path, saved, added):
    source = _model(**saved, seed=1)  # another seed than the target's: every random tensor differs
    path = tmp_path / "source.safetensors"
    save_weights(source, path)
    target = _model(memory_frames=2, query_motion=True, correlation_radius=2, seed=2)
    load_init_weights(target, path)
    got, kept = target.state_dict(), source.state_dict()
    assert all(torch.equal(got[name], kept[name]) for name in kept)  # everything in the file is taken
    new = [name for name in got if name not in kept]
    assert new and all(name.startswith(added) for name in new)
    for out_layer in (target.temporal.query_motion.embed.layers[-1], target.temporal.correlation):
        assert out_layer.weight.abs().max() == 0 and out_layer.bias.abs().max() == 0  # untrained: adds nothing


def test_measuring_the_queries_motion_takes_every_tensor(tmp_path):
    source = _model(memory_frames=2, query_motion=True, correlation_radius=2, seed=1)
    path = tmp_path / "source.safetensors"
    save_weights(source, path)
    target = _model(memory_frames=2, query_motion=True, correlation_radius=2, seed=2)
    target.cfg.temporal.measured_motion = True  # no parameter of its own: the file's model, motion measured
    load_init_weights(target, path)
    kept = source.state_dict()
    assert all(torch.equal(tensor, kept[name]) for name, tensor in target.state_dict().items())


def test_the_motion_logit_starts_untrained_beside_the_correlation(tmp_path):
    """A memory-only model (4b) given the correlation and the motion logit: the file's model, plus two parts at zero."""
    source = _model(memory_frames=2, seed=1)
    path = tmp_path / "source.safetensors"
    save_weights(source, path)
    target = _model(memory_frames=2, correlation_radius=2, seed=2, motion_logit=True)
    load_init_weights(target, path)
    got, kept = target.state_dict(), source.state_dict()
    assert all(torch.equal(got[name], kept[name]) for name in kept)
    new = {name.split(".")[1] for name in got if name not in kept}
    assert new == {"correlation", "motion_logit"}
    logit = target.temporal.motion_logit
    assert logit.out.weight.abs().max() == 0 and logit.out.bias.abs().max() == 0  # no term until it is fitted


def test_other_configurations_are_refused(tmp_path):
    path = tmp_path / "source.safetensors"
    save_weights(_model(memory_frames=2, query_motion=True), path)
    with pytest.raises(ValueError, match="different configuration"):  # dropping a part is not starting from it
        load_init_weights(_model(memory_frames=2), path)
    wider = preset("tiny")
    wider.temporal.memory_frames, wider.temporal.query_motion, wider.temporal.motion_dim = 2, True, 32
    save_weights(build_vatex(wider), path)
    with pytest.raises(ValueError, match="different configuration"):
        load_init_weights(_model(memory_frames=2, query_motion=True), path)


@pytest.mark.parametrize("memory_frames", [0, 2])  # the same model, or one that adds the temporal parts too
def test_weights_trained_at_one_input_size_start_a_run_at_another(tmp_path, memory_frames):
    source = _model(seed=1)
    path = tmp_path / "source.safetensors"
    save_weights(source, path)
    target = _model(memory_frames=memory_frames, seed=2)
    target.cfg.input.short_side, target.cfg.input.max_size = 160, 320  # no tensor's shape depends on it
    load_init_weights(target, path)
    got = target.state_dict()
    assert all(torch.equal(got[name], tensor) for name, tensor in source.state_dict().items())
    assert target.cfg.input.short_side == 160  # the run keeps its own size
    target.cfg.head.num_queries += 1  # but another shape is still refused
    with pytest.raises(ValueError, match="another configuration"):
        load_init_weights(target, path)
    save_weights(_model(memory_frames=2, seed=1), path)  # and dropping a part
    smaller = _model(seed=2)
    smaller.cfg.input.short_side, smaller.cfg.input.max_size = 160, 320
    with pytest.raises(ValueError, match="another configuration"):
        load_init_weights(smaller, path)
