"""Causal temporal memory for video streams: motion from the last K frames and the target's last mask.

A frame sees only its past. For frame t the motion encoder reads, at stride 4:
- the backbone features of frame t and their differences with the K frames kept in memory
  (t-1 .. t-K, newest first): where something moved, which way (the side of an object where it
  appears now and was not before) and how far;
- with ``cfg.correlation_radius`` r, the cosine similarity of every cell with the cells of each past
  frame up to r cells away (a local correlation, as optical-flow networks build): which way a thing moved;
- the target mask of frame t-1 (the chosen query's mask probability when it was found, else
  zeros): which of several look-alikes the stream has been following;
- one flag per memory slot saying whether it holds a frame (the first frames of a stream, and
  every frame after a reset, have fewer).
Its output is added to the stride-8 features before the Contextual Multimodal Decoder, so the
expression's words meet motion where the image features meet them (the BAT fusion and the
multi-scale encoder carry it to every level). Its first ``MOTION_CHANNELS`` channels are the ones the
motion term of training (``training/motion_loss.py``) teaches each object's displacement (dx, dy, speed).
With ``cfg.query_motion`` each decoder query also reads those channels averaged under its own mask
(:class:`QueryMotion`) before every decoder layer: the query that scores an object then carries that
object's direction and speed, which its self-attention can compare with the other queries' ("the
fastest") and its text attention with the words. With ``cfg.measured_motion`` the query's displacement is
measured instead of learnt (:func:`measured_displacement`): the correlation averaged under the query's mask
peaks at the offset where its object was in each past frame, found to a fraction of a cell. With
``cfg.motion_logit`` the decision reads that measurement as well (:class:`MotionLogit`): the motion words
(``vatex_core.motion_words``: what "moving left", "that is not moving" or "the fastest" ask for) weigh the
displacement measured under each query's final mask, and that match is added to its object logit: of two
look-alikes the one that moves as the words say is the one found. The output
layers (and the correlation's layer) start at zero: before training, a temporal model computes exactly what
the per-frame model computes, and a part added to a trained temporal model leaves it as it was.

Offline clips use the same mechanism, run frame after frame (``Predictor.predict_clip``). In training
a clip of T frames is a stream's recent past and its present: the last frame is decoded with the
memory the frames before it give (``FrameMemory.from_past``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vatex_core.config import TemporalConfig
from vatex_core.layers import MLP
from vatex_core.motion_words import MOTION_REQUESTS

MOTION_CHANNELS = 3  # the residual's channels that hold an object's displacement: dx, dy, speed
CROP_WEIGHT = 0.02  # mask probability below which a cell is left out of the measurement's box (every query's)
MOTION_SCALE = 20.0  # displacement units: short sides of the image times this (the generator's speeds -> 0.3-1.2)


@dataclass
class FrameMemory:
    """What one or more streams remember of their past frames; row i belongs to stream i."""

    features: torch.Tensor  # (S, K, C0, h0, w0) stride-4 backbone features of frames t-1 .. t-K
    valid: torch.Tensor  # (S, K) bool: the slot holds a frame
    target: torch.Tensor  # (S, 1, h0, w0) target mask probability of frame t-1; zeros when not found

    def __len__(self) -> int:
        return self.features.shape[0]

    @staticmethod
    def empty(rows: int, slots: int, like: torch.Tensor) -> FrameMemory:
        """A memory holding no frame, for ``rows`` streams whose frames give stride-4 features like ``like``
        (C0, h0, w0)."""
        features = like.new_zeros(rows, slots, *like.shape)
        target = like.new_zeros(rows, 1, *like.shape[-2:])
        return FrameMemory(features, torch.zeros(rows, slots, dtype=torch.bool, device=like.device), target)

    def pushed(self, features: torch.Tensor, target: torch.Tensor) -> FrameMemory:
        """The memory after one more frame: its features (S, C0, h0, w0) enter first, the oldest slot leaves."""
        slots = self.features.shape[1]
        return FrameMemory(
            torch.cat([features[:, None], self.features[:, : slots - 1]], dim=1),
            torch.cat([self.valid.new_ones(len(self), 1), self.valid[:, : slots - 1]], dim=1),
            target,
        )

    @staticmethod
    def cat(memories: list[FrameMemory]) -> FrameMemory:
        """Memories of several streams stacked row after row (for a batched forward)."""
        return FrameMemory(
            torch.cat([m.features for m in memories]),
            torch.cat([m.valid for m in memories]),
            torch.cat([m.target for m in memories]),
        )

    def index(self, rows: slice | torch.Tensor) -> FrameMemory:
        return FrameMemory(self.features[rows], self.valid[rows], self.target[rows])

    @staticmethod
    def from_past(past: torch.Tensor, slots: int, target: torch.Tensor | None) -> FrameMemory:
        """The memory a stream has after the frames ``past`` (S, P, C0, h0, w0), newest first.

        The K newest fill the slots (empty slots when P < K); ``target`` (S, h0, w0) is the mask of
        the newest past frame (training: the true one, spoiled), None for zeros.
        """
        rows, count = past.shape[:2]
        kept = past[:, :slots]
        missing = slots - kept.shape[1]
        features = torch.cat([kept, kept.new_zeros(rows, missing, *past.shape[2:])], dim=1)  # (S, K, C0, h0, w0)
        valid = torch.arange(slots, device=past.device)[None].expand(rows, -1) < count  # (S, K)
        if target is None:
            target = past.new_zeros(rows, *past.shape[-2:])
        return FrameMemory(features, valid, target.to(past.dtype)[:, None])


class MotionEncoder(nn.Module):
    """Stride-4 features, their differences with the memory, the last target mask -> a stride-8 residual."""

    def __init__(self, in_channels: int, out_channels: int, cfg: TemporalConfig, groups: int, query_dim: int) -> None:
        """Args: in_channels C0 (stride 4), out_channels C1 (stride 8), the temporal config, GroupNorm groups,
        the decoder's query width (for ``cfg.query_motion``; the words of ``cfg.motion_logit`` have it too)."""
        super().__init__()
        self.radius = cfg.correlation_radius
        self.body = self.out = self.correlation = None
        self.query_motion = QueryMotion(query_dim) if cfg.query_motion else None
        self.measured = cfg.measured_motion
        self.motion_logit = MotionLogit(cfg.motion_logit_hidden) if cfg.motion_logit else None
        if not cfg.motion_encoder:  # the memory only measures (the motion logit)
            return
        slots, width = cfg.memory_frames, cfg.motion_dim
        inputs = in_channels * (1 + slots) + 1 + slots  # current, K differences, last target, K flags
        self.body = nn.Sequential(
            nn.Conv2d(inputs, width, 3, stride=2, padding=1),
            nn.GroupNorm(groups, width),
            nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.GroupNorm(groups, width),
            nn.GELU(),
        )
        self.out = nn.Conv2d(width, out_channels, 1)
        nn.init.zeros_(self.out.weight)  # untrained, the model is the per-frame model
        nn.init.zeros_(self.out.bias)
        if self.radius:  # K (2r+1)^2 similarities, added to the first layer; zero at the start (the model without it)
            self.correlation = nn.Conv2d(slots * (2 * self.radius + 1) ** 2, width, 3, stride=2, padding=1)
            nn.init.zeros_(self.correlation.weight)
            nn.init.zeros_(self.correlation.bias)

    def forward(self, current: torch.Tensor, memory: FrameMemory) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """current (S, C0, h0, w0) and its memory (S rows) -> the (S, C1, h0/2, w0/2) residual for the stride-8
        map, and with a correlation radius the similarities (S, K, (2r+1)^2, h0, w0) (zeros in empty slots); both
        None without the motion encoder."""
        if self.body is None:
            return None, None
        present = memory.valid.to(current.dtype)[..., None, None, None]  # (S, K, 1, 1, 1)
        differences = (current[:, None] - memory.features) * present  # (S, K, C0, h0, w0); empty slots give 0
        flags = present[:, :, 0].expand(-1, -1, *current.shape[-2:])  # (S, K, h0, w0)
        target = memory.target.to(current.dtype)
        hidden = self.body[0](torch.cat([current, differences.flatten(1, 2), target, flags], dim=1))
        similarities = None
        if self.correlation is not None:
            similarities = torch.stack([local_correlation(current, memory.features[:, slot], self.radius)
                                        for slot in range(memory.features.shape[1])], 1) * present
            hidden = hidden + self.correlation(similarities.flatten(1, 2))
        return self.out(self.body[1:](hidden)), similarities

    def query_term(self, residual: torch.Tensor, similarities: torch.Tensor | None, valid: torch.Tensor,
                   masks: torch.Tensor) -> torch.Tensor:
        """What ``cfg.query_motion`` adds to each query: (S, N, D) from its mask logits (S, N, 1, H4, W4).

        The displacement is the residual's channels under the mask, or with ``cfg.measured_motion`` the one
        measured in the similarities of :meth:`forward` over the memory's ``valid`` (S, K) slots.
        """
        if self.measured:
            return self.query_motion(measured_displacement(similarities, valid, masks, self.radius))
        return self.query_motion(motion_under_masks(residual, masks))


class MotionLogit(nn.Module):
    """The match of each query's measured motion with what the words ask for -> a term of its object logit.

    The words' request is a flag per entry of ``MOTION_REQUESTS`` (``vatex_core.motion_words``: a lexicon, not
    learnt). Each query is described by, for every requested entry, its displacement (dx, dy, speed) and a one,
    and zeros for the entries not requested (R x 4 numbers: "moving left" sees the query's motion in the "left"
    columns, so what left asks of dx is learnt apart from what right asks), and by its gap to the most confident
    query's object log-odds (look-alikes match the words' appearance alike, but the decoder lets one query of a
    set be confident, so the others' gaps say little about their objects). A small MLP scores that description.
    Between two look-alikes the one that moves as the words say gains; a phrase whose motion nothing shows loses
    on every query. A linear score of the same columns misses thresholds and interactions ("not moving" up to a
    speed, how far motion should outweigh the gap): on held-out streams the MLP's frame J is 0.02-0.03 higher.
    An expression without motion words gets no term, nor does any expression where the memory holds no frame.
    The output layer starts at zero (``reset_parameters``): the model without the term.
    """

    def __init__(self, hidden: int) -> None:
        super().__init__()
        inputs = len(MOTION_REQUESTS) * (MOTION_CHANNELS + 1) + 1
        self.hidden = nn.Linear(inputs, hidden)
        self.out = nn.Linear(hidden, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """A fresh first layer (torch's default initialisation, from torch's generator) and a zero output: no term."""
        self.hidden.reset_parameters()
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, request: torch.Tensor, displacement: torch.Tensor, logodds: torch.Tensor,
                remembered: torch.Tensor) -> torch.Tensor:
        """request (S, R) flags, displacement (S, N, 3), logodds (S, N) the queries' object log-odds without the term,
        remembered (S,) bool: the memory holds a frame -> (S, N)."""
        given, dtype = displacement.dtype, self.out.weight.dtype
        request, displacement, logodds = request.to(dtype), displacement.to(dtype), logodds.to(dtype)
        motion = torch.cat([displacement, torch.ones_like(displacement[..., :1])], dim=-1)  # (S, N, 4)
        per_entry = (request[:, None, :, None] * motion[:, :, None, :]).flatten(2)  # (S, N, R*4)
        asks = request.amax(1, keepdim=True)  # (S, 1): 1 where the words name motion
        gaps = asks * (logodds.max(1, keepdim=True).values - logodds)  # (S, N) >= 0
        score = self.out(nn.functional.gelu(self.hidden(torch.cat([per_entry, gaps[..., None]], dim=-1))))[..., 0]
        return (score * asks * remembered.to(dtype)[:, None]).to(given)


def local_correlation(current: torch.Tensor, past: torch.Tensor, radius: int) -> torch.Tensor:
    """Cosine similarity of every cell of ``current`` with the cells of ``past`` up to ``radius`` cells away.

    current, past: (S, C, h, w) -> (S, (2r+1)^2, h, w); channel (dy + r) * (2r+1) + (dx + r) compares cell (y, x)
    now with cell (y + dy, x + dx) then (0 outside the map): a thing that moved by (-dx, -dy) peaks there.
    """
    now = nn.functional.normalize(current, dim=1)
    then = nn.functional.pad(nn.functional.normalize(past, dim=1), (radius,) * 4)
    height, width = current.shape[-2:]
    span = 2 * radius + 1
    return torch.stack([(now * then[:, :, dy:dy + height, dx:dx + width]).sum(1)
                        for dy in range(span) for dx in range(span)], dim=1)


class QueryMotion(nn.Module):
    """Each query's displacement (dx, dy, speed) -> a term added to the query."""

    def __init__(self, query_dim: int) -> None:
        super().__init__()
        self.embed = MLP(MOTION_CHANNELS, query_dim, query_dim, num_layers=2)
        nn.init.zeros_(self.embed.layers[-1].weight)  # untrained, the queries are those of the model without it
        nn.init.zeros_(self.embed.layers[-1].bias)

    def forward(self, displacement: torch.Tensor) -> torch.Tensor:
        """displacement (S, N, 3) in ``MOTION_SCALE`` units -> (S, N, D) to add to the queries."""
        return self.embed(displacement)


def motion_under_masks(motion: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The displacement channels of ``motion`` (S, C1, h1, w1) averaged under each mask (S, N, 1, H4, W4) -> (S, N, 3).

    The masks are logits; their probabilities weigh the cells and are constants (as the decoder's attention
    masks), the motion keeps its gradient. A mask covering less than one cell reads that little motion, not
    its average.
    """
    weights = _cell_weights(masks, motion.shape[-2:]).to(motion.dtype)  # (S, N, h1, w1)
    summed = torch.einsum("snhw,schw->snc", weights, motion[:, :MOTION_CHANNELS])
    return summed / weights.sum((-2, -1)).clamp_min(1.0)[..., None]


def measured_displacement(similarities: torch.Tensor, valid: torch.Tensor, masks: torch.Tensor,
                          radius: int) -> torch.Tensor:
    """Each query's displacement per memory step, measured: (S, N, 3) (dx, dy, speed) in ``MOTION_SCALE`` units.

    Args:
        similarities: (S, K, (2r+1)^2, h0, w0) of :func:`local_correlation` with each memory slot (slot k is
            frame t-k-1), zeros in empty slots.
        valid: (S, K) bool, the slot holds a frame.
        masks: (S, N, 1, H4, W4) mask logits; their probabilities weigh the cells.

    Averaged under a query's mask, the similarities of slot k peak at the offset o_k where its object's cells
    were k+1 frames ago (a flat-coloured object matches itself only where its edges fall back in place); the
    peak is refined to a fraction of a cell by a parabola through its neighbours. The object moved by -o_k,
    and its displacement per step is the least-squares line through the origin over the valid slots:
    v = -sum (k+1) o_k / sum (k+1)^2 (0 with none). A measurement: no gradient flows through it.
    """
    span = 2 * radius + 1
    weights = _cell_weights(masks, similarities.shape[-2:]).to(similarities.dtype)  # (S, N, h0, w0)
    scores = torch.einsum("snhw,skahw->snka", weights, similarities.detach())  # (S, N, K, (2r+1)^2)
    return _displacement(scores, valid, span, min(similarities.shape[-2:]))


def displacement_under_masks(current: torch.Tensor, memory: FrameMemory, masks: torch.Tensor, radius: int,
                             crop: bool = True) -> torch.Tensor:
    """:func:`measured_displacement` of the correlation of ``current`` (S, C0, h0, w0) with the memory's frames, without
    the similarity maps: each query's mask-weighted current features are the kernel of a convolution over the past
    frames, (2r+1)^2 outputs each, so the cost is that of the scores alone. With ``crop`` the kernels keep only the
    box of cells where some query's mask probability reaches ``CROP_WEIGHT`` (the rest weighs next to nothing; a
    traced graph needs ``crop=False``: the box depends on the data). masks (S, N, 1, H4, W4) logits -> (S, N, 3)."""
    rows, channels, height, width = current.shape
    slots, span = memory.features.shape[1], 2 * radius + 1
    weights = _cell_weights(masks, (height, width)).to(current.dtype)  # (S, N, h0, w0)
    queries = weights.shape[1]
    now, past = current.detach(), memory.features.to(current.dtype)  # (S, C0, h0, w0), (S, K, C0, h0, w0)
    padding = [radius] * 4  # (left, right, top, bottom) zeros around the past frames
    if crop:
        kept = weights.amax((0, 1)) >= CROP_WEIGHT  # (h0, w0)
        if not kept.any():
            return weights.new_zeros(rows, queries, 3)
        ys, xs = kept.any(1).nonzero()[:, 0], kept.any(0).nonzero()[:, 0]
        top, bottom, left, right = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
        weights, now = weights[..., top:bottom, left:right], now[..., top:bottom, left:right]
        past = past[..., max(top - radius, 0):bottom + radius, max(left - radius, 0):right + radius]
        padding = [max(radius - left, 0), max(right + radius - width, 0), max(radius - top, 0),
                   max(bottom + radius - height, 0)]
    now = nn.functional.normalize(now, dim=1)
    past = nn.functional.pad(nn.functional.normalize(past, dim=2), padding)  # (S, K, C0, h + 2r, w + 2r)
    kernels = (weights[:, :, None] * now[:, None]).flatten(0, 1)  # (S*N, C0, h, w)
    past = past.transpose(0, 1).flatten(1, 2)  # (K, S*C0, h + 2r, w + 2r): the slots as the batch
    scores = nn.functional.conv2d(past, kernels, groups=rows).view(slots, rows, queries, span * span)
    present = memory.valid.to(current.dtype)[:, None, :, None]  # (S, 1, K, 1): empty slots score 0
    return _displacement(scores.permute(1, 2, 0, 3) * present, memory.valid, span, min(height, width))


def _cell_weights(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Mask logits (S, N, 1, H4, W4) -> their probabilities on a (h0, w0) grid, constants: (S, N, h0, w0)."""
    weights = masks.flatten(1, 2).detach().sigmoid()
    if weights.shape[-2:] != tuple(size):
        weights = nn.functional.adaptive_avg_pool2d(weights, size)
    return weights


def _displacement(scores: torch.Tensor, valid: torch.Tensor, span: int, short: int) -> torch.Tensor:
    """Per-slot masked correlation scores (S, N, K, span^2) -> the displacement per memory step (S, N, 3) in
    ``MOTION_SCALE`` units (``measured_displacement``); ``short`` is the map's short side in cells."""
    slots = scores.shape[2]
    offsets = sub_cell_peak(scores, span) - span // 2  # (S, N, K, 2) (dx, dy) cells
    steps = torch.arange(1, slots + 1, device=valid.device, dtype=scores.dtype) * valid.to(scores.dtype)  # (S, K)
    velocity = -(offsets * steps[:, None, :, None]).sum(2) / (steps ** 2).sum(-1).clamp_min(1.0)[:, None, None]
    shift = velocity * (MOTION_SCALE / short)  # (S, N, 2)
    return torch.cat([shift, shift.norm(dim=-1, keepdim=True)], dim=-1)


def sub_cell_peak(scores: torch.Tensor, span: int) -> torch.Tensor:
    """The peak of each (span x span) score grid, flattened row-major in (..., span^2) -> (..., 2) (x, y) in cells.

    A parabola through the peak and its two neighbours along each axis moves it by at most half a cell; on the
    grid's edge, or where the scores do not curve down, it stays on the cell.
    """
    peak = scores.argmax(-1, keepdim=True)  # (..., 1)
    row, col = peak // span, peak % span

    def at(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return scores.gather(-1, r.clamp(0, span - 1) * span + c.clamp(0, span - 1))

    centre = at(row, col)

    def vertex(place: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        curve = before - 2 * centre + after
        shift = (0.5 * (before - after) / curve.clamp(max=-1e-6)).clamp(-0.5, 0.5)
        inside = (curve < 0) & (place > 0) & (place < span - 1)
        return place.to(scores.dtype) + torch.where(inside, shift, torch.zeros_like(shift))

    x = vertex(col, at(row, col - 1), at(row, col + 1))
    y = vertex(row, at(row - 1, col), at(row + 1, col))
    return torch.cat([x, y], dim=-1)
