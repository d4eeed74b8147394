"""Domain randomization of the synthetic generator: off = unchanged, each effect on its own, masks exact."""

import dataclasses
import hashlib
import math

import numpy as np
import pytest

from training.synthetic import SyntheticConfig, make_motion_scenes, make_scenes, make_video_scenes, referents
from training.synthetic.config import RandomizeConfig
from training.synthetic.layout import POINTED, sample_attributes
from training.synthetic.config import COLOURS, MotionConfig
from training.synthetic.randomize import SceneStyle, hsv_to_rgb, rgb_to_hsv
from training.synthetic.render import AREA_FACTOR, PLAIN_PATTERN, TexturePattern, shape_mask, texture_fill

PIXEL_EFFECTS = ("colour", "outline", "shadow", "antialias", "lighting", "vignette", "chromatic", "blur",
                 "motion_blur", "noise", "jpeg")


def _digest(scenes) -> str:
    h = hashlib.sha1()
    for scene in scenes:
        h.update(scene.load_frames().tobytes())
        for obj in scene.objects:
            h.update(repr((obj.object_id, obj.expressions, obj.no_target)).encode())
            h.update(scene.load_mask(obj.object_id).tobytes())
    return h.hexdigest()


def _with(**chances) -> SyntheticConfig:
    return SyntheticConfig(height=64, width=64, no_target_rate=0.3, randomize=RandomizeConfig(**chances))


def test_off_by_default_and_pixel_identical_to_the_shipped_generator():
    # Digest of the generator before randomization existed (the data of the shipped models).
    scenes = make_scenes(SyntheticConfig(), "train", 30, 0)
    assert _digest(scenes) == "d7700d0cf8735d2c5fe5cf20169848c40b9da52c"
    assert not SyntheticConfig().randomize.enabled


@pytest.mark.parametrize("effect", PIXEL_EFFECTS)
def test_each_pixel_effect_changes_pixels_only(effect):
    plain = make_scenes(_with(), "train", 4, 3)
    varied = make_scenes(_with(**{f"{effect}_prob": 1.0}), "train", 4, 3)
    changed = 0
    for a, b in zip(plain, varied):
        assert [o.expressions for o in a.objects] == [o.expressions for o in b.objects]
        for obj in a.objects:
            assert np.array_equal(a.load_mask(obj.object_id), b.load_mask(obj.object_id))
        changed += not np.array_equal(a.load_frames(), b.load_frames())
        assert b.load_frames().dtype == np.uint8
    assert changed == len(plain)


@pytest.mark.parametrize("effect", ("colour", "outline", "achromatic"))
def test_object_effects_leave_the_background_alone(effect):
    for a, b in zip(make_scenes(_with(), "val", 4, 1), make_scenes(_with(**{f"{effect}_prob": 1.0}), "val", 4, 1)):
        objects = np.any([a.load_mask(o.object_id) for o in a.objects], axis=0)  # (T, H, W)
        assert np.array_equal(a.load_frames()[~objects], b.load_frames()[~objects])


@pytest.mark.parametrize("hue_range_deg", ({}, {"green": (-30.0, 35.0), "blue": (-25.0, -10.0)}))
def test_colour_jitter_keeps_the_hue_within_its_bound(hue_range_deg):
    cfg = SyntheticConfig(height=64, width=64, textures=("solid",), colours=("red", "green", "blue", "orange"),
                          randomize=RandomizeConfig(colour_prob=1.0, hue_range_deg=hue_range_deg))
    plain = make_scenes(dataclasses.replace(cfg, randomize=RandomizeConfig()), "train", 6, 2)
    shifts = {}
    for a, b in zip(plain, make_scenes(cfg, "train", 6, 2)):
        for obj in a.truth:
            mask = a.load_mask(obj.object_id)
            hue_a = rgb_to_hsv(a.load_frames()[mask].astype(float))[:, 0].mean()
            hue_b = rgb_to_hsv(b.load_frames()[mask].astype(float))[:, 0].mean()
            shift = ((hue_b - hue_a + 0.5) % 1.0 - 0.5) * 360  # signed, degrees
            low, high = cfg.randomize.hue_shift_range(obj.colour)
            assert low - 1.0 <= shift <= high + 1.0, (obj.colour, shift)
            shifts.setdefault(obj.colour, []).append(shift)
    if hue_range_deg:  # the wide range is used, not only its part within the default +-8
        assert max(abs(s) for s in shifts["green"]) > 12 and max(shifts["blue"]) < 0, shifts


@pytest.mark.parametrize("hue_range_deg, message", (
    ({"red": (-15.0, 25.0)}, "overlap"),  # red reaching orange
    ({"blue": (-100.0, 0.0)}, "overlap"),  # blue reaching green, the other way round
    ({"red": (5.0, -5.0)}, "low <= high"),
    ({"grey": (-5.0, 5.0)}, "unknown"),
    ({"green": (-5.0,)}, "malformed"),
    ({"green": 20.0}, "malformed"),
))
def test_hue_ranges_that_would_blur_colour_names_are_refused(hue_range_deg, message):
    with pytest.raises(ValueError, match=message):
        RandomizeConfig(hue_range_deg=hue_range_deg)


def test_hue_ranges_wrap_around_red():
    cfg = RandomizeConfig(hue_range_deg={"red": (-20.0, 10.0), "purple": (-15.0, 10.0)})  # 340..10, 267..292
    assert cfg.hue_intervals()["red"] == (-20.0, 10.0)
    with pytest.raises(ValueError, match="overlap"):  # purple up to 342 meets red from 340, across 0 degrees
        RandomizeConfig(hue_range_deg={"red": (-20.0, 10.0), "purple": (-15.0, 60.0)})


def test_hsv_round_trip():
    rgb = np.random.default_rng(0).uniform(0, 255, size=(500, 3))
    assert np.allclose(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, atol=1e-6)


def test_image_size_and_scale_are_drawn_and_the_layout_uses_them():
    cfg = SyntheticConfig(randomize=RandomizeConfig(size_prob=1.0, scale_prob=1.0, short_side=(96, 200)))
    scenes = make_scenes(cfg, "train", 8, 0)
    sizes = {scene.image_size for scene in scenes}
    assert len(sizes) == len(scenes)
    for scene in scenes:
        height, width = scene.image_size
        assert 96 <= min(height, width) <= 200 and 0.74 <= width / height <= 1.81
        for obj in scene.truth:
            assert obj.size != "small" or obj.radius >= cfg.randomize.min_radius_px - 1e-9
            x0, y0, x1, y1 = obj.bboxes[0]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        for obj in scene.objects:
            assert scene.load_mask(obj.object_id).shape == (1, height, width)
            if not obj.no_target:
                for text in obj.expressions:
                    assert referents(text, scene.truth, scene.image_size) == {obj.object_id}


def test_backgrounds_flat_and_photographs():
    flat = make_scenes(_with(flat_prob=1.0), "train", 3, 0)
    for scene in flat:
        objects = np.any([scene.load_mask(o.object_id) for o in scene.objects], axis=0)[0]
        background = scene.load_frames()[0][~objects]
        assert (background == background[0]).all()
    photo = make_scenes(_with(photo_prob=1.0), "train", 3, 0)
    plain = make_scenes(_with(), "train", 3, 0)
    for a, b in zip(plain, photo):
        assert [o.expressions for o in a.objects] == [o.expressions for o in b.objects]
        assert not np.array_equal(a.load_frames(), b.load_frames())


def test_randomized_scenes_are_deterministic_and_videos_too():
    everything = {f"{name}_prob": 0.7 for name in ("size", "scale", "colour", "outline", "antialias", "lighting",
                                                   "vignette", "chromatic", "blur", "motion_blur", "noise", "jpeg")}
    cfg = SyntheticConfig(randomize=RandomizeConfig(flat_prob=0.3, photo_prob=0.3, **everything),
                          num_frames=4, no_target_rate=0.3)
    assert _digest(make_scenes(cfg, "test", 6, 5)) == _digest(make_scenes(cfg, "test", 6, 5))
    for scene in make_video_scenes(cfg, "val", 3, 5):
        for obj in scene.objects:
            assert scene.load_mask(obj.object_id).any() != obj.no_target


def test_config_checks_chances():
    with pytest.raises(ValueError, match="chances"):
        RandomizeConfig(noise_prob=1.5)
    with pytest.raises(ValueError, match="flat_prob"):
        RandomizeConfig(flat_prob=0.6, photo_prob=0.6)
    assert RandomizeConfig(jpeg_prob=0.1).enabled
    for bad in ({"shadow_offset": (0.2, 0.08)}, {"blur_sigma": (-1.0, 1.0)}, {"noise_sigma": (2.0,)}):
        with pytest.raises(ValueError, match="ranges must be"):
            RandomizeConfig(**bad)
    for bad in ({"scale": (0.0, 1.4)}, {"gamma": (0.0, 1.0)}, {"object_gradient": (0.1, 1.3)}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            RandomizeConfig(**bad)


@pytest.mark.parametrize("shape", list(AREA_FACTOR))
def test_shape_pose_keeps_the_area(shape):
    plain = shape_mask(shape, (50.3, 49.7), 30.0, 100, 100)
    assert np.array_equal(plain, shape_mask(shape, (50.3, 49.7), 30.0, 100, 100, angle=0.0, stretch=1.0))
    posed = shape_mask(shape, (50.3, 49.7), 30.0, 100, 100, angle=0.2, stretch=1.15)
    assert abs(int(posed.sum()) - int(plain.sum())) <= 0.03 * plain.sum()


def test_shape_poses_are_drawn_within_their_bounds_on_their_own_stream():
    cfg = SyntheticConfig(randomize=RandomizeConfig(shape_prob=0.5), min_objects=5, max_objects=5)
    plain_rng, posed_rng = np.random.default_rng(4), np.random.default_rng(4)
    poses = np.random.default_rng(99)
    plain = [a for _ in range(40) for a in sample_attributes(cfg, plain_rng)]
    posed = [a for _ in range(40) for a in sample_attributes(cfg, posed_rng, poses)]
    # the layout's own stream makes the same draws: only the pose differs
    assert [dataclasses.replace(a, angle=0.0, stretch=1.0) for a in posed] == plain
    assert plain_rng.random() == posed_rng.random()
    turned = [a for a in posed if a.angle != 0.0]
    assert 0.3 < len(turned) / len(posed) < 0.7  # one coin per object at shape_prob
    low, high = cfg.randomize.stretch
    for a in turned:
        limit = cfg.randomize.pointed_rotation_deg if a.shape in POINTED else cfg.randomize.rotation_deg
        assert abs(math.degrees(a.angle)) <= limit and low <= a.stretch <= high
    assert max(abs(math.degrees(a.angle)) for a in turned if a.shape in ("square", "diamond")) <= 12.0
    assert all(a.angle == 0.0 and a.stretch == 1.0 for a in posed if a not in turned)


@pytest.mark.parametrize("make, count", [(make_scenes, 30), (make_motion_scenes, 8)])
def test_shape_variants_change_masks_not_layouts_or_expressions(make, count):
    plain = make(SyntheticConfig(no_target_rate=0.3), "val", count, 2)
    posed = make(SyntheticConfig(no_target_rate=0.3, randomize=RandomizeConfig(shape_prob=1.0)), "val", count, 2)
    same_layout = 0
    for a, b in zip(plain, posed):
        masks_differ = any(not np.array_equal(a.load_mask(o.object_id), b.load_mask(o.object_id))
                           for o in b.truth if o.object_id in {p.object_id for p in a.truth})
        assert masks_differ, a.scene_id
        for obj in b.objects:  # every mask still is the object's visible pixels, and its phrases still pick it
            assert b.load_mask(obj.object_id).any() != obj.no_target
            if not obj.no_target:
                for text in obj.expressions:
                    assert referents(text, b.truth, b.image_size) == {obj.object_id}
        if len(a.truth) == len(b.truth) and all(np.allclose(p.centers, q.centers) for p, q in zip(a.truth, b.truth)):
            same_layout += 1  # same layout (the occlusion check may reject a posed attempt): same words
            assert [o.expressions for o in a.objects] == [o.expressions for o in b.objects]
    assert same_layout >= 0.8 * count


def test_shape_variants_off_leave_scenes_unchanged_whatever_their_ranges():
    cfg = SyntheticConfig(height=64, width=64, no_target_rate=0.3)
    other = dataclasses.replace(cfg, randomize=RandomizeConfig(rotation_deg=30.0, stretch=(0.5, 2.0), noise_prob=0.0))
    assert _digest(make_motion_scenes(cfg, "test", 3, 4)) == _digest(make_motion_scenes(other, "test", 3, 4))
    with pytest.raises(ValueError, match="rotations"):
        RandomizeConfig(rotation_deg=45.0)


@pytest.mark.parametrize("make", [make_scenes, make_motion_scenes])
def test_texture_patterns_change_striped_and_dotted_objects_only(make):
    cfg = SyntheticConfig(height=96, width=96, no_target_rate=0.3, motion=MotionConfig(shake_prob=0.0))  # shake
    plain = make(cfg, "val", 5, 6)  # would carry object pixels into the border it repeats
    patterned = make(dataclasses.replace(cfg, randomize=RandomizeConfig(texture_prob=1.0)), "val", 5, 6)
    changed = 0
    for a, b in zip(plain, patterned):
        assert [o.expressions for o in a.objects] == [o.expressions for o in b.objects]
        for obj in a.objects:
            assert np.array_equal(a.load_mask(obj.object_id), b.load_mask(obj.object_id))
        for obj in a.truth:
            mask = a.load_mask(obj.object_id)  # (T, H, W)
            differ = not np.array_equal(a.load_frames()[mask], b.load_frames()[mask])
            assert not (differ and obj.texture == "solid"), obj
            changed += differ
        objects = np.any([a.load_mask(o.object_id) for o in a.truth], axis=0)
        assert np.array_equal(a.load_frames()[~objects], b.load_frames()[~objects])
    assert changed >= 3


def test_texture_pattern_sets_spacing_width_and_contrast():
    centre, radius, size = (150.0, 150.0), 140.0, 300
    inside = shape_mask("square", centre, radius, size, size)
    plain = texture_fill("striped", "red", centre, radius, 0.3, size, size)
    assert np.array_equal(plain, texture_fill("striped", "red", centre, radius, 0.3, size, size, PLAIN_PATTERN))
    base = np.asarray(COLOURS["red"], dtype=float)  # a dark colour: its second colour is lighter
    pattern = TexturePattern(period=0.15, stripe_duty=0.6, dot_radius=0.35, darken=0.5, lighten=0.5)
    for texture, fraction in (("striped", 0.6), ("dotted", math.pi * 0.35**2)):
        fill = texture_fill(texture, "red", centre, radius, 0.3, size, size, pattern)[inside]  # (K, 3)
        second = np.any(fill != base, axis=1)
        assert abs(second.mean() - fraction) < 0.05, texture  # pixel centres sample the dots
        assert np.allclose(fill[second], base + (255 - base) * 0.5)
    assert np.array_equal(texture_fill("solid", "red", centre, radius, 0.3, size, size, pattern), plain * 0 + base)
    light = texture_fill("dotted", "yellow", centre, radius, 0.0, size, size, pattern)[inside]
    assert np.allclose(light.min(axis=0), np.asarray(COLOURS["yellow"]) * 0.5)


def test_texture_patterns_are_drawn_within_their_bounds_one_coin_per_object():
    cfg = RandomizeConfig(texture_prob=0.5)
    patterns = SceneStyle(cfg, np.random.SeedSequence(3)).texture_patterns(400)
    assert patterns == SceneStyle(cfg, np.random.SeedSequence(3)).texture_patterns(400)
    drawn = [p for p in patterns if p != PLAIN_PATTERN]
    assert 0.4 < len(drawn) / len(patterns) < 0.6
    for p in drawn:
        assert cfg.texture_period[0] <= p.period / PLAIN_PATTERN.period <= cfg.texture_period[1]
        assert cfg.stripe_duty[0] <= p.stripe_duty <= cfg.stripe_duty[1]
        assert cfg.dot_radius[0] <= p.dot_radius <= cfg.dot_radius[1]
        assert cfg.texture_contrast[0] <= p.darken == p.lighten <= cfg.texture_contrast[1]
    assert SceneStyle(RandomizeConfig(), np.random.SeedSequence(3)).texture_patterns(5) == [PLAIN_PATTERN] * 5
    with pytest.raises(ValueError, match="texture patterns"):
        RandomizeConfig(stripe_duty=(0.3, 1.2))


def test_shadows_darken_the_background_only_and_objects_are_lit_from_one_side():
    cfg = SyntheticConfig(height=96, width=96, textures=("solid",), colours=("green", "blue", "orange"),
                          no_target_rate=0.3)
    plain = make_scenes(cfg, "val", 5, 8)
    lit = make_scenes(dataclasses.replace(cfg, randomize=RandomizeConfig(shadow_prob=1.0)), "val", 5, 8)
    shaded = 0
    for a, b in zip(plain, lit):
        objects = np.any([a.load_mask(o.object_id) for o in a.truth], axis=0)  # (T, H, W)
        before, after = a.load_frames().astype(int), b.load_frames().astype(int)
        assert (after[~objects] <= before[~objects]).all()  # the background only darkens
        assert (after[~objects] < before[~objects]).any()  # somewhere: a shadow
        for obj in a.truth:
            mask = a.load_mask(obj.object_id)[0]
            ratio = after[0][mask].sum(axis=1) / np.maximum(before[0][mask].sum(axis=1), 1)  # (K,) per pixel
            shaded += ratio.max() - ratio.min() > 0.1  # one side brighter than the other
    assert shaded >= 0.8 * sum(len(a.truth) for a in plain)


def test_black_and_white_objects_get_grey_levels_within_their_ranges_others_are_unchanged():
    rand = RandomizeConfig(achromatic_prob=1.0, black_level=(40.0, 60.0), white_level=(190.0, 200.0),
                           achromatic_tint=0.0)
    cfg = SyntheticConfig(height=64, width=64, textures=("solid",), colours=("black", "white", "red"))
    plain = make_scenes(cfg, "train", 6, 4)
    grey = make_scenes(dataclasses.replace(cfg, randomize=rand), "train", 6, 4)
    seen = set()
    for a, b in zip(plain, grey):
        for obj in a.truth:
            mask = a.load_mask(obj.object_id)[0]
            before, after = a.load_frames()[0][mask].astype(float), b.load_frames()[0][mask].astype(float)
            if obj.colour == "red":
                assert np.array_equal(before, after)
                continue
            low, high = rand.black_level if obj.colour == "black" else rand.white_level
            assert low - 1 <= np.median(after) <= high + 1, (obj.colour, np.median(after))
            seen.add(obj.colour)
    assert seen == {"black", "white"}
    with pytest.raises(ValueError, match="grey levels"):
        RandomizeConfig(black_level=(5.0, 200.0), white_level=(185.0, 255.0))
