"""The 3D step on large targets: the box only, a grid-sampled cloud, the same answer as every pixel would give."""

import numpy as np
import pytest
from scipy import ndimage

from vatex_ros.messages.idl import Header
from vatex_ros.node.depth import DepthConfig, _eroded, locate_target
from vatex_ros.tools.depth_scene import render_depth, visible_surface_point


@pytest.mark.parametrize("seed", range(3))
def test_sampled_erosion_is_binary_erosion_on_the_grid(seed):
    rng = np.random.default_rng(seed)
    for _ in range(100):
        height, width = rng.integers(1, 50, 2)
        mask = rng.random((height, width)) < 0.85
        pixels, stride = int(rng.integers(0, 4)), int(rng.integers(1, 6))
        full = ndimage.binary_erosion(mask, np.ones((3, 3), bool), iterations=pixels) if pixels else mask
        assert np.array_equal(_eroded(mask, pixels, stride), full[::stride, ::stride])


def test_large_target_is_sampled_to_max_points_with_the_same_answer():
    height, width = 1080, 1920
    mask = np.zeros((height, width), bool)
    mask[300:760, 500:1400] = True  # 414k pixels, 20% of the frame
    near = np.zeros_like(mask)
    near[400:420, 600:620] = True  # a small occluder in front: outliers of the band, not of the answer
    depth_msg, info = render_depth([mask & ~near, near], [1.2, 0.4], Header())
    config = DepthConfig(max_points=20_000)
    sampled = locate_target(mask, depth_msg, info, config)
    dense = locate_target(mask, depth_msg, info, DepthConfig(max_points=10**7))
    assert dense.valid_points == mask.sum() - near.sum()  # every pixel without the occluder
    assert 10_000 < sampled.valid_points <= 20_000
    truth = visible_surface_point(mask & ~near, 1.2, info)
    assert np.linalg.norm(sampled.position - truth) < 0.005 and np.linalg.norm(dense.position - truth) < 0.005
    assert np.allclose(sampled.extent, dense.extent, atol=0.01)
    assert np.allclose(sampled.points[:, 2], 1.2)  # the occluder's depth is an outlier in both


def test_box_given_equals_box_computed():
    mask = np.zeros((240, 320), bool)
    mask[50:120, 60:200] = True
    depth_msg, info = render_depth([mask], [0.9], Header(), encoding="32FC1")
    given = locate_target(mask, depth_msg, info, DepthConfig(), box=(60, 50, 199, 119))
    computed = locate_target(mask, depth_msg, info, DepthConfig())
    assert np.array_equal(given.points, computed.points) and np.array_equal(given.position, computed.position)
