"""Pytest fixtures of the training tests: hand-built datasets in the real formats, synthetic scenes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from training.synthetic import SyntheticConfig, make_scenes, make_video_scenes

# Load the sibling helper module under a unique name (tests dirs have no __init__.py).
_spec = importlib.util.spec_from_file_location("training_test_fixtures", Path(__file__).with_name("fixtures.py"))
fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fixtures
_spec.loader.exec_module(fixtures)


@pytest.fixture
def refer_data(tmp_path: Path) -> dict:
    return fixtures.write_refer(tmp_path)


@pytest.fixture
def ytvos_data(tmp_path: Path) -> dict:
    return fixtures.write_ytvos(tmp_path)


@pytest.fixture
def davis_data(tmp_path: Path) -> dict:
    return fixtures.write_davis(tmp_path)


@pytest.fixture(scope="session")
def synthetic_cfg() -> SyntheticConfig:
    return SyntheticConfig(height=64, width=80, num_frames=4)


@pytest.fixture(scope="session")
def synthetic_images(synthetic_cfg: SyntheticConfig) -> list:
    return make_scenes(synthetic_cfg, "train", 6, seed=3)


@pytest.fixture(scope="session")
def synthetic_videos(synthetic_cfg: SyntheticConfig) -> list:
    return make_video_scenes(synthetic_cfg, "train", 3, seed=3)


@pytest.fixture
def grefcoco_data(tmp_path: Path) -> dict:
    return fixtures.write_grefcoco(tmp_path)
