"""The demo's script: moments where the person names something that is not in view, and motion videos named
by how their objects move."""

from dataclasses import replace

from training.stream_eval import is_motion_expression
from training.synthetic import referents
from vatex_ros.tools.demo_stream import DemoConfig, build_script, object_depths


def test_each_scene_ends_with_an_expression_naming_nothing_in_view():
    cfg = DemoConfig(frames=18, frames_per_target=3)  # two scenes of (2 named + 1 absent) x 3 frames
    scenes, steps = build_script(cfg)
    assert len(steps) == 18 and cfg.frames_per_scene == 9
    assert [s.absent for s in steps[:9]] == [False] * 6 + [True] * 3
    for step in (s for s in steps if s.absent):
        scene = scenes[step.scene]
        assert not scene.load_mask(step.object_id, [step.frame]).any()
        assert referents(step.expression, scene.truth, scene.image_size, step.frame) == frozenset()
    for scene in scenes:  # depth only for objects in view
        assert set(object_depths(cfg, scene)) == {t.object_id for t in scene.truth}


def test_without_absent_moments_the_script_names_objects_in_view_only():
    _, steps = build_script(DemoConfig(frames=8, frames_per_target=2, absent_per_scene=0))
    assert not any(s.absent for s in steps) and len(steps) == 8


def test_every_second_scene_is_a_motion_video_whose_objects_are_named_by_how_they_move():
    cfg = DemoConfig()  # 60 frames: a gliding-video scene, then a motion video among look-alikes
    scenes, steps = build_script(cfg)
    assert [s.scene_id.split("/")[0] for s in scenes] == ["synthetic-video", "synthetic-motion"]
    named = [s for s in steps if s.scene == 1 and not s.absent]
    assert len(named) == 20 and all(is_motion_expression(s.expression) for s in named)
    for step in named:  # each motion expression picks exactly its object, on every frame it is said
        scene = scenes[step.scene]
        assert referents(step.expression, scene.truth, scene.image_size, step.frame) == {step.object_id}
    assert not any(is_motion_expression(s.expression) for s in steps if s.scene == 0)
    plain, _ = build_script(replace(cfg, motion_every=0))
    assert [s.scene_id.split("/")[0] for s in plain] == ["synthetic-video"] * 2
