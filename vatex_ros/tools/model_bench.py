"""The bare model call on any device: latency per stage, FPS, peak memory, N streams, compiled, a training step.

``vatex bench --model-only`` (or ``--preset``, which means random weights) measures what issue 12 asks
of a GPU: ``model(frames, text)`` as the Predictor makes it (precision, compiled or not), with the text
encoded once, for 1..N streams batched into one forward; the split over the model's stages and the
ratio heads (CMD + decoder) / backbones (Swin + CLIP image tower); and a training step (forward,
backward, AdamW) with and without gradient checkpointing. Nothing here needs spaCy or DDS: the
CLIP-prior prompt is given, not parsed.

Example (a GPU; random weights are fine for timing)::

    vatex bench --device cuda --preset paper --precision fp32,bf16 --streams 1,4 --compile --train-batch 8
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import torch

from vatex_ros.tools.latency import MODEL_STAGES, percentiles

logger = logging.getLogger(__name__)

EXPRESSION = "the red cup on the left of the table"
PROMPT = "a photo of the red cup"  # the CLIP-prior prompt, given so that no spaCy is needed
HEADS, BACKBONES = ("cmd", "decoder"), ("backbone", "clip_prior")


@dataclass(frozen=True)
class ModelBenchConfig:
    """What to measure."""

    preset: str = "tiny"  # model preset when no weights are given (random weights: timing only)
    weights: str | None = None  # safetensors file; None = random weights of ``preset``
    device: str = "cpu"
    precisions: tuple[str, ...] = ("fp32",)
    width: int = 640  # camera frame size; the model runs at the preset's short side (padded to /32)
    height: int = 480
    streams: tuple[int, ...] = (1,)  # frames (one per stream) batched into one forward
    compile: bool = False  # also measure the compiled forward (1 stream per precision)
    calls: int = 30  # timed calls per row
    warmup: int = 5  # untimed calls first (compile, CUDA graphs, allocator)
    train_batch: int = 0  # > 0: also time training steps of this batch, plain and checkpointed
    train_steps: int = 5  # timed steps (after one warm-up step)
    checkpointing: tuple[str, ...] = ("backbone", "cmd", "decoder")  # parts checkpointed in the second run
    seed: int = 0
    extra: dict = field(default_factory=dict)  # echoed into the result (e.g. the GPU's name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The model benchmark's options of ``vatex bench``."""
    group = parser.add_argument_group("model only (--model-only, or --preset: random weights)")
    group.add_argument("--model-only", action="store_true", help="measure the bare model call, no node and no DDS")
    group.add_argument("--preset", choices=("tiny", "paper"),
                       help="model preset with random weights (timing only); implies --model-only")
    group.add_argument("--device", default="cpu", help="torch device (default cpu)")
    group.add_argument("--precision", default="fp32",
                       help="fp32, bf16 or fp16; the model bench takes a comma list, e.g. fp32,bf16 (default fp32)")
    group.add_argument("--compile", action="store_true", help="also measure the torch.compile'd forward")
    group.add_argument("--streams", default="1", help="comma list of stream counts batched per forward (default 1); "
                       "without --model-only: CxE, e.g. 2x2, masks/s of C cameras x E expressions in one node vs "
                       "the same streams one at a time (--frames rounds)")
    group.add_argument("--train-batch", type=int, default=0, help="also time training steps of this batch (0: no)")
    group.add_argument("--train-steps", type=int, default=5, help="timed training steps (default 5)")
    group.add_argument("--calls", type=int, default=30, help="timed calls per measurement (default 30)")


def config_from_args(args: argparse.Namespace) -> ModelBenchConfig:
    """The benchmark config from ``vatex bench`` arguments (``--size``, ``--warmup``, ``--weights`` included)."""
    from vatex_core.runtime import precision_dtype

    precisions = tuple(p.strip() for p in args.precision.split(",") if p.strip())
    for precision in precisions:
        precision_dtype(precision)  # ValueError for a bad name
    streams = tuple(int(n) for n in args.streams.split(","))
    if (not precisions or not streams or min(streams) < 1 or args.calls < 1
            or min(args.train_batch, args.train_steps - 1) < 0):
        raise ValueError("need --precision names, --streams >= 1, --calls >= 1, --train-batch >= 0, --train-steps >= 1")
    width, height = args.size
    return ModelBenchConfig(preset=args.preset or "tiny", weights=str(args.weights) if args.weights else None,
                            device=args.device, precisions=precisions, width=width, height=height, streams=streams,
                            compile=args.compile, calls=args.calls, warmup=args.warmup,
                            train_batch=args.train_batch, train_steps=args.train_steps)


def run_model_bench(cfg: ModelBenchConfig) -> dict:
    """Every measurement of ``cfg``; the JSON-ready result (times in ms, memory in MiB)."""
    device = torch.device(cfg.device)
    result = {"config": asdict(cfg), "device": _device_name(device), "torch": torch.__version__,
              "random_weights": cfg.weights is None, "rows": [], "stages_ms": {}, "train": []}
    for precision in cfg.precisions:
        predictor, frames, text = _setup(cfg, precision, compile=False)
        result["model_input"] = list(frames.shape[-2:])
        result["stages_ms"][precision] = _stage_split(predictor, frames, text, cfg)
        for streams in cfg.streams:
            result["rows"].append(_measure(predictor, frames, text, streams, cfg, precision, compiled=False))
        del predictor
        if cfg.compile:
            predictor, frames, text = _setup(cfg, precision, compile=True)
            started = time.perf_counter()
            with torch.inference_mode():
                predictor.run_model(frames, text)  # compiles; CUDA graphs are recorded in the warm-up calls
            _sync(torch.device(cfg.device))
            compile_s = time.perf_counter() - started
            result["rows"].append({**_measure(predictor, frames, text, 1, cfg, precision, compiled=True),
                                   "compile_s": compile_s})
            del predictor
            torch._dynamo.reset()
    if cfg.train_batch:
        for parts in ((), cfg.checkpointing):
            result["train"].append(_train_steps(cfg, parts))
    return result


def format_model_table(result: dict) -> str:
    """The result as plain-text tables."""
    cfg = result["config"]
    source = "RANDOM weights (timing only)" if result["random_weights"] else cfg["weights"]
    lines = [f"{result['device']}, torch {result['torch']}; {cfg['preset'] if result['random_weights'] else ''} "
             f"model, {source}; frames {cfg['width']}x{cfg['height']} -> model input "
             f"{result['model_input'][1]}x{result['model_input'][0]}; p50 of {cfg['calls']} calls after "
             f"{cfg['warmup']} warm-up; text encoded once",
             f"{'precision':<10}{'compiled':<10}{'streams':>8}{'p50 ms':>10}{'p95 ms':>10}{'FPS':>10}"
             f"{'peak MiB':>10}"]
    for row in result["rows"]:
        peak = "n/a" if row["peak_mib"] is None else f"{row['peak_mib']:.0f}"
        compiled = f"yes ({row['compile_s']:.0f} s)" if row["compiled"] else "no"
        lines.append(f"{row['precision']:<10}{compiled:<10}{row['streams']:>8}{row['p50']:>10.2f}{row['p95']:>10.2f}"
                     f"{row['fps']:>10.1f}{peak:>10}")
    for precision, stages in result["stages_ms"].items():
        split = ", ".join(f"{name} {ms:.2f}" for name, ms in stages.items() if name != "heads_to_backbones")
        lines.append(f"stages {precision} (ms, p50, 1 stream, eager, synchronised per stage): {split}; "
                     f"heads / backbones = {stages['heads_to_backbones']:.2f}")
    for run in result["train"]:
        peak = "n/a" if run["peak_mib"] is None else f"{run['peak_mib']:.0f} MiB"
        lines.append(f"train step, batch {run['batch']}, {run['autocast'] or 'fp32'}, checkpointing "
                     f"{'+'.join(run['checkpointing']) or 'off'}: {run['s_per_step']:.3f} s/step, peak {peak}")
    return "\n".join(lines)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({torch.get_num_threads()} threads)"


def _model(cfg: ModelBenchConfig, train: bool = False):
    from vatex_core import build_vatex, load_vatex, preset

    torch.manual_seed(cfg.seed)
    if cfg.weights is None:
        return build_vatex(preset(cfg.preset)).to(cfg.device).train(train)
    return load_vatex(cfg.weights, cfg.device).train(train)


def _setup(cfg: ModelBenchConfig, precision: str, compile: bool):
    """Predictor, model input (1, 1, 3, Hp, Wp) of one camera frame, and the text features."""
    from vatex_core import Predictor
    from vatex_core.image_input import prepare_frames

    predictor = Predictor(_model(cfg), precision=precision, compile=compile)
    frame = torch.Generator().manual_seed(cfg.seed)
    rgb = torch.randint(0, 256, (cfg.height, cfg.width, 3), dtype=torch.uint8, generator=frame).numpy()
    frames, _ = prepare_frames([rgb], predictor.short_side, predictor.max_size)
    with torch.inference_mode():
        text = predictor.model.encode_text([EXPRESSION], prompts=[PROMPT])
    return predictor, frames.to(cfg.device), text


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def _measure(predictor, frames, text, streams: int, cfg: ModelBenchConfig, precision: str, compiled: bool) -> dict:
    """p50/p95 of one batched forward of ``streams`` frames (one per stream), FPS, peak memory."""
    from vatex_core import TextFeatures

    device = torch.device(cfg.device)
    batch = frames.transpose(0, 1).expand(streams, -1, -1, -1, -1).contiguous()  # (streams, 1, 3, Hp, Wp)
    batch_text = TextFeatures.cat([text] * streams)
    for _ in range(cfg.warmup):
        predictor.run_model(batch, batch_text)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(cfg.calls):
        started = time.perf_counter()
        out = predictor.run_model(batch, batch_text)
        out["pred_masks"].sum().item()  # read the result, as the Predictor does (and CUDA graphs require)
        times.append(time.perf_counter() - started)
    stats = percentiles(times)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    logger.info("%s%s, %d stream(s): p50 %.2f ms", precision, " compiled" if compiled else "", streams, stats["p50"])
    return {"precision": precision, "compiled": compiled, "streams": streams, "p50": stats["p50"],
            "p95": stats["p95"], "fps": 1000 * streams / stats["p50"], "peak_mib": peak}


@torch.inference_mode()
def _stage_split(predictor, frames, text, cfg: ModelBenchConfig) -> dict[str, float]:
    """p50 ms per model stage (forward hooks, synchronised so GPU time lands in its stage), and heads/backbones."""
    device = torch.device(cfg.device)
    seconds: dict[str, list[float]] = defaultdict(list)
    current: dict[str, float] = defaultdict(float)
    started: dict[str, float] = {}
    handles = []

    def pre(path):
        def hook(module, args):
            _sync(device)
            started[path] = time.perf_counter()
        return hook

    def post(stage, path):
        def hook(module, args, output):
            _sync(device)
            current[stage] += time.perf_counter() - started.pop(path)
        return hook

    for stage, paths in MODEL_STAGES.items():
        for path in paths:
            try:
                module = predictor.model.get_submodule(path)
            except AttributeError:  # no CLIP prior
                continue
            handles += [module.register_forward_pre_hook(pre(path)), module.register_forward_hook(post(stage, path))]
    try:
        for index in range(cfg.warmup + cfg.calls):
            current.clear()
            _sync(device)
            begun = time.perf_counter()
            predictor.run_model(frames, text)
            _sync(device)
            if index >= cfg.warmup:
                total = time.perf_counter() - begun
                for stage in MODEL_STAGES:
                    seconds[stage].append(current.get(stage, 0.0))
                seconds["other"].append(total - sum(current.values()))
                seconds["total"].append(total)
    finally:
        for handle in handles:
            handle.remove()
    split = {stage: percentiles(values)["p50"] for stage, values in seconds.items()}
    backbones = sum(split[s] for s in BACKBONES)
    split["heads_to_backbones"] = sum(split[s] for s in HEADS) / backbones if backbones else float("nan")
    return split


def _train_steps(cfg: ModelBenchConfig, parts: tuple[str, ...]) -> dict:
    """s/step and peak memory of forward + backward + AdamW on random frames, bf16 autocast on CUDA.

    The loss is a stand-in for the training criterion (sigmoid BCE + object score over every
    prediction set): it makes the same backward through the whole model, without Hungarian matching.
    """
    device = torch.device(cfg.device)
    model = _model(cfg, train=True)
    model.set_grad_checkpointing(parts)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    autocast = torch.bfloat16 if device.type == "cuda" else None
    short = model.cfg.input.short_side
    height, width = short, -(-round(short * cfg.width / cfg.height) // 32) * 32  # the camera's aspect
    frames = torch.rand(cfg.train_batch, 1, 3, height, width, device=device)
    targets = (torch.rand(cfg.train_batch, 1, height // 4, width // 4, device=device) > 0.5).float()
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for step in range(cfg.train_steps + 1):  # the first step is warm-up
        _sync(device)
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            # the text tower trains (paper), so the text is encoded in every step, as in training
            text = model.encode_text([EXPRESSION] * cfg.train_batch, prompts=[PROMPT] * cfg.train_batch)
            out = model(frames, text)
        loss = sum(_stand_in_loss(p["pred_logits"], p["pred_masks"], targets) for p in [*out["aux_outputs"], out])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)
        if step:
            times.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    del model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    logger.info("train step, checkpointing %s: %.3f s", parts or "off", percentiles(times)["p50"] / 1000)
    return {"batch": cfg.train_batch, "checkpointing": list(parts), "autocast": "bf16" if autocast else None,
            "s_per_step": percentiles(times)["p50"] / 1000, "peak_mib": peak}


def _stand_in_loss(logits: torch.Tensor, masks: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """logits (B, N, 2), masks (B, N, T, h, w) logits, targets (B, T, h, w) -> scalar."""
    masks = masks.float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(masks, targets[:, None].expand_as(masks))
    return bce + logits.float().softmax(-1)[..., 1].mean()
