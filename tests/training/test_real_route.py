"""The real-image route of docs/train_real_data.md end to end, on miniature data with fake encoders: fetch (from a
local fake hub) -> training/recipes/paper_refcoco.sh itself with the tiny preset (data check, training in two
processes with torchrun, evaluation on val/testA/testB, calibration on gRefCOCO val, release) -> the node loads
the released weights from the recipe's parameters file and answers a frame."""

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
from fixtures import complete_refer_splits, write_grefcoco, write_refer

from vatex_core.encoders import SOURCES
from vatex_core.weights import read_manifest, sha256
from vatex_ros.cli import main

_spec = importlib.util.spec_from_file_location("fake_hub", Path(__file__).parents[1] / "fake_hub.py")
fake_hub = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fake_hub
_spec.loader.exec_module(fake_hub)

ROOT = Path(__file__).parents[2]
RECIPE = ROOT / "training" / "recipes" / "paper_refcoco.sh"
# Miniature run: 2 steps of 2 triplets (one per process), small frames, few points, no data workers.
MINIATURE = ("batch_size=2 num_workers=0 data.augment.short_side=64 data.augment.max_size=96 loss.num_points=256 "
             "checkpoint_interval=2 log_interval=1")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_fetch_check_train_on_two_processes_eval_release_and_node(tmp_path, monkeypatch):
    # 1. fetch-encoders, from the fake hub (the recipe would skip this step: the manifest is there).
    hub = fake_hub.FakeHub()
    hub.install(monkeypatch)
    published = fake_hub.serve_tiny_encoders(hub, tmp_path / "published")
    monkeypatch.setitem(SOURCES, "tiny", fake_hub.TINY_SOURCES)
    encoders = tmp_path / "encoders"
    assert main(["fetch-encoders", "--preset", "tiny", "--dir", str(encoders)]) == 0

    # The data: RefCOCO (all four splits) and gRefCOCO (for the found threshold) over the same COCO images.
    data = tmp_path / "refer"
    write_refer(data)
    write_grefcoco(data)  # images 1 and 2 again, in the same colours
    complete_refer_splits(data)

    run = tmp_path / "run"
    bin_dir = Path(sys.executable).parent  # the venv's vatex and torchrun
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "VATEX_ENCODERS": str(encoders), "PRESET": "tiny", "NPROC": "2", "DATA": str(data), "RUN": str(run),
           "STEPS": "2", "SET": MINIATURE, "DEVICE": "cpu", "VERSION": "0.0.1-test", "MIN_T_ACC": "0",
           "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
           "GLOO_SOCKET_IFNAME": "lo"}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(name, None)
    done = subprocess.run(["bash", str(RECIPE)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-5000:])
    assert f"encoders of tiny already in {encoders}/tiny" in done.stdout
    assert json.loads((run / "data_check.json").read_text())["ready"] is True

    # 2-process training started from the fetched encoders: after 2 steps at the backbone lr (1e-5) the patch
    # embedding is still the published one (a random start would be nowhere near it).
    checkpoint = run / "checkpoints" / "step_00000002" / "model.safetensors"
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_00000002"
    trained = safetensors.torch.load_file(str(checkpoint))
    source = safetensors.torch.load_file(str(published["backbone"]))
    difference = (trained["backbone.body.patch_embed.proj.weight"] - source["patch_embed.proj.weight"]).abs().max()
    assert difference < 1e-3
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2] and all(np.isfinite(m["loss"]) for m in metrics)

    for split in ("val", "testA", "testB"):
        result = json.loads((run / f"eval_{split}.json").read_text())
        assert (result["dataset"], result["split"], result["items"]) == ("refcoco", split, 1)
        assert 0 <= result["metrics"]["mIoU"] <= 100
    calibration = json.loads((run / "calibration.json").read_text())["calibration"]
    assert calibration["dataset"] == "grefcoco" and calibration["split"] == "val"

    # The release: float16 weights + manifest with the SHA-256, the val quality and the calibrated threshold.
    release = run / "release" / "vatex-tiny-refcoco.safetensors"
    manifest = read_manifest(release)
    assert manifest["sha256"] == sha256(release) and manifest["version"] == "0.0.1-test"
    assert manifest["recipe"] == "training/recipes/paper_refcoco.sh" and manifest["quality"]["split"] == "val"
    assert manifest["found_threshold"] == calibration["threshold"]

    # The node, from the parameters file the recipe wrote, loads the release and answers a frame.
    from vatex_ros.messages.images import array_to_image
    from vatex_ros.messages.idl import Header, Time
    from vatex_ros.node.core import NodeCore
    from vatex_ros.node.params import load_params
    from vatex_ros.node.predictor_loading import load_predictor

    params = load_params(run / "release" / "vatex_refcoco.yaml")
    assert Path(params.weights) == release.resolve() and params.preset == "tiny"
    predictor = load_predictor(params)
    assert predictor.found_threshold == manifest["found_threshold"]
    results = []
    core = NodeCore(predictor, params, results.append, clock=lambda: 100.0, monotonic=lambda: 100.0)
    core.set_expression("red square")
    frame = np.zeros((40, 60, 3), dtype=np.uint8)
    frame[10:30, 10:30] = (200, 30, 30)
    header = Header(stamp=Time(sec=100, nanosec=0), frame_id="camera")
    core.submit_frame(array_to_image(frame, "rgb8", header))
    result = core.step()
    assert result is not None and results == [result] and result.header is header
    assert result.mask.shape == (40, 60) and 0.0 <= result.score <= 1.0 and result.expression == "red square"
