"""Build the model for the node from its parameters (the only place vatex_ros imports vatex_core)."""

from __future__ import annotations

import logging

from vatex_ros.node.params import NodeParams

logger = logging.getLogger(__name__)


def load_predictor(params: NodeParams):
    """``vatex_core.Predictor`` for ``params.weights`` (empty: the embedded default) on ``params.device``,
    with ``params.cpu_threads`` torch threads (0: torch's default).

    In ``params.precision`` on ``params.backend``; warmed up on a frame of ``params.compile_frame_size`` (with
    ``params.compile``, compiled for it; with onnxruntime, its graph exported or loaded from the cache), so that the
    first camera frame is not the slow one: the first call of a model pays for
    lazy initialisation (about a second on a CPU), and a frame that waits for it is skipped as older than
    ``max_frame_age``.

    Raises:
        RuntimeError: vatex_core cannot be imported.
        ValueError: the weights are of another preset than ``params.preset``.
        OSError: the weights file cannot be read.
    """
    try:
        import torch

        from vatex_core import DEFAULT_WEIGHTS, Predictor, read_config
    except ImportError as err:
        raise RuntimeError(f"vatex_core.Predictor is not available ({err}); install the vatex_ros package") from err
    weights = params.weights or None
    stored = read_config(weights or DEFAULT_WEIGHTS).name
    if stored != params.preset:
        raise ValueError(f"{weights or DEFAULT_WEIGHTS} holds preset {stored!r}, but parameter preset is "
                         f"{params.preset!r}")
    if params.cpu_threads:
        torch.set_num_threads(params.cpu_threads)  # process-wide; also the CPU side of a GPU run
    logger.info("loading %s model (%s) on %s in %s%s, %s backend, %d CPU threads", params.preset,
                weights or "embedded default weights", params.device, params.precision,
                ", compiled" if params.compile else "", params.backend, torch.get_num_threads())
    predictor = Predictor.from_pretrained(weights, device=params.device, short_side=params.input_size or None,
                                          found_threshold=found_threshold(params), precision=params.precision,
                                          compile=params.compile, backend=params.backend)
    logger.info("found threshold %.4f (%s)", predictor.found_threshold,
                "calibrated for the weights" if params.score_threshold < 0 else "score_threshold")
    width, height = (int(n) for n in params.compile_frame_size.split("x"))
    # Compiling needs a few calls; otherwise one call pays the first-call costs (text encoder included).
    predictor.warmup((height, width), calls=3 if params.compile else 1)
    return predictor


def found_threshold(params: NodeParams) -> float:
    """The object probability from which a prediction is found: ``params.score_threshold``, or for -1 the one
    calibrated for ``params.weights`` (their manifest; the embedded model's when empty)."""
    if params.score_threshold >= 0:
        return params.score_threshold
    from vatex_core.weights import calibrated_threshold

    return calibrated_threshold(params.weights or None)


def set_score_threshold(predictor, params: NodeParams) -> None:
    """Apply ``params.score_threshold`` to a running ``vatex_core.Predictor`` (read on each frame)."""
    predictor.found_threshold = found_threshold(params)
    logger.info("found threshold %.4f from now on", predictor.found_threshold)
