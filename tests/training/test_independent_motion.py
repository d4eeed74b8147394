"""The independent renderer's motion videos: determinism, the five phrase forms, masks of every object,
look-alikes told apart by motion, exits and a card that hides, agreement with the training checker,
and `vatex eval --dataset independent_motion` comparing streams with frame by frame."""

import hashlib
import json
import re

import numpy as np
import pytest
import torch

from training.independent import videos as independent_videos
from training.independent.grammar import Noun
from training.independent.motion import MOVING, MotionPhrase, Mover, moves, pick_motion
from training.independent.videos import FRAMES, make_independent_videos
from training.synthetic.config import COLOURS, SHAPES, SIZES, TEXTURES
from training.synthetic.language import parse, referents
from training.synthetic.layout import ObjectTruth
from vatex_core import build_vatex, preset, save_weights
from vatex_ros.cli import main

DESCRIPTION = (rf"(?:(?:{'|'.join(SIZES)}) )?(?:(?:{'|'.join(COLOURS)}) )?(?:(?:{'|'.join(TEXTURES)}) )?"
               rf"(?:{'|'.join(SHAPES)}|shape)")
FORMS = re.compile(rf"the (?:fastest|slowest) {DESCRIPTION}|the {DESCRIPTION} "
                   r"(?:moving left|moving right|moving up|moving down|that is moving|that is not moving)")


@pytest.fixture(scope="module")
def videos():
    return make_independent_videos("val", 30)


def _digest(video) -> str:
    masks = b"".join(video.load_mask(o.object_id).tobytes() for o in video.objects)
    return hashlib.sha1(video.load_frames().tobytes() + masks + repr([o.expressions for o in video.objects]).encode()
                        ).hexdigest()


def test_same_split_same_videos_prefix_stable_and_splits_apart(videos):
    again = make_independent_videos("val", 3)
    assert [_digest(v) for v in again] == [_digest(v) for v in videos[:3]]
    assert [v.scene_id for v in again] == [f"independent-motion/val/{i:06d}" for i in range(3)]
    assert not {_digest(v) for v in make_independent_videos("test", 3)} & {_digest(v) for v in videos[:3]}
    with pytest.raises(ValueError, match="evaluation only"):
        make_independent_videos("train", 1)


def test_phrases_have_the_five_forms_and_both_kinds_are_asked_for(videos):
    words = {"left": 0, "right": 0, "up": 0, "down": 0, "that is moving": 0, "not moving": 0, "fastest": 0,
             "slowest": 0}
    targets = absent = 0
    for video in videos:
        for obj in video.objects:
            for text in obj.expressions:
                assert FORMS.fullmatch(text), text
                for word in words:
                    words[word] += word in text
            targets += 0 if obj.no_target else len(obj.expressions)
            absent += len(obj.expressions) if obj.no_target else 0
    assert targets >= 150 and absent >= 30
    assert min(words.values()) >= 3, words  # every motion word occurs


def test_every_object_has_masks_and_the_masks_are_its_visible_pixels(videos):
    for video in videos:
        frames = video.load_frames()
        assert FRAMES[0] <= len(frames) <= FRAMES[1]
        real = [o for o in video.objects if not o.no_target]
        assert [o.object_id for o in real] == [m.object_id for m in video.movers]
        masks = np.stack([video.load_mask(o.object_id) for o in real])  # (N, T, H, W)
        assert masks.shape[1:] == frames.shape[:3]
        assert (masks.sum(axis=0) <= 1).all()  # objects never overlap
        assert (masks.any(axis=(2, 3)).sum(axis=1) >= 3).all()  # everyone seen on 3+ frames
        if video.card is not None:
            assert not (masks & video.card).any()  # nothing is seen through the card
        for obj in video.objects:
            if obj.no_target:
                assert obj.object_id == "absent" and not video.load_mask(obj.object_id).any()


def test_look_alikes_exits_and_hiding_happen(videos):
    twins = exits = hidden = 0
    for video in videos:
        movers = video.movers
        side = min(video.load_frames().shape[1:3])
        for a in range(len(movers)):
            for b in range(a + 1, len(movers)):
                if (movers[a].shape, movers[a].colour) == (movers[b].shape, movers[b].colour):
                    twins += 1
                    still = [moves(m, "still", side) for m in (movers[a], movers[b])]
                    heading = [np.arctan2(m.vy, m.vx) for m in (movers[a], movers[b])]
                    gap = abs((heading[0] - heading[1] + np.pi) % (2 * np.pi) - np.pi)
                    assert still[0] != still[1] or (not still[0] and gap > np.pi / 3)  # they move differently
        for mover in movers:
            mask = video.load_mask(mover.object_id)
            area = mask.sum(axis=(1, 2))
            exits += bool((area == 0).any())
            if video.card is not None and mover.speed(side) >= MOVING:
                hidden += bool(((area > 0) & (area < 0.6 * area.max())).any())
    assert twins >= 5 and exits >= 3 and hidden >= 3, (twins, exits, hidden)


def _truth(video) -> list[ObjectTruth]:
    """The training checker's records: only attributes and velocity matter to motion phrases."""
    steps = np.arange(video.num_frames, dtype=np.float64)[:, None]
    return [ObjectTruth(m.object_id, m.shape, m.colour, m.size, m.texture, radius=10.0, texture_angle=0.0, area=300.0,
                        centers=100 + steps * np.array([m.vx, m.vy]), centroids=np.zeros((video.num_frames, 2)),
                        bboxes=np.zeros((video.num_frames, 4), dtype=np.int64),
                        visible_fraction=np.ones(video.num_frames)) for m in video.movers]


def test_the_training_checker_reads_every_phrase_the_same_way(videos):
    for video in videos:
        size = video.load_frames().shape[1:3]
        truth = _truth(video)
        for obj in video.objects:
            for text in obj.expressions:
                assert parse(text).text() == text
                expected = frozenset() if obj.no_target else frozenset({obj.object_id})
                assert referents(text, truth, size) == expected, (video.scene_id, text)


def test_checker_margins():
    side = 200.0
    still, slow_left = (Mover("1", "circle", "red", "big", "solid", 0, 0),
                        Mover("2", "circle", "red", "big", "solid", -3, 0))
    fast_left, diagonal = (Mover("3", "circle", "red", "big", "solid", -7, 0.5),
                           Mover("4", "circle", "red", "big", "solid", 4, 4))
    assert moves(still, "still", side) and not moves(slow_left, "still", side)
    assert moves(Mover("5", "circle", "red", "big", "solid", 1, 0), "still", side) is None  # neither still nor moving
    assert moves(slow_left, "left", side) and moves(fast_left, "left", side) and not moves(slow_left, "right", side)
    assert moves(diagonal, "right", side) is False and moves(Mover("6", "circle", "red", "big", "solid", 4, 2),
                                                                   "right", side) is None
    circle = Noun("circle", colour="red")
    assert pick_motion(MotionPhrase(circle, speed="fastest"), [still, slow_left, fast_left], side) == {"3"}
    assert pick_motion(MotionPhrase(circle, speed="fastest"), [slow_left, diagonal], side) is None  # 4.2 vs 5.7 px
    assert pick_motion(MotionPhrase(circle, speed="slowest"), [still, slow_left], side) == {"1"}
    assert pick_motion(MotionPhrase(circle, motion="left"), [still, slow_left, diagonal], side) == {"2"}
    assert pick_motion(MotionPhrase(circle, motion="up"), [still, slow_left], side) == set()
    assert pick_motion(MotionPhrase(Noun("star"), speed="fastest"), [still], side) == set()
    with pytest.raises(ValueError):
        MotionPhrase(circle)


def test_vatex_eval_compares_streams_on_independent_videos(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(independent_videos.SPLIT_VIDEOS, "val", 2)
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    save_weights(build_vatex(preset("tiny")), weights)
    out = tmp_path / "streams.json"
    assert main(["eval", "--weights", str(weights), "--dataset", "independent_motion", "--split", "val",
                 "--max-items", "3", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["dataset"] == "independent_motion" and set(results["streams"]) == {"stream", "per-frame"}
    items = [obj.no_target for video in make_independent_videos("val", 2) for obj in video.objects
             for _ in obj.expressions][:3]
    for mode in results["streams"].values():
        assert mode["sequences"] == items.count(False) and 0 <= mode["T-acc"] <= 100
    assert "frames to found" in capsys.readouterr().out
