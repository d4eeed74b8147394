"""Every CLI error is one line naming the file, exit code 2, no traceback (issue 14, findings 6-8): parameter
files (YAML errors, tabs, python tags, "billion laughs"), images (truncated, huge, a directory), output
folders, devices, weights files (missing or misshapen tensors, bad config values, hub names, NaN) and a
garbage CYCLONEDDS_URI."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
from PIL import Image
from ros_fakes import scene
from test_hostile_images import png_header_only

from vatex_ros.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _one_line_error(caplog, capsys, argv, *needles) -> str:
    """Run ``vatex argv``: exit code 2, exactly one error record, on one line, naming every needle."""
    with caplog.at_level(logging.INFO):
        assert main([str(a) for a in argv]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "\n" not in errors[0] and len(errors[0]) < 1000, errors[0]
    for needle in needles:
        assert str(needle) in errors[0], errors[0]
    assert "Traceback" not in capsys.readouterr().err
    return errors[0]


# --- parameter files ------------------------------------------------------------------------------------------

BAD_YAML = {
    "syntax": "/**:\n  ros__parameters: {device: cpu\n",
    "tabs": "/**:\n\tros__parameters:\n\t\tdevice: cpu\n",
    "python_tag": "/**:\n  ros__parameters:\n    device: !!python/object/apply:os.system ['true']\n",
    "billion_laughs": "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))
        + "/**:\n  ros__parameters:\n    expression: *i\n",
}


@pytest.mark.parametrize("kind", sorted(BAD_YAML))
def test_bad_params_file(kind, tmp_path, caplog, capsys):
    path = tmp_path / f"{kind}.yaml"
    path.write_text(BAD_YAML[kind])
    message = _one_line_error(caplog, capsys, ["node", "--params", path], path)
    if kind == "billion_laughs":
        assert "alias" in message


def test_long_parameter_values_are_echoed_shortened(tmp_path, caplog, capsys):
    path = tmp_path / "long.yaml"
    path.write_text("/**:\n  ros__parameters:\n    device: '" + "x" * 100_000 + "'\n")
    message = _one_line_error(caplog, capsys, ["node", "--params", path], path, "more characters")
    assert len(message) < 600


def test_long_encoding_names_are_echoed_shortened(caplog):
    from ros_fakes import FakePredictor, frame_msg

    from vatex_ros.node.core import NodeCore
    from vatex_ros.node.params import NodeParams

    core = NodeCore(FakePredictor(), NodeParams(max_frame_age=0.0), lambda r: None)
    core.set_expression("red")
    msg = frame_msg(scene())
    msg.encoding = "e" * 100_000
    with caplog.at_level(logging.WARNING):
        core.submit_frame(msg)
        core.step()
    assert core.diagnostics.counts()["bad_image"] == 1
    assert max(len(r.getMessage()) for r in caplog.records) < 1000


# --- vatex segment --------------------------------------------------------------------------------------------

@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(scene()).save(path)
    return path


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("case", ["truncated_jpeg", "truncated_png", "png_20000x20000", "png_10000x10000",
                                  "not_an_image", "directory"])
def test_segment_bad_image(case, tmp_path, caplog, capsys, random_tiny_weights):
    path = tmp_path / ("dir" if case == "directory" else f"{case}.img")
    if case == "directory":
        path.mkdir()
    else:
        data = {"truncated_jpeg": lambda: _encoded("JPEG")[:300], "truncated_png": lambda: _encoded("PNG")[:300],
                "png_20000x20000": lambda: png_header_only(20_000, 20_000),
                "png_10000x10000": lambda: png_header_only(10_000, 10_000),
                "not_an_image": lambda: b"hello"}[case]()
        path.write_bytes(data)
    _one_line_error(caplog, capsys, ["segment", path, "red", "--weights", random_tiny_weights,
                                     "--out-dir", tmp_path / "out"], path)


def test_segment_out_dir_is_a_file(photo, tmp_path, caplog, capsys, random_tiny_weights):
    out = tmp_path / "a_file"
    out.write_text("x")
    _one_line_error(caplog, capsys, ["segment", photo, "red", "--weights", random_tiny_weights, "--out-dir", out], out)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_segment_cuda_without_gpu(photo, tmp_path, caplog, capsys, random_tiny_weights):
    _one_line_error(caplog, capsys, ["segment", photo, "red", "--weights", random_tiny_weights, "--device", "cuda",
                                     "--out-dir", tmp_path], "cuda")


# --- weights files --------------------------------------------------------------------------------------------

def _tampered(source: Path, target: Path, tensors=None, config=None) -> Path:
    """A copy of a weights file with ``tensors(state) -> state`` and ``config(dict)`` applied."""
    with safetensors.safe_open(str(source), framework="pt") as handle:
        metadata = handle.metadata()
    state = safetensors.torch.load_file(str(source))
    if tensors:
        state = tensors(state)
    if config:
        cfg = json.loads(metadata["config"])
        config(cfg)
        metadata = {**metadata, "config": json.dumps(cfg)}
    safetensors.torch.save_file(state, str(target), metadata=metadata)
    return target


def _drop_tensor(state):
    return {k: v for i, (k, v) in enumerate(sorted(state.items())) if i != 3}


def _reshape_tensor(state):
    name = next(k for k, v in sorted(state.items()) if v.ndim == 2)
    return {**state, name: torch.zeros(state[name].shape[0] + 1, state[name].shape[1])}


def _nan(state):
    return {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()}


def _set(section, key, value):
    def apply(cfg):
        cfg[section][key] = value
    return apply


WEIGHTS_FAULTS = {
    "missing_tensor": dict(tensors=_drop_tensor), "wrong_shape": dict(tensors=_reshape_tensor),
    "nan_tensors": dict(tensors=_nan), "hidden_dim_str": dict(config=_set("head", "hidden_dim", "64")),
    "hub_timm_name": dict(config=_set("backbone", "timm_name", "hf-hub:someone/model")),
    "decoder_ffn_1e9": dict(config=_set("head", "decoder_ffn_dim", 1_000_000_000)),
    "decoder_ffn_float": dict(config=_set("head", "decoder_ffn_dim", 1e9)),
    "query_motion_without_memory": dict(config=_set("temporal", "query_motion", True)),
    "correlation_radius_99": dict(config=_set("temporal", "correlation_radius", 99)),
    "measured_motion_without_correlation": dict(config=_set("temporal", "measured_motion", True)),
    "motion_logit_without_correlation": dict(config=_set("temporal", "motion_logit", True)),
}


@pytest.mark.parametrize("fault", sorted(WEIGHTS_FAULTS))
def test_segment_bad_weights(fault, photo, tmp_path, caplog, capsys, random_tiny_weights, monkeypatch):
    import timm

    monkeypatch.setattr(timm, "create_model", lambda *a, **k: pytest.fail("a bad config reached timm"))
    weights = _tampered(random_tiny_weights, tmp_path / f"{fault}.safetensors", **WEIGHTS_FAULTS[fault])
    if fault in ("missing_tensor", "wrong_shape", "nan_tensors"):
        monkeypatch.undo()  # these configs are fine: the model is built, the tensors are refused
    _one_line_error(caplog, capsys, ["segment", photo, "red", "--weights", weights, "--out-dir", tmp_path], weights)


@pytest.mark.parametrize("fault", ["wrong_shape", "hidden_dim_str"])
def test_bag_and_node_bad_weights(fault, tmp_path, caplog, capsys, random_tiny_weights):
    weights = _tampered(random_tiny_weights, tmp_path / f"{fault}.safetensors", **WEIGHTS_FAULTS[fault])
    params = tmp_path / "params.yaml"
    params.write_text(f"/**:\n  ros__parameters:\n    weights: '{weights}'\n")
    _one_line_error(caplog, capsys, ["node", "--params", params], weights)
    caplog.clear()
    source = tmp_path / "in"
    from test_hostile_bag import _write_bag

    _write_bag(source)
    _one_line_error(caplog, capsys, ["bag", source, tmp_path / "out", "--expression", "red", "--weights", weights],
                    weights)
    assert not (tmp_path / "out").exists()


# --- environment ----------------------------------------------------------------------------------------------

@pytest.mark.dds
def test_garbage_cyclonedds_uri(dds_env, random_tiny_weights, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(f"/**:\n  ros__parameters:\n    weights: '{random_tiny_weights}'\n")
    env = {**dds_env, "CYCLONEDDS_URI": "<CycloneDDS><Domain><General>garbage&&</Nope>",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "vatex_ros.cli", "node", "--params", str(params), "--duration", "1"],
                          env=env, capture_output=True, text=True, timeout=300)  # a loaded machine: 120 s was short
    errors = [line for line in proc.stderr.splitlines() if " ERROR " in line]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(errors) == 1 and "CYCLONEDDS_URI" in errors[0], proc.stderr[-2000:]
