"""VATEX referring segmentation: model, presets and the inference API. Never imports ROS or training code."""

from vatex_core.config import PRESET_NAMES, VatexConfig, preset
from vatex_core.model import Vatex, build_vatex
from vatex_core.predictor import Prediction, Predictor, StreamSession
from vatex_core.text_encoder import TextFeatures
from vatex_core.weights import DEFAULT_WEIGHTS, load_vatex, load_weights, read_config, save_weights

__all__ = [
    "DEFAULT_WEIGHTS",
    "PRESET_NAMES",
    "Prediction",
    "Predictor",
    "StreamSession",
    "TextFeatures",
    "Vatex",
    "VatexConfig",
    "build_vatex",
    "load_vatex",
    "load_weights",
    "preset",
    "read_config",
    "save_weights",
]
