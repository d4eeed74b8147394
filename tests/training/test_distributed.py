"""Multi-process training as torchrun runs it (gloo on the CPU, loopback only): two processes at a global batch of 4
give the loss and gradients of one process at the same batch, write each checkpoint once, log and show progress
from rank 0 only, and a checkpoint of two processes resumes in one and continues the same run.

The matcher's and the mask losses' random points are fixed by tests/training/ddp_worker.py (each process draws
its own otherwise), and MCC is off: its negatives are the process's own batch by design (training/mcc.py), so it
is the one loss term that changes with the number of processes.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).parents[2]
CONFIG = """\
name: ddp_test
model: {preset: tiny, overrides: {input: {short_side: 64, max_size: 64}}}
data:
  kind: synthetic
  synthetic: {height: 64, width: 64, max_objects: 2, max_expressions: 2}
  synthetic_scenes: {train: 4}  # 16 triplets: the 4 steps of 4 are one epoch
  augment: {short_side: 64, max_size: 64}
loss: {num_points: 256, weight_mcc: 0.0}
batch_size: 4
max_iters: 4
checkpoint_interval: 2
log_interval: 1
num_workers: 0
"""
TIMEOUT = 300  # seconds per launch; a hung rendezvous fails the test instead of blocking the suite

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(record: Path) -> dict[str, str]:
    env = {**os.environ, "VATEX_TEST_RECORD": str(record), "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1",
           "GLOO_SOCKET_IFNAME": "lo", "PYTHONPATH": str(ROOT)}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT"):  # a launcher around pytest must not leak in
        env.pop(name, None)
    return env


def _launch(tmp_path: Path, name: str, processes: int, *args: str, out: str | None = None) -> tuple[Path, Path]:
    """Runs the worker in ``processes`` processes (torchrun when > 1) into run dir ``out`` (default ``name``);
    returns (run dir, record dir)."""
    run, record = tmp_path / (out or name), tmp_path / f"{name}_record"
    record.mkdir()
    worker_args = [str(WORKER), "--config", str(tmp_path / "config.yaml"), "--out", str(run), *args]
    if processes == 1:
        command = [sys.executable, *worker_args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                   "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
                   "--log-dir", str(tmp_path / f"{name}_logs"), "--redirects", "3", *worker_args]
    done = subprocess.run(command, cwd=ROOT, env=_env(record), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return run, record


def _metrics(run: Path) -> dict[int, dict]:
    return {record["step"]: record for record in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}


def _assert_same_step(one: tuple[dict, Path], other: tuple[dict, Path], step: int) -> None:
    """Loss, grad norm and the whole gradient within ``tolerance`` of their size: 1e-4 at step 1, where both runs
    start from the same weights, 1e-2 after. Two processes sum the gradient in another order than one, and Adam's
    first steps move each weight by about lr times its gradient's sign, so a near-zero gradient's last bits move
    the weights after step 1 by a whole step (seen on one machine: 8.5e-4 at step 2). A rank that did not average
    or did not step is off by far more."""
    tolerance = 1e-4 if step == 1 else 1e-2
    (metrics_a, record_a), (metrics_b, record_b) = one, other
    assert metrics_b[step]["loss"] == pytest.approx(metrics_a[step]["loss"], rel=tolerance / 10), step
    assert metrics_b[step]["grad_norm"] == pytest.approx(metrics_a[step]["grad_norm"], rel=tolerance), step
    grads_a = torch.load(record_a / f"grads_{step}.pt", weights_only=True)
    grads_b = torch.load(record_b / f"grads_{step}.pt", weights_only=True)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 100
    flat_a = torch.cat([grads_a[name].flatten() for name in sorted(grads_a)])
    flat_b = torch.cat([grads_b[name].flatten() for name in sorted(grads_a)])
    assert flat_a.norm() > 0
    assert ((flat_a - flat_b).norm() / flat_a.norm()).item() < tolerance, step


def test_two_processes_train_as_one_and_resume_in_one(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    single, single_record = _launch(tmp_path, "single", 1)
    double, double_record = _launch(tmp_path, "double", 2, "--max-steps", "2")
    one = (_metrics(single), single_record)
    two = (_metrics(double), double_record)
    assert sorted(one[0]) == [1, 2, 3, 4] and sorted(two[0]) == [1, 2]
    for step in (1, 2):
        _assert_same_step(one, two, step)

    # One checkpoint, written by rank 0 only; the log and the progress bar are rank 0's.
    assert (double_record / "saves.txt").read_text() == "0\n"
    assert sorted(p.name for p in (double / "checkpoints").iterdir() if p.is_dir()) == ["step_00000002"]
    assert (double / "train.log").read_text().count("INFO training.train: step 2 ") == 1
    logs = {int(p.parent.name): p.read_text() for p in (tmp_path / "double_logs").glob("*/attempt_0/*/stderr.log")}
    assert sorted(logs) == [0, 1]
    assert "training.train: step 1 " in logs[0] and "train: 100%" in logs[0]
    assert logs[1].strip() == "", logs[1][-2000:]  # rank 1: no log line, no progress bar

    # The two-process checkpoint resumes in one process: steps 3 and 4 of the one-process run.
    resumed, resumed_record = _launch(tmp_path, "resumed", 1, "--resume", str(double / "checkpoints" / "step_00000002"),
                                      out="double")
    assert resumed == double
    three = (_metrics(double), resumed_record)
    assert sorted(three[0]) == [1, 2, 3, 4]
    for step in (3, 4):
        _assert_same_step(one, three, step)
