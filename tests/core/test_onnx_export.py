"""`vatex export --format onnx`: the one-frame graph in onnxruntime matches PyTorch on the CPU (a temporal model's
graph, with its memory inputs: tests/core/test_onnx_runner.py). One export (about a minute and a half on a loaded
2-core CPU) serves the file."""

import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from vatex_core import load_vatex  # noqa: E402
from vatex_core.onnx_export import compare_with_torch, example_inputs  # noqa: E402
from vatex_ros.cli import main  # noqa: E402
from vatex_ros.commands.export import model_input_size  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "vatex-tiny.onnx"
    assert main(["export", "--format", "onnx", "--out", str(out), "--camera", "160x96", "--bench", "3"]) == 0
    return out


def test_the_graph_answers_as_pytorch_does(exported):
    description = json.loads(exported.with_suffix(".json").read_text())
    # A 160x96 camera frame is resized to short side 128 (213x128) and padded to 224x128.
    assert model_input_size((160, 96), 128, 256) == (128, 224)
    assert description["inputs"]["image"]["shape"] == [1, 3, 128, 224]
    assert description["inputs"]["padding_mask"] == {"shape": [1, 24], "dtype": "bool"}
    assert description["outputs"] == {"mask_logits": [1, 5, 32, 56], "scores": [1, 5], "prior_heatmap": [1, 8, 8]}
    check = description["check"]
    assert check["mask_logits"] < 1e-3 and check["scores"] < 1e-5  # measured: ~3e-5 and ~3e-7
    assert check["same_query"] == 1.0 and check["mask_agreement"] > 0.999
    assert description["bench"]["onnxruntime_ms"] > 0 and description["bench"]["torch_ms"] > 0

    # Another frame and expression than the command checked: the graph is not specialised to its example.
    model = load_vatex()
    inputs = example_inputs(model, 128, 224, "the green square", seed=5)
    again = compare_with_torch(model, exported, inputs)
    assert again["mask_logits"] < 1e-3 and again["same_query"] == 1.0
    import onnxruntime

    session = onnxruntime.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    logits, scores, _ = session.run(None, inputs.as_numpy())
    assert logits.shape == (1, 5, 32, 56) and np.all((scores >= 0) & (scores <= 1))

