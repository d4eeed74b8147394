"""`backend: onnxruntime`: the Predictor through exported graphs answers as through PyTorch, for a per-frame and a
temporal model (memory in, frame features out), in streams and batched steps; graphs are exported once per size
and weights, then loaded from the cache; bad combinations fail before anything is loaded.
Two exports (about 30 to 90 s each on a 2-core CPU) serve every test of the file."""

import copy
import json
import logging

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from vatex_core import Predictor, build_vatex, load_vatex, preset  # noqa: E402
from vatex_core import onnx_runner  # noqa: E402
from vatex_ros.node.params import NodeParams  # noqa: E402

pytestmark = pytest.mark.slow

SIZE = (128, 192)  # (H, W): the tiny model's own input size, one graph


def _frames(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = []
    for step in range(count):
        frame = rng.integers(0, 120, (*SIZE, 3), dtype=np.uint8)
        frame[40:80, 30 + 12 * step : 70 + 12 * step] = (220, 30, 30)  # a red square moving right
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def graph_cache(tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("onnx-cache")
    monkeypatch_module.setenv(onnx_runner.CACHE_ENV, str(folder))
    return folder


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module", params=[False, True], ids=["learnt_motion", "measured_motion"])
def temporal_model(request):
    torch.manual_seed(0)
    cfg = preset("tiny")
    cfg.temporal.memory_frames = 2
    cfg.temporal.query_motion = True  # the whole temporal model: the memory, its correlation, the queries' motion
    cfg.temporal.correlation_radius = 2
    cfg.temporal.measured_motion = request.param  # the queries' motion read from the residual, or measured
    cfg.temporal.motion_logit = request.param  # and then read by the decision too
    model = build_vatex(cfg).eval()
    model.load_state_dict(load_vatex().state_dict(), strict=False)  # 1.3.0's weights, a memory that acts:
    torch.nn.init.normal_(model.temporal.out.weight, std=0.05)  # (untrained it would add exactly zero)
    torch.nn.init.normal_(model.temporal.query_motion.embed.layers[-1].weight, std=0.05)
    torch.nn.init.normal_(model.temporal.correlation.weight, std=0.05)
    if request.param:
        for parameter in model.temporal.motion_logit.parameters():
            torch.nn.init.normal_(parameter, std=0.5)
    return model


def test_per_frame_model_answers_as_in_pytorch_and_the_graph_is_cached(graph_cache, caplog):
    frames = _frames(3)
    torch_predictor = Predictor(load_vatex())
    with caplog.at_level(logging.INFO, logger="vatex_core.onnx_runner"):
        onnx_predictor = Predictor(load_vatex(), backend="onnxruntime")
        expected = [torch_predictor.predict(frame, "the red square") for frame in frames]
        got = [onnx_predictor.predict(frame, "the red square") for frame in frames]
    assert "exporting the graph for 192x128" in caplog.text
    for want, have in zip(expected, got):
        assert have.score == pytest.approx(want.score, abs=1e-4)
        assert (have.mask == want.mask).mean() > 0.999 and have.found == want.found
        assert np.allclose(have.heatmap, want.heatmap, atol=1e-4)
    assert len(list(graph_cache.glob("tiny-*-192x128.onnx"))) == 1

    # A second predictor of the same weights loads the graph; it exports nothing.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vatex_core.onnx_runner"):
        again = Predictor(load_vatex(), backend="onnxruntime").predict(frames[0], "the red square")
    assert "exporting" not in caplog.text and "from " + str(graph_cache) in caplog.text
    assert again.score == pytest.approx(expected[0].score, abs=1e-4)


def test_temporal_stream_and_batched_steps_answer_as_in_pytorch(graph_cache, temporal_model):
    frames = _frames(4)
    torch_predictor = Predictor(copy.deepcopy(temporal_model), found_threshold=0.0)
    onnx_predictor = Predictor(copy.deepcopy(temporal_model), found_threshold=0.0, backend="onnxruntime")
    expressions = ("the red square moving right", "the blue circle")
    torch_sessions = [torch_predictor.stream(e) for e in expressions]
    onnx_sessions = [onnx_predictor.stream(e) for e in expressions]
    for step, frame in enumerate(frames):
        stamp = 0.1 * step
        # two expressions on one camera: one clip of two (frame, expression) rows in the graph loop
        expected = torch_predictor.step_batch(torch_sessions, [frame, frame], [stamp, stamp])
        got = onnx_predictor.step_batch(onnx_sessions, [frame, frame], [stamp, stamp])
        for want, have in zip(expected, got):
            assert have.score == pytest.approx(want.score, abs=1e-4)
            assert (have.mask == want.mask).mean() > 0.999 and have.target_id == want.target_id
    for want, have in zip(torch_sessions, onnx_sessions):
        assert have.memory.valid.tolist() == want.memory.valid.tolist() == [[True, True]]
        assert torch.allclose(have.memory.features, want.memory.features, atol=1e-3)
        assert torch.allclose(have.memory.target, want.memory.target, atol=1e-3)

    # this model's graph: the memory is its input, this frame's features its output
    key = onnx_runner.model_key(onnx_predictor.model)
    temporal = [json.loads(path.read_text()) for path in graph_cache.glob(f"tiny-{key}-192x128.json")]
    assert len(temporal) == 1 and "memory_features" in temporal[0]["inputs"]
    assert temporal[0]["inputs"]["memory_features"]["shape"] == [1, 2, *temporal[0]["outputs"]["frame_features"][1:]]
    assert temporal[0]["inputs"]["memory_valid"] == {"shape": [1, 2], "dtype": "bool"}
    # the memory matters: the same last frame without its past answers otherwise
    alone = onnx_predictor.stream(expressions[0]).step(frames[-1])
    assert abs(alone.score - got[0].score) > 1e-3 or (alone.mask != got[0].mask).any()


def test_clips_of_several_frames_run_in_pytorch(graph_cache):
    """A per-frame model decodes a clip with queries shared over its frames: that stays in PyTorch."""
    frames = _frames(2)
    expected = Predictor(load_vatex()).predict_clip(frames, "the red square")
    got = Predictor(load_vatex(), backend="onnxruntime").predict_clip(frames, "the red square")
    assert [p.score for p in got] == pytest.approx([p.score for p in expected], abs=1e-5)


def test_bad_backend_combinations_fail_first():
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        Predictor.from_pretrained(backend="tensorrt")
    with pytest.raises(ValueError, match="onnxruntime backend runs float32 on the CPU"):
        Predictor.from_pretrained(precision="fp16", backend="onnxruntime")
    with pytest.raises(ValueError, match="backend onnxruntime runs fp32 on the cpu"):
        NodeParams(backend="onnxruntime", device="cuda")
    with pytest.raises(ValueError, match="backend must be one of"):
        NodeParams(backend="tvm")
    assert NodeParams(backend="onnxruntime").backend == "onnxruntime"


def test_the_node_loads_the_onnxruntime_backend(graph_cache):
    from vatex_ros.node.predictor_loading import load_predictor

    predictor = load_predictor(NodeParams(backend="onnxruntime", compile_frame_size="192x128"))  # warmed up: exported
    assert predictor.backend == "onnxruntime"
    frame = _frames(1)[0]
    expected = Predictor.from_pretrained().predict(frame, "the red square")
    assert predictor.predict(frame, "the red square").score == pytest.approx(expected.score, abs=1e-4)
