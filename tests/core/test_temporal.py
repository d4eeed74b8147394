"""The temporal memory: causal, the same in training and in a stream, reset when a stream breaks, target ids."""

import dataclasses

import numpy as np
import pytest
import torch

from vatex_core import Predictor, build_vatex, preset
from vatex_core.config import check_config
from vatex_core.motion_words import MOTION_REQUESTS, motion_requests
from vatex_core.temporal import (
    MOTION_CHANNELS,
    MOTION_SCALE,
    FrameMemory,
    MotionLogit,
    displacement_under_masks,
    local_correlation,
    measured_displacement,
    motion_under_masks,
    sub_cell_peak,
)

SIZE = (128, 192)  # (H, W) of the test frames: the tiny model's own size, so the predictor does not resize


MEASURED = {"query_motion": True, "correlation_radius": 2, "measured_motion": True}  # the queries' motion measured
EVERY_PART = {**MEASURED, "motion_logit": True}  # and the decision reading it too


def _temporal_model(seed: int = 0, trained_look: bool = True, **parts):
    """A tiny temporal model with optional ``parts`` (TemporalConfig fields); ``trained_look`` gives the motion
    encoder's zero-initialised output weights."""
    torch.manual_seed(seed)
    cfg = preset("tiny")
    cfg.temporal = dataclasses.replace(cfg.temporal, memory_frames=2, **parts)
    model = build_vatex(cfg).eval()
    if trained_look:  # untrained, the memory adds exactly zero and nothing could be seen
        torch.nn.init.normal_(model.temporal.out.weight, std=0.2)
    return model


def _train_optional_parts(model) -> None:
    """Weights for the zero-initialised output layers of the optional temporal parts the model has."""
    parts = [model.temporal.correlation, model.temporal.query_motion and model.temporal.query_motion.embed.layers[-1]]
    for layer in filter(None, parts):
        torch.nn.init.normal_(layer.weight, std=0.2)
    if model.temporal.motion_logit is not None:
        for parameter in model.temporal.motion_logit.parameters():
            torch.nn.init.normal_(parameter, std=0.2)


def _frames(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8) for _ in range(count)]


def test_untrained_memory_is_the_per_frame_model():
    torch.manual_seed(0)
    per_frame = build_vatex(preset("tiny")).eval()
    temporal = _temporal_model(trained_look=False)
    missing = temporal.load_state_dict(per_frame.state_dict(), strict=False).missing_keys
    assert missing and all(name.startswith("temporal.") for name in missing)
    frames = [torch.from_numpy(f).permute(2, 0, 1).float()[None] / 255 for f in _frames(3)]
    clip = torch.stack(frames, dim=1)  # (1, 3, 3, H, W)
    text = per_frame.encode_text(["the red circle"])
    with torch.no_grad():
        expected = per_frame(clip[:, -1:], text)["pred_masks"]
        got = temporal(clip, text)["pred_masks"]
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("part", [{"query_motion": True}, {"correlation_radius": 2}, MEASURED, EVERY_PART,
                                  {"correlation_radius": 2, "motion_logit": True}])
def test_untrained_optional_parts_are_the_model_without_them(part):
    """A model given the per-query motion (learnt or measured) or the correlation starts as the temporal model it
    is trained from."""
    with_it = _temporal_model(**part)
    without = _temporal_model()
    without.load_state_dict(with_it.state_dict(), strict=False)  # the same memory, without the part
    clip = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in _frames(3)])[None]
    text = without.encode_text(["the red circle moving left"])
    with torch.no_grad():
        expected = without(clip, text)
        got = with_it(clip, text)
    assert torch.allclose(got["pred_logits"], expected["pred_logits"], atol=1e-6)
    assert torch.allclose(got["pred_masks"], expected["pred_masks"], atol=1e-5)
    _train_optional_parts(with_it)
    with torch.no_grad():
        changed = with_it(clip, text)["pred_logits"]
    assert not torch.allclose(changed, expected["pred_logits"], atol=1e-3)  # once trained, the part is read


def test_local_correlation_peaks_where_the_cell_came_from():
    torch.manual_seed(0)
    past = torch.randn(1, 8, 10, 12)
    now = torch.roll(past, shifts=(1, -2), dims=(2, 3))  # everything moved 1 cell down and 2 left
    similarity = local_correlation(now, past, radius=3)  # (1, 49, 10, 12)
    dy, dx = divmod(similarity[0, :, 5, 6].argmax().item(), 7)
    assert (dy - 3, dx - 3) == (-1, 2)  # the cell now at (5, 6) was at (4, 8)
    assert similarity[0, :, 5, 6].max().item() == pytest.approx(1.0, abs=1e-5)  # cosine: the same vector
    assert similarity[0, 0, 0, 0].item() == 0.0  # compares with a cell outside the map


def test_each_query_reads_the_motion_under_its_own_mask():
    motion = torch.zeros(1, 8, 4, 6)  # (S, C1, h1, w1): dx +1 on the left half, -1 on the right, speed 1
    motion[0, 0, :, :3], motion[0, 0, :, 3:] = 1.0, -1.0
    motion[0, 2] = 1.0
    motion[0, 3:] = 5.0  # channels past the displacement ones are not read
    masks = torch.full((1, 3, 1, 8, 12), -20.0)  # (S, N, 1, H4, W4) logits
    masks[0, 0, 0, :, :6] = 20.0  # query 0: the left half
    masks[0, 1, 0, 2:4, 8:10] = 20.0  # query 1: a small patch on the right
    read = motion_under_masks(motion, masks)  # query 2 covers nothing
    assert read[0, 0].tolist() == pytest.approx([1.0, 0.0, 1.0], abs=1e-4)
    assert read[0, 1].tolist() == pytest.approx([-1.0, 0.0, 1.0], abs=1e-4)
    assert read[0, 2].abs().max() < 1e-4


@pytest.mark.parametrize("parts", [{}, {"query_motion": True, "correlation_radius": 2}, EVERY_PART])
def test_stream_is_causal_and_equals_the_training_path(parts):
    """A stream's frame t does not depend on later frames, and equals the clip forward used in training."""
    model = _temporal_model(**parts)
    _train_optional_parts(model)
    predictor = Predictor(model, found_threshold=0.0)
    frames = _frames(4)
    session = predictor.stream("the red circle")
    streamed = [session.step(frame) for frame in frames[:3]]
    altered = predictor.predict_clip([*frames[:2], frames[3]], "the red circle")
    assert [p.score for p in altered[:2]] == pytest.approx([p.score for p in streamed[:2]], abs=1e-6)

    # the training path: the third frame decoded with frames 1 and 0 as memory and the stream's mask of frame 1
    replay = predictor.stream("the red circle")
    replay.step(frames[0])
    replay.step(frames[1])
    previous = replay.memory.target[:, 0]  # (1, H/4, W/4): the mask the stream remembers of frame 1
    clip = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in frames[:3]])[None]
    with torch.no_grad():
        out = model(clip, model.encode_text(["the red circle"]), previous_masks=previous)
    assert out["pred_logits"].softmax(-1)[0, :, 0].max().item() == pytest.approx(streamed[2].score, abs=1e-5)


def test_sub_cell_peak_finds_the_vertex_between_cells():
    rows, cols = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
    scores = -((cols - 2.3) ** 2 + (rows - 1.6) ** 2)  # a paraboloid: the parabolas through the peak are exact
    assert sub_cell_peak(scores.flatten()[None], 5)[0].tolist() == pytest.approx([2.3, 1.6], abs=1e-5)
    on_edge = -((cols - 4.4) ** 2 + (rows - 2.0) ** 2)
    assert sub_cell_peak(on_edge.flatten()[None], 5)[0].tolist() == pytest.approx([4.0, 2.0])  # no cell beyond


def _two_copies(now: tuple[int, int], past: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two copies of one object at the columns ``now`` (left, right) in frame t and ``past`` in t-1, t-2:
    (similarities (1, 2, 25, 16, 24) with the past frames, valid (1, 2), masks (1, 2, 1, 16, 24) logits: query 0
    on the left copy now, query 1 on the right one)."""
    torch.manual_seed(0)
    background, thing = torch.randn(8, 16, 24) * 0.3, torch.randn(8, 4, 4)

    def frame(left: int, right: int) -> torch.Tensor:  # (C, h, w): the copies at columns left and right, rows 6-9
        drawn = background.clone()
        drawn[:, 6:10, left:left + 4] = thing
        drawn[:, 6:10, right:right + 4] = thing
        return drawn

    masks = torch.full((1, 2, 1, 16, 24), -20.0)
    masks[0, 0, 0, 6:10, now[0]:now[0] + 4], masks[0, 1, 0, 6:10, now[1]:now[1] + 4] = 20.0, 20.0
    current = frame(*now)[None]
    similarities = torch.stack([local_correlation(current, frame(*p)[None], 2) for p in past], 1)
    return similarities, torch.tensor([[True] * len(past)]), masks


def test_displacement_under_masks_is_the_measurement_of_the_similarity_maps():
    """The convolution form (the motion logit's) measures what the similarity maps measure, empty slots included,
    and so does it on the box of cells the masks cover."""
    generator = torch.Generator().manual_seed(0)
    current = torch.randn(2, 8, 12, 16, generator=generator)
    memory = FrameMemory(torch.randn(2, 2, 8, 12, 16, generator=generator), torch.tensor([[True, True], [True, False]]),
                         torch.zeros(2, 1, 12, 16))
    masks = torch.randn(2, 3, 1, 12, 16, generator=generator) * 4
    present = memory.valid.float()[..., None, None, None]
    similarities = torch.stack([local_correlation(current, memory.features[:, k], 2) for k in range(2)], 1) * present
    expected = measured_displacement(similarities, memory.valid, masks, radius=2)
    assert torch.allclose(displacement_under_masks(current, memory, masks, radius=2), expected, atol=1e-4)
    assert torch.allclose(displacement_under_masks(current, memory, masks, radius=2, crop=False), expected, atol=1e-4)
    for top, left in ((0, 0), (4, 6), (9, 13)):  # objects at a corner, inside, at the far corner: the box is cropped
        blobs = torch.full_like(masks, -30.0)
        blobs[:, :, :, top:top + 3, left:left + 3] = 5.0
        expected = measured_displacement(similarities, memory.valid, blobs, radius=2)
        assert torch.allclose(displacement_under_masks(current, memory, blobs, radius=2), expected, atol=1e-4)


def test_a_memory_without_the_motion_encoder_only_measures():
    """``motion_encoder: false``: no encoder parameters, the features untouched (the per-frame model's masks), and the
    motion logit still measures each query's motion."""
    torch.manual_seed(0)
    per_frame = build_vatex(preset("tiny")).eval()
    measuring = _temporal_model(trained_look=False, correlation_radius=2, motion_logit=True, motion_encoder=False)
    assert not any(name.startswith(("temporal.body", "temporal.out", "temporal.correlation"))
                   for name in measuring.state_dict())
    measuring.load_state_dict(per_frame.state_dict(), strict=False)
    clip = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in _frames(3)])[None]
    text = per_frame.encode_text(["the red circle moving left"])
    with torch.no_grad():
        expected = per_frame(clip[:, -1:], text)["pred_masks"]
        got = measuring(clip, text)
    assert torch.allclose(got["pred_masks"], expected, atol=1e-5)
    assert got["motion"] is None and got["query_displacement"].shape == (1, expected.shape[1], 3)
    cfg = preset("tiny")
    cfg.temporal = dataclasses.replace(cfg.temporal, memory_frames=2, query_motion=True, motion_encoder=False)
    with pytest.raises(ValueError, match="motion_encoder"):  # the queries' motion reads the encoder
        check_config(cfg)


def test_measured_motion_tells_look_alikes_apart():
    """Two copies of one object, one moving right and one left: each query's mask measures its own object's way."""
    similarities, valid, masks = _two_copies((8, 14), [(7, 15), (6, 16)])  # one cell a frame, towards each other
    step = MOTION_SCALE / 16  # one cell a frame, in short sides times the scale
    both = measured_displacement(similarities, valid, masks, radius=2)
    assert torch.allclose(both[0], torch.tensor([[step, 0.0, step], [-step, 0.0, step]]), atol=0.05)
    newest = measured_displacement(similarities * torch.tensor([1.0, 0.0])[:, None, None, None],
                                   torch.tensor([[True, False]]), masks, radius=2)  # after a reset: one frame
    assert torch.allclose(newest, both, atol=0.05)
    nothing = measured_displacement(similarities * 0, torch.tensor([[False, False]]), masks, radius=2)
    assert nothing.abs().max() == 0  # an empty memory measures no motion


def test_motion_logit_favours_the_look_alike_that_moves_as_the_words_say():
    """Each requested entry sees the displacement in its own columns: a unit reading dx in the "left" columns
    raises the left-moving copy's logit and lowers the other's, only for expressions that say "moving left"; one
    reading speed in the "still" columns lowers both moving copies for "not moving"; the gap to the confident
    query counts for motion words only; words without motion and an empty memory add nothing."""
    similarities, valid, masks = _two_copies((6, 16), [(7, 15), (8, 14)])  # moving apart, one cell a frame
    displacement = measured_displacement(similarities, valid, masks, radius=2)  # (1, 2, 3)
    logit = MotionLogit(hidden=3)
    requests = motion_requests(["the red circle moving left", "the red circle that is not moving", "the red circle"])
    appearance = torch.tensor([[0.0, 4.0]])  # the right-hand copy's query is the confident one

    def term(row: int) -> torch.Tensor:
        return logit(requests[row:row + 1], displacement, appearance, torch.tensor([True]))[0]

    assert all(term(row).abs().max() == 0 for row in range(3))  # untrained: adds nothing
    entry = MOTION_CHANNELS + 1  # dx, dy, speed and a one per requested entry
    with torch.no_grad():
        logit.hidden.weight.zero_()
        logit.hidden.bias.zero_()
        logit.hidden.weight[0, MOTION_REQUESTS.index("left") * entry + 0] = -2.0  # dx, in the "left" columns
        logit.hidden.weight[1, MOTION_REQUESTS.index("still") * entry + 2] = -2.0  # speed, in the "still" columns
        logit.out.weight[0, :2] = 1.0
    assert term(0)[0] > 0 > term(0)[1]
    assert (term(1) < 0).all()
    assert term(2).abs().max() == 0  # no motion word: no term
    before = term(0)
    with torch.no_grad():
        logit.hidden.weight[2, -1] = 1.0  # the gap to the most confident query
        logit.out.weight[0, 2] = 0.5
    assert torch.allclose(term(0) - before, torch.tensor([0.5 * 4.0, 0.0]), atol=1e-3)  # GELU(4) = 4.0
    assert term(2).abs().max() == 0
    nothing = measured_displacement(similarities * 0, torch.zeros_like(valid), masks, radius=2)
    assert logit(requests, nothing, appearance.expand(3, -1), torch.zeros(3, dtype=torch.bool)).abs().max() == 0
    logit.reset_parameters()
    assert all(term(row).abs().max() == 0 for row in range(3))


def test_memory_keeps_the_newest_frames_and_the_found_mask():
    predictor = Predictor(_temporal_model(), found_threshold=0.0)
    session = predictor.stream("the red circle")
    for frame in _frames(3):
        session.step(frame)
    memory = session.memory
    assert memory.features.shape[:2] == (1, 2) and memory.valid.tolist() == [[True, True]]
    assert memory.target.shape == (1, 1, 32, 48) and memory.target.max() > 0  # found: its mask is remembered
    unfound = Predictor(_temporal_model(), found_threshold=1.0).stream("the red circle")
    unfound.step(_frames(1)[0])
    assert unfound.memory.valid.tolist() == [[True, False]] and unfound.memory.target.abs().max() == 0


@pytest.mark.parametrize(("stamps", "reason"), [((0.0, 0.1, 0.05), "stamp_backwards"),
                                                ((0.0, 0.1, 5.0), "time_gap")])
def test_a_broken_stream_forgets_its_past(stamps, reason):
    predictor = Predictor(_temporal_model(), found_threshold=0.0)
    frames = _frames(3)
    session = predictor.stream("the red circle", max_gap=1.0)
    results = [session.step(frame, stamp) for frame, stamp in zip(frames, stamps)]
    assert dict(session.resets) == {reason: 1}
    assert session.memory.valid.tolist() == [[True, False]]  # only the frame after the reset
    fresh = predictor.stream("the red circle").step(frames[2])
    assert results[2].score == pytest.approx(fresh.score, abs=1e-6)  # as if the stream started there
    assert results[2].target_id != results[1].target_id  # and it may follow another object


def test_frame_size_change_resets_and_mixed_batches_work():
    predictor = Predictor(_temporal_model(), found_threshold=0.0)
    moving, fresh = predictor.stream("the red circle"), predictor.stream("the blue square")
    small = np.zeros((48, 64, 3), np.uint8)
    for frame in _frames(2):
        moving.step(frame)
    moving.step(small)
    assert dict(moving.resets) == {"frame_size": 1}
    frame = _frames(1, seed=5)[0]
    both = predictor.step_batch([moving, fresh], [frame, frame])  # one session remembers, one does not
    assert moving.resets["frame_size"] == 2 and both[1].score == pytest.approx(
        predictor.stream("the blue square").step(frame).score, abs=1e-5)


def test_target_ids_follow_one_object_and_change_on_a_jump():
    predictor = Predictor(_temporal_model(), found_threshold=0.0)
    session = predictor.stream("the red circle")
    prediction = session.step(_frames(1)[0])
    first = prediction.target_id
    assert first > 0
    # a found mask far from the last one is another object: feed the session's bookkeeping directly
    shifted = type(prediction)(np.zeros(SIZE, bool), 0.9, None, None, found=True)
    shifted.mask[0:4, 0:4] = True
    session._last_found = (180.0, 120.0, 4.0)
    session.after_frame(shifted)
    assert shifted.target_id not in (0, first)
    near = type(prediction)(np.zeros(SIZE, bool), 0.9, None, None, found=True)
    near.mask[1:5, 1:5] = True
    session.after_frame(near)
    assert near.target_id == shifted.target_id  # the same object a frame later
    missing = type(prediction)(np.zeros(SIZE, bool), 0.1, None, None, found=False)
    session.after_frame(missing)
    assert missing.target_id == 0
    session.after_frame(near)
    assert near.target_id == shifted.target_id  # hidden for a frame, then back: the same id


def test_memory_rows_must_match_the_pairs():
    model = _temporal_model()
    clip = torch.rand(2, 1, 3, *SIZE)
    text = model.encode_text(["a", "b"])
    memory = FrameMemory.empty(1, 2, torch.zeros(32, SIZE[0] // 4, SIZE[1] // 4))
    with pytest.raises(ValueError, match="memory rows"):
        model(clip, text, memory=memory)
    with pytest.raises(ValueError, match="no temporal memory"):
        build_vatex(preset("tiny")).eval()(clip, text, memory=memory)


def test_memory_keeps_frames_a_frame_interval_apart():
    """At 30 frames a second the memory holds frames 0.1 s apart; the target mask follows every frame."""
    predictor = Predictor(_temporal_model(), found_threshold=0.0)
    assert predictor.model.cfg.temporal.frame_interval == 0.1
    session = predictor.stream("the red circle")
    frames = _frames(7)
    for index, frame in enumerate(frames):  # stamps 0, 1/30, ... 0.2 s: frames 0, 3 and 6 are kept
        session.step(frame, stamp=index / 30)
    replay = predictor.stream("the red circle")
    for index in (0, 3):  # frames 0.1 s apart: the ones the memory kept
        replay.step(frames[index], stamp=index / 30)
    assert torch.allclose(session.memory.features[0, 1], replay.memory.features[0, 0])  # frame 3, then frame 6
    assert not torch.equal(session.memory.target, replay.memory.target)  # the mask is frame 6's, not 3's
    unstamped = predictor.stream("the red circle")
    for frame in frames[:3]:
        unstamped.step(frame)
    assert unstamped.memory.valid.tolist() == [[True, True]]  # without stamps every frame is kept
