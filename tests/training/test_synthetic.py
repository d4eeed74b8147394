"""Synthetic generator: determinism, split disjointness, unambiguous language, masks and motion."""

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from training.synthetic import SyntheticConfig, make_motion_scenes, make_scenes, parse, picks_exactly, referents
from training.synthetic.config import COLOURS
from training.synthetic.language import UNSURE
from training.synthetic.scenes import PARENT_CHECK_S
from training.synthetic.layout import ObjectTruth


def _digest(scene):
    return hashlib.sha1(scene.load_frames().tobytes()).hexdigest()


def test_same_seed_same_scenes(synthetic_cfg):
    a, b = make_scenes(synthetic_cfg, "train", 4, seed=9), make_scenes(synthetic_cfg, "train", 4, seed=9)
    for x, y in zip(a, b):
        assert x.scene_id == y.scene_id and _digest(x) == _digest(y)
        assert [o.expressions for o in x.objects] == [o.expressions for o in y.objects]
        for obj in x.objects:
            assert np.array_equal(x.load_mask(obj.object_id), y.load_mask(obj.object_id))
    assert [_digest(s) for s in make_scenes(synthetic_cfg, "train", 4, seed=10)] != [_digest(s) for s in a]


def _same_scenes(a, b):
    assert [s.scene_id for s in a] == [s.scene_id for s in b]
    for x, y in zip(a, b):
        assert _digest(x) == _digest(y) and [o.expressions for o in x.objects] == [o.expressions for o in y.objects]
        assert all(np.array_equal(x.load_mask(o.object_id), y.load_mask(o.object_id)) for o in x.objects)


def test_worker_processes_draw_the_same_scenes(synthetic_cfg, monkeypatch):
    """One pool for motion videos (image scenes go through the same one: starting processes costs seconds)."""
    monkeypatch.setattr("training.synthetic.scenes.MIN_SCENES_PER_WORKER", 2)  # 6 scenes are enough for 2 processes
    motion_cfg = SyntheticConfig(height=64, width=64)
    _same_scenes(make_motion_scenes(motion_cfg, "val", 6, workers=2), make_motion_scenes(motion_cfg, "val", 6))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        make_scenes(synthetic_cfg, "train", 1, workers=0)


_KILLED_PARENT = """
import sys
from training.synthetic import SyntheticConfig, make_scenes
import training.synthetic.scenes as scenes
scenes.MIN_SCENES_PER_WORKER = 1
print("drawing", flush=True)
make_scenes(SyntheticConfig(height=320, width=320), "train", 100000, workers=2)  # hours: killed long before
"""


def _children(parent: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == parent:
            children.add(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
def test_drawing_processes_exit_when_their_parent_is_killed(tmp_path):
    errors = tmp_path / "stderr.txt"  # the killed parent's resource tracker reports its semaphores there
    with errors.open("w") as stderr:
        parent = subprocess.Popen([sys.executable, "-c", _KILLED_PARENT], stdout=subprocess.PIPE, stderr=stderr,
                                  text=True)
    try:
        assert parent.stdout.readline().strip() == "drawing", errors.read_text()
        deadline, workers = time.monotonic() + 60, set()
        while len(workers) < 2 and time.monotonic() < deadline:  # the pool's 2 (the resource tracker aside)
            workers = {pid for pid in _children(parent.pid) if "multiprocessing-fork" in _cmdline(pid)}
            time.sleep(0.2)
        assert len(workers) == 2
    finally:
        parent.kill()  # SIGKILL: no handler of the parent's runs
        parent.wait()
    deadline = time.monotonic() + 10 * PARENT_CHECK_S + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_splits_are_disjoint(synthetic_cfg):
    splits = {split: make_scenes(synthetic_cfg, split, 15, seed=0) for split in ("train", "val", "test")}
    ids = [s.scene_id for scenes in splits.values() for s in scenes]
    digests = [_digest(s) for scenes in splits.values() for s in scenes]
    assert len(set(ids)) == len(ids) == 45 and len(set(digests)) == 45
    with pytest.raises(ValueError, match="unknown split"):
        make_scenes(synthetic_cfg, "dev", 1)


def test_every_expression_is_unambiguous_over_200_scenes():
    cfg = SyntheticConfig(height=64, width=64)
    scenes = make_scenes(cfg, "train", 200, seed=11)
    kinds = set()
    for scene in scenes:
        assert 2 <= len(scene.objects) <= 5
        for obj in scene.objects:
            assert 1 <= len(obj.expressions) <= cfg.max_expressions
            assert len(set(obj.expressions)) == len(obj.expressions)
            for text in obj.expressions:
                assert parse(text).text() == text  # round trip through the grammar
                assert referents(text, scene.truth, scene.image_size) == {obj.object_id}, (scene.scene_id, text)
                expr = parse(text)
                kinds.add("relation" if expr.relation else "superlative" if expr.superlative
                          else "spatial" if expr.spatial else "attribute")
    assert kinds == {"relation", "superlative", "spatial", "attribute"}


def test_video_expressions_hold_on_every_frame(synthetic_videos):
    for scene in synthetic_videos:
        for obj in scene.objects:
            for text in obj.expressions:
                assert picks_exactly(text, scene.truth, scene.image_size, obj.object_id)


def _truth(object_id, shape, colour, x, y, radius=5.0, size="small", texture="solid"):
    return ObjectTruth(object_id, shape, colour, size, texture, radius, 0.0, np.pi * radius**2,
                       np.array([[x, y]], float), np.array([[x, y]], float), np.zeros((1, 4), int), np.ones(1))


def test_checker_hand_built_scene():
    objects = [_truth("1", "circle", "red", 20, 50), _truth("2", "circle", "red", 80, 50),
               _truth("3", "square", "blue", 80, 20, radius=12, size="big")]
    size = (100, 100)
    assert referents("the red circle", objects, size) == {"1", "2"}
    assert referents("the circle on the left", objects, size) == {"1"}
    assert referents("the rightmost circle", objects, size) == {"2"}
    assert referents("the blue square", objects, size) == {"3"}
    assert referents("the biggest shape", objects, size) == {"3"}
    assert referents("the biggest square", objects, size) == set()  # needs two squares to compare
    assert referents("the circle below the blue square", objects, size) == {"2"}
    assert referents("the shape above the circle", objects, size) == set()  # landmark not unique
    assert referents("the square at the top", objects, size) == {"3"}  # lone candidate: absolute position
    assert referents("the square at the bottom", objects, size) == set()
    assert referents("the square on the left", objects, size) == set()


def test_checker_flags_near_ties():
    objects = [_truth("1", "star", "green", 40, 50), _truth("2", "star", "green", 43, 20)]
    size = (100, 100)
    assert UNSURE not in referents("the star at the top", objects, size)
    assert len(referents("the leftmost star", objects, size)) == 2  # 3 px apart: not a clear winner
    assert not picks_exactly("the leftmost star", objects, size, "1")
    lone = [_truth("1", "star", "green", 41, 50)]  # near the 40% line: borderline
    assert UNSURE in referents("the star on the left", lone, size)


@pytest.mark.parametrize("text", ["red circle", "the circle red", "the biggest circle on the left",
                                  "the circle next the square", "the circle above the", "the purple"])
def test_parse_rejects_outside_grammar(text):
    with pytest.raises(ValueError):
        parse(text)


def test_masks_match_truth_and_pixels(synthetic_images, synthetic_cfg):
    for scene in synthetic_images:
        union = np.zeros(scene.image_size, dtype=int)
        frame = scene.load_frames()[0].astype(int)
        for obj, truth in zip(scene.objects, scene.truth):
            mask = scene.load_mask(obj.object_id)[0]
            union += mask
            assert mask.sum() > 0 and truth.visible_fraction.min() >= 1 - synthetic_cfg.max_occlusion
            ys, xs = np.nonzero(mask)
            assert tuple(truth.bboxes[0]) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            if truth.texture == "solid":  # painted exactly with the object's colour
                assert (np.abs(frame[mask] - np.array(COLOURS[truth.colour])) <= 1).all()
        assert union.max() <= 1  # visible masks are disjoint


def test_video_objects_move_smoothly(synthetic_videos, synthetic_cfg):
    step_cap = synthetic_cfg.motion_speed * min(synthetic_cfg.height, synthetic_cfg.width) + 1e-6
    moved = 0
    for scene in synthetic_videos:
        assert scene.num_frames == synthetic_cfg.num_frames
        for obj, truth in zip(scene.objects, scene.truth):
            masks = scene.load_mask(obj.object_id)
            assert masks.shape == (synthetic_cfg.num_frames, *scene.image_size) and masks.any(axis=(1, 2)).all()
            steps = np.linalg.norm(np.diff(truth.centers, axis=0), axis=1)
            assert (steps <= step_cap).all()
            moved += int(not np.array_equal(masks[0], masks[-1]))
    assert moved >= sum(len(s.objects) for s in synthetic_videos) - 1
