"""The VATEX model: backbone + text encoder + CLIP Prior + CMD + masked-attention decoder."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from vatex_core.backbone import Backbone
from vatex_core.clip_model import build_clip, build_tokenizer
from vatex_core.clip_prior import ClipPrior
from vatex_core.cmd import ContextualMultimodalDecoder
from vatex_core.config import VatexConfig, check_checkpointable
from vatex_core.decoder import MaskedAttentionDecoder
from vatex_core.noun_phrase import clip_prompt
from vatex_core.motion_words import motion_requests
from vatex_core.temporal import FrameMemory, MotionEncoder, displacement_under_masks
from vatex_core.text_encoder import TextEncoder, TextFeatures
from vatex_core.video_backbone import VideoBackbone

logger = logging.getLogger(__name__)


class Vatex(nn.Module):
    """Referring segmentation of images and clips.

    ``forward(frames, text)`` takes B clips and K expressions per clip (``len(text) == B * K``;
    rows ``b*K .. b*K+K-1`` of ``text`` refer to clip b). The backbone and the CLIP image tower
    run once per frame; everything after them runs once per (clip, expression). A temporal model
    (``temporal``, see :mod:`vatex_core.temporal`) decodes the last frame of each clip, with a memory.
    """

    def __init__(
        self,
        cfg: VatexConfig,
        backbone: Backbone | VideoBackbone,
        text_encoder: TextEncoder,
        clip_prior: ClipPrior | None,
        cmd: ContextualMultimodalDecoder,
        decoder: MaskedAttentionDecoder,
        temporal: MotionEncoder | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.text_encoder = text_encoder
        self.clip_prior = clip_prior
        self.cmd = cmd
        self.decoder = decoder
        self.temporal = temporal
        self.tokenizer = build_tokenizer(cfg.clip)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the model's floating-point weights (inputs are cast to it by the Predictor)."""
        return next(self.parameters()).dtype

    def set_grad_checkpointing(self, parts: Sequence[str]) -> None:
        """Recompute the activations of ``parts`` (of ``config.CHECKPOINTABLE``) in backward while training.

        Saves training memory for one more forward of those parts; gradients are unchanged.
        """
        self.cfg.grad_checkpointing = check_checkpointable(parts)
        self.backbone.grad_checkpointing = "backbone" in parts
        self.cmd.encoder.grad_checkpointing = "cmd" in parts
        self.decoder.grad_checkpointing = "decoder" in parts
        self.train(self.training)  # the backbone passes its flag on to timm here

    def encode_text(self, expressions: Sequence[str], prompts: Sequence[str] | None = None) -> TextFeatures:
        """Encodes expressions and their CLIP-prior prompts.

        Args:
            expressions: referring expressions.
            prompts: the CLIP-prior prompt of each expression; None = "a photo of {main noun phrase}"
                (spaCy finds the noun phrase). Given, spaCy is not needed (e.g. a benchmark machine).
        """
        if isinstance(expressions, str):
            raise TypeError("encode_text takes a list of expressions, not one string")
        for expression in expressions:
            if not isinstance(expression, str) or not expression.strip():
                raise ValueError(f"an expression must be a non-empty string, got {expression!r}")
        prompts = [clip_prompt(e) for e in expressions] if prompts is None else list(prompts)
        if len(prompts) != len(expressions):
            raise ValueError(f"{len(expressions)} expressions but {len(prompts)} prompts")
        ids = self.tokenizer([*expressions, *prompts]).to(self.device)
        words, padding_mask = self.text_encoder.encode_words(ids[: len(expressions)])
        prompt = self.text_encoder.encode_prompts(ids[len(expressions) :])
        return TextFeatures(words, padding_mask, prompt, motion_requests(expressions, self.device))

    def forward(
        self,
        frames: torch.Tensor,
        text: TextFeatures,
        memory: FrameMemory | None = None,
        previous_masks: torch.Tensor | None = None,
    ) -> dict:
        """Segments the referred object in every frame (per-frame model) or in the last one (temporal model).

        A per-frame model (``cfg.temporal.memory_frames == 0``) decodes each clip with queries shared
        over its T frames. A temporal model is causal: it decodes the last frame of each clip, the
        frames before it (newest last) filling its memory as a stream's would, or ``memory`` when the
        clip is one frame of a stream.

        Args:
            frames: (B, T, 3, H, W) RGB in [0, 1]; H and W multiples of 32.
            text: features of B*K expressions (see the class docstring).
            memory: temporal model, T == 1: what each (clip, expression) pair remembers (B*K rows);
                None = nothing (the first frame of a stream).
            previous_masks: temporal model, T > 1: (B*K, H/4, W/4) the target mask of frame T-2
                (in training the true one, spoiled); None = zeros.

        Returns:
            dict with "pred_logits" (BK, N, 2) [object, no-object] (with ``cfg.temporal.motion_logit`` the
            object logits include the motion logit's term); "pred_masks" (BK, N, T', H/4, W/4)
            logits (T' = T for a per-frame model, 1 for a temporal one); "aux_outputs": the earlier
            predictions as dicts of the same two keys; "sentence_feature" (BK, C) vision-aware sentence
            feature (MCC); "prior_heatmap" (BK, g, g) averaged over frames (None without the CLIP
            Prior); "level_sentences": (BK, C) per CMD level 0..4; a temporal model adds
            "frame_features" (BK, C0, H/4, W/4), the decoded frame's contribution to the memory, and
            "motion" (BK, C1, H/8, W/8), the motion residual added to the stride-8 features (None without the
            motion encoder); with ``cfg.temporal.motion_logit`` also "query_displacement" (BK, N, 3), each
            query's measured (dx, dy, speed; zeros where the words ask for no motion), and "motion_logit"
            (BK, N), the term its object logit got from it.
        """
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames must be (B, T, 3, H, W), got {tuple(frames.shape)}")
        clips, steps, _, height, width = frames.shape
        if height % 32 or width % 32:
            raise ValueError(f"frame size must be a multiple of 32, got {height}x{width}")
        if len(text) % clips:
            raise ValueError(f"{len(text)} expressions cannot be split evenly over {clips} clips")
        per_clip = len(text) // clips
        if self.temporal is not None:
            return self._forward_temporal(frames, text, per_clip, memory, previous_masks)
        if memory is not None or previous_masks is not None:
            raise ValueError("this model has no temporal memory (cfg.temporal.memory_frames is 0)")
        features, patches = self._encode_frames(frames, per_clip)
        return self._decode(features, patches, text, clips * per_clip, steps)

    def _encode_frames(self, frames: torch.Tensor, per_clip: int) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Backbone levels (BK*T, C_i, h, w) and CLIP patches (BK, T, P, D) (None without the prior) of B clips."""
        clips, steps = frames.shape[:2]
        images = frames.flatten(0, 1)  # (B*T, 3, H, W)
        # Each (clip, expression) pair gets its clip's frames: rows are clip-major, so
        # repeat_interleave (not repeat) keeps expression r paired with clip r // K.
        # per level (BK*T, C_i, h, w)
        features = [_per_pair(f, clips, steps, per_clip) for f in self.backbone.encode_clip(frames)]
        if self.clip_prior is None:
            return features, None
        patches = self.clip_prior.patch_embeddings(images)  # (B*T, P, D)
        return features, patches.view(clips, steps, *patches.shape[1:]).repeat_interleave(per_clip, dim=0)

    def _forward_temporal(self, frames: torch.Tensor, text: TextFeatures, per_clip: int,
                          memory: FrameMemory | None, previous_masks: torch.Tensor | None) -> dict:
        """The temporal model: the last frame of each clip, decoded with the memory of the frames before it."""
        clips, steps = frames.shape[:2]
        pairs = clips * per_clip
        slots = self.cfg.temporal.memory_frames
        features, patches = self._encode_frames(frames[:, -1:], per_clip)  # (BK, C_i, h, w), (BK, 1, P, D)
        if steps > 1:
            if memory is not None:
                raise ValueError("give a stream memory or past frames, not both")
            with torch.no_grad():  # the memory holds constants at inference too
                past = self.backbone.encode_clip(frames[:, :-1])[0]  # (B*(T-1), C0, h0, w0), oldest first
            past = _per_pair(past, clips, steps - 1, per_clip).view(pairs, steps - 1, *past.shape[1:]).flip(1)
            memory = FrameMemory.from_past(past, slots, previous_masks)
        elif memory is None:
            memory = FrameMemory.empty(pairs, slots, features[0][0])
        elif len(memory) != pairs:
            raise ValueError(f"{len(memory)} memory rows for {pairs} (clip, expression) pairs")
        if previous_masks is not None and steps == 1:
            raise ValueError("previous_masks go with past frames (T > 1)")
        motion, similarities = self.temporal(features[0], memory)  # (BK, C1, h1, w1), (BK, K, (2r+1)^2, h0, w0)
        if motion is not None:
            features[1] = features[1] + motion
        query_motion = None
        if self.temporal.query_motion is not None:
            def query_motion(masks: torch.Tensor) -> torch.Tensor:
                return self.temporal.query_term(motion, similarities, memory.valid, masks)
        out = self._decode(features, patches, text, pairs, 1, query_motion)
        if self.temporal.motion_logit is not None:
            masks = out["pred_masks"]  # (BK, N, 1, H/4, W/4)
            displacement = self._displacement(features[0], memory, masks, text.motion.any(1))  # (BK, N, 3)
            logodds = out["pred_logits"][..., 0] - out["pred_logits"][..., 1]  # (BK, N)
            term = self.temporal.motion_logit(text.motion, displacement, logodds, memory.valid.any(1))  # (BK, N)
            out["pred_logits"] = out["pred_logits"] + torch.stack([term, torch.zeros_like(term)], -1)
            out["query_displacement"], out["motion_logit"] = displacement, term
        out["frame_features"] = features[0]
        out["motion"] = motion
        return out

    def _displacement(self, current: torch.Tensor, memory: FrameMemory, masks: torch.Tensor,
                      asks: torch.Tensor) -> torch.Tensor:
        """Each query's measured motion (BK, N, 3); eagerly only on the rows whose words ask for motion (``asks``
        (BK,) bool; the others are zeros, which the motion logit does not read), in a traced graph on every row."""
        if torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export():
            return displacement_under_masks(current, memory, masks, self.temporal.radius, crop=False).to(masks.dtype)
        if asks.all():
            return displacement_under_masks(current, memory, masks, self.temporal.radius).to(masks.dtype)
        displacement = masks.new_zeros(*masks.shape[:2], 3)
        if asks.any():
            displacement[asks] = displacement_under_masks(current[asks], memory.index(asks), masks[asks],
                                                          self.temporal.radius).to(masks.dtype)
        return displacement

    def _decode(
        self, features: list[torch.Tensor], patches: torch.Tensor | None, text: TextFeatures, pairs: int, steps: int,
        query_motion: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> dict:
        """CLIP Prior, CMD and decoder for ``pairs`` clips of ``steps`` frames.

        features: per level (pairs*steps, C_i, h, w); patches: (pairs, steps, P, D) or None; text: pairs rows;
        query_motion: see ``MaskedAttentionDecoder.forward``.
        """
        if patches is not None:
            prior_embed, heatmap = self.clip_prior(patches, text.prompt)  # (pairs, C), (pairs, g, g)
        else:
            prior_embed, heatmap = text.tokens.new_zeros(pairs, self.cfg.head.hidden_dim), None

        words = text.tokens.repeat_interleave(steps, dim=0)  # (pairs*T, L, C): every frame sees its words
        padding = text.padding_mask.repeat_interleave(steps, dim=0)
        cmd = self.cmd(features, words, padding)

        def per_clip_mean(x: torch.Tensor) -> torch.Tensor:  # (pairs*T, ...) -> (pairs, ...)
            return x.view(pairs, steps, *x.shape[1:]).mean(1)

        words = per_clip_mean(cmd.words)  # (pairs, L, C)
        sentences = [per_clip_mean(s) for s in cmd.level_sentences]
        queries = sentences[-1][:, None, :].expand(-1, self.cfg.head.num_queries, -1)  # (pairs, N, C)
        pyramid = [p.view(pairs, steps, *p.shape[1:]) for p in cmd.pyramid]  # (pairs, T, C, h, w)
        mask_features = cmd.mask_features.view(pairs, steps, *cmd.mask_features.shape[1:])
        predictions = self.decoder(queries, prior_embed, pyramid, mask_features, words, text.padding_mask, query_motion)

        *aux, (logits, masks) = predictions
        return {
            "pred_logits": logits,
            "pred_masks": masks,
            "aux_outputs": [{"pred_logits": a, "pred_masks": m} for a, m in aux],
            "sentence_feature": sentences[-1],
            "prior_heatmap": heatmap,
            "level_sentences": sentences,
        }


def _per_pair(feature: torch.Tensor, clips: int, steps: int, per_clip: int) -> torch.Tensor:
    """(B*T, ...) per frame -> (B*K*T, ...) per (clip, expression, frame)."""
    grouped = feature.view(clips, steps, *feature.shape[1:])
    return grouped.repeat_interleave(per_clip, dim=0).flatten(0, 1)


def build_vatex(
    cfg: VatexConfig,
    backbone_checkpoint: str | Path | None = None,
    clip_checkpoint: str | Path | None = None,
) -> Vatex:
    """Builds VATEX from a config.

    Args:
        cfg: model config, e.g. ``preset("paper")``.
        backbone_checkpoint: local timm checkpoint of the Swin backbone (ImageNet weights), or with
            ``cfg.backbone.video`` a torchvision swin3d_b checkpoint (Kinetics weights).
        clip_checkpoint: local open_clip/OpenAI checkpoint of the CLIP model.
    Nothing is downloaded: without checkpoint files the encoders start from random weights.
    """
    if backbone_checkpoint is not None and not Path(backbone_checkpoint).is_file():
        raise FileNotFoundError(f"backbone checkpoint not found: {backbone_checkpoint}")
    encoder = VideoBackbone if cfg.backbone.video else Backbone
    backbone = encoder(cfg.backbone, str(backbone_checkpoint) if backbone_checkpoint else None)
    clip = build_clip(cfg.clip, clip_checkpoint)
    model = Vatex(
        cfg,
        backbone=backbone,
        text_encoder=TextEncoder(clip.text, cfg.clip, cfg.head),
        clip_prior=ClipPrior(clip.visual, cfg.clip, cfg.head) if cfg.head.use_clip_prior else None,
        cmd=ContextualMultimodalDecoder(backbone.channels, cfg.head),
        decoder=MaskedAttentionDecoder(cfg.head),
        temporal=(MotionEncoder(backbone.channels[0], backbone.channels[1], cfg.temporal, cfg.head.groupnorm_groups,
                                cfg.head.hidden_dim)
                  if cfg.temporal.memory_frames else None),
    )
    model.set_grad_checkpointing(cfg.grad_checkpointing)
    logger.debug("built VATEX %s: %.1fM parameters", cfg.name, sum(p.numel() for p in model.parameters()) / 1e6)
    return model
