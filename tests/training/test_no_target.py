"""No-target expressions: the synthetic generator, MCC triplets, the criterion and the MCC term."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from training.criterion import LossConfig, SetCriterion, found_loss
from training.data.triplets import EvalDataset, TripletDataset
from training.data.types import ArrayScene, RefObject
from training.mcc import mcc_loss
from training.no_target_breakdown import ItemScore, breakdown, expression_form, score_items
from training.synthetic import SyntheticConfig, make_scenes, make_video_scenes, parse, referents
from training.synthetic.absent import ABSENT_ID
from vatex_core import Predictor


@pytest.fixture(scope="module")
def cfg() -> SyntheticConfig:
    return SyntheticConfig(height=64, width=64, num_frames=3, no_target_rate=0.4)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_every_split_has_no_target_expressions_that_pick_nothing(cfg, split):
    scenes = make_scenes(cfg, split, 30, seed=5)
    absent = [(s, o) for s in scenes for o in s.objects if o.no_target]
    targets = sum(len(o.expressions) for s in scenes for o in s.objects if not o.no_target)
    count = sum(len(o.expressions) for _, o in absent)
    assert 0.25 * targets < count < 0.55 * targets  # Binomial(targets, 0.4)
    kinds = set()
    for scene, obj in absent:
        assert obj.object_id == ABSENT_ID and scene.objects[-1] is obj  # after the real objects
        assert not scene.load_mask(obj.object_id).any()
        for text in obj.expressions:
            expr = parse(text)
            assert expr.text() == text  # the target expressions' grammar
            assert referents(expr, scene.truth, scene.image_size) == frozenset(), (scene.scene_id, text)
            kinds.add("place" if expr.spatial else "attribute")
    assert kinds == {"place", "attribute"}


def test_a_vocabulary_of_one_texture_changes_the_other_attributes():
    cfg = SyntheticConfig(height=64, width=64, textures=("solid",), no_target_rate=0.5)
    scenes = make_scenes(cfg, "val", 12, seed=3)
    absent = [(s, text) for s in scenes for o in s.objects if o.no_target for text in o.expressions]
    assert absent
    for scene, text in absent:
        assert "striped" not in text and "dotted" not in text
        assert referents(parse(text), scene.truth, scene.image_size) == frozenset(), text


def test_no_target_rate_leaves_pixels_and_target_expressions_unchanged(cfg):
    plain = make_scenes(SyntheticConfig(height=64, width=64, num_frames=3), "val", 8, seed=2)
    mixed, again = make_scenes(cfg, "val", 8, seed=2), make_scenes(cfg, "val", 8, seed=2)
    for a, b, c in zip(plain, mixed, again):
        assert np.array_equal(a.load_frames(), b.load_frames())
        assert [o.expressions for o in a.objects] == [o.expressions for o in b.objects if not o.no_target]
        assert [o.expressions for o in b.objects] == [o.expressions for o in c.objects]  # deterministic
    assert not any(o.no_target for s in plain for o in s.objects)


def test_video_no_target_expressions_pick_nothing_on_every_frame(cfg):
    scenes = make_video_scenes(cfg, "test", 6, seed=1)
    texts = [(s, t) for s in scenes for o in s.objects if o.no_target for t in o.expressions]
    assert texts
    for scene, text in texts:
        for frame in range(scene.num_frames):
            assert referents(text, scene.truth, scene.image_size, frame) == frozenset()


def _attributes(text: str) -> int:
    head = parse(text).head
    return sum(value is not None for value in (head.size, head.colour, head.texture))


def test_absent_phrases_may_say_several_attributes_of_the_changed_object(cfg):
    """With ``absent_kept_prob`` a phrase of two or three attributes may name nothing (it was always a target)."""
    plain = make_scenes(cfg, "train", 30, seed=5)
    several = make_scenes(replace(cfg, absent_kept_prob=0.5), "train", 30, seed=5)
    counts = {}
    for name, scenes in (("plain", plain), ("several", several)):
        texts = [(s, t) for s in scenes for o in s.objects if o.no_target for t in o.expressions]
        assert all(referents(t, s.truth, s.image_size) == frozenset() for s, t in texts)
        counts[name] = [_attributes(t) for _, t in texts if not parse(t).spatial]
    assert max(counts["plain"]) == 1  # at most one attribute: the changed one, or one kept beside a changed shape
    assert sum(n >= 2 for n in counts["several"]) > 0.25 * len(counts["several"])
    for a, b in zip(plain, several):  # the same pixels and target expressions
        assert np.array_equal(a.load_frames(), b.load_frames())
        targets = [[o.expressions for o in scene.objects if not o.no_target] for scene in (a, b)]
        assert targets[0] == targets[1]


def test_rate_is_checked():
    with pytest.raises(ValueError, match="no_target_rate"):
        SyntheticConfig(no_target_rate=1.5)
    with pytest.raises(ValueError, match="absent_kept_prob"):
        SyntheticConfig(absent_kept_prob=-0.1)


def _scene() -> ArrayScene:
    frames = np.zeros((1, 16, 16, 3), np.uint8)
    mask = np.zeros((1, 16, 16), bool)
    mask[0, 2:6, 2:6] = True
    objects = [RefObject("1", ("the red circle", "the circle")),
               RefObject("absent", ("the blue star",), no_target=True)]
    return ArrayScene("s", objects, frames, {"1": mask, "absent": np.zeros_like(mask)})


def test_triplets_of_no_target_anchors_and_their_negatives():
    dataset = TripletDataset([_scene()], seed=0)
    items = [dataset[i] for i in range(len(dataset))]
    by_anchor = {item["expressions"][0]: item for item in items}
    absent = by_anchor["the blue star"]
    assert absent["expressions"][1] == "the blue star"  # positive: itself
    assert absent["expressions"][2] in ("the red circle", "the circle")  # negative: a real object
    assert absent["has_object"].tolist() == [False, False, True]
    assert absent["masks"][:2].sum() == 0 and absent["masks"][2].sum() == 16
    for text in ("the red circle", "the circle"):  # a no-target phrase is never another object's negative
        assert (by_anchor[text]["expressions"][2] == "None"
                and by_anchor[text]["has_object"].tolist() == [True, True, False])
    evaluation = EvalDataset([_scene()])
    assert [(item["expression"], item["no_target"], bool(item["mask"].any())) for item in evaluation] == [
        ("the red circle", False, True), ("the circle", False, True), ("the blue star", True, False)]


def test_absent_negatives_at_their_rate():
    every = {item["expressions"][0]: item for item in TripletDataset([_scene()], seed=0, absent_negative_rate=1.0)}
    for text in ("the red circle", "the circle"):  # referring anchors: the negative names nothing
        assert every[text]["expressions"][2] == "the blue star"
        assert every[text]["has_object"].tolist() == [True, True, False] and every[text]["masks"][2].sum() == 0
    assert every["the blue star"]["expressions"][2] in ("the red circle", "the circle")  # unchanged
    scenes = make_scenes(SyntheticConfig(height=64, width=64, no_target_rate=0.5), "train", 8, seed=0)
    half = TripletDataset(scenes, seed=0, absent_negative_rate=0.5)
    absent = {e for scene in scenes for obj in scene.objects if obj.no_target for e in obj.expressions}
    referring = [half[i] for i in range(len(half)) if half[i]["has_object"][0]]
    share = sum(item["expressions"][2] in absent for item in referring) / len(referring)
    assert 0.3 < share < 0.6  # 0.5 of the anchors whose scene has a no-target expression
    with pytest.raises(ValueError, match="absent_negative_rate"):
        TripletDataset(scenes, absent_negative_rate=1.5)


def test_breakdown_splits_no_target_kinds_target_forms_and_sizes():
    items = [ItemScore(0.2, True, "the ring at the top", 0), ItemScore(0.7, True, "the red ring on the left", 0),
             ItemScore(0.1, True, "the striped shape", 0), ItemScore(0.6, True, "the star", 0)]
    items += [ItemScore(score, False, text, area) for score, text, area in (
        (0.9, "the red ring", 10), (0.3, "the ring on the left", 20), (0.8, "the biggest star", 300),
        (0.6, "the star above the red ring", 900))]
    assert breakdown(items, 0.5) == {
        "no-target, attribute, bare noun": (1, 0.0), "no-target, attribute, with attribute": (1, 100.0),
        "no-target, place, bare noun": (1, 100.0), "no-target, place, with attribute": (1, 0.0),
        "target, description": (1, 100.0), "target, place": (1, 0.0), "target, superlative": (1, 100.0),
        "target, relation": (1, 100.0),
        "target, smallest third": (1, 100.0), "target, middle third": (1, 0.0), "target, largest third": (2, 100.0)}
    assert expression_form("the smallest red shape") == "superlative"
    scored = score_items(Predictor.from_pretrained(), EvalDataset([_scene()]))
    assert [(i.no_target, i.expression, i.area) for i in scored] == [
        (False, "the red circle", 16), (False, "the circle", 16), (True, "the blue star", 0)]
    assert all(0 <= i.score <= 1 for i in scored)


def test_no_target_samples_learn_no_object_on_every_query_without_mask_loss():
    # Sample 0 refers to an object (query 1 confident), sample 1 names nothing. Logits zero elsewhere.
    logits = torch.zeros(2, 4, 2)
    logits[0, 1] = torch.tensor([10.0, -10.0])
    outputs = {"pred_logits": logits, "pred_masks": torch.zeros(2, 4, 1, 8, 8)}
    masks = torch.zeros(2, 1, 32, 32)
    masks[0, :, 4:20, 4:20] = 1
    has_object = torch.tensor([True, False])
    cfg = dict(weight_mcc=0.0, num_points=500)
    paper = SetCriterion(LossConfig(**cfg))(outputs, masks, has_object)
    weighted = SetCriterion(LossConfig(no_target_weight=0.5, **cfg))(outputs, masks, has_object)
    matched, log2 = math.log1p(math.exp(-20)), math.log(2)
    assert math.isclose(paper["loss_ce"].item(), (matched + 3 * 0.1 * log2 + 4 * 0.1 * log2) / (1 + 0.3 + 0.4),
                        rel_tol=1e-4)
    assert math.isclose(weighted["loss_ce"].item(), (matched + 3 * 0.1 * log2 + 4 * 0.5 * log2) / (1 + 0.3 + 2.0),
                        rel_tol=1e-4)
    # The no-target sample's masks get no gradient: no mask loss for it.
    outputs["pred_masks"].requires_grad_(True)
    SetCriterion(LossConfig(**cfg))(outputs, masks, has_object)["loss"].backward()
    assert outputs["pred_masks"].grad[1].abs().sum() == 0 and outputs["pred_masks"].grad[0].abs().sum() > 0


def test_found_term_trains_the_most_confident_query_against_has_object():
    # Query log-odds (object - no object): sample 0 (refers) max 2 at query 1, sample 1 (names nothing) max 3.
    logits = torch.zeros(2, 3, 2)
    logits[0, :, 0] = torch.tensor([-1.0, 2.0, 0.5])
    logits[1, :, 0] = torch.tensor([3.0, -2.0, 1.0])
    logits.requires_grad_(True)
    loss = found_loss(logits, torch.tensor([True, False]))
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(3.0))) / 2
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)
    loss.backward()
    touched = logits.grad.abs().sum(-1) > 0  # only the reported query of each sample moves
    assert touched.tolist() == [[False, True, False], [True, False, False]]
    assert logits.grad[0, 1, 0] < 0 < logits.grad[1, 0, 0]  # up where the object is there, down where not
    outputs = {"pred_logits": logits.detach(), "pred_masks": torch.zeros(2, 3, 1, 8, 8)}
    masks = torch.zeros(2, 1, 32, 32)
    masks[0, :, 4:20, 4:20] = 1
    cfg = dict(weight_mcc=0.0, num_points=200)
    torch.manual_seed(0)
    paper = SetCriterion(LossConfig(**cfg))(outputs, masks, torch.tensor([True, False]))
    torch.manual_seed(0)
    with_found = SetCriterion(LossConfig(weight_found=2.0, **cfg))(outputs, masks, torch.tensor([True, False]))
    assert "loss_found" not in paper  # off by default: the paper's loss
    assert math.isclose(with_found["loss"].item(), paper["loss"].item() + 2.0 * expected, rel_tol=1e-5)


def test_criterion_matches_cross_entropy_with_class_weights_by_default():
    torch.manual_seed(0)
    outputs = {"pred_logits": torch.randn(3, 5, 2), "pred_masks": torch.randn(3, 5, 1, 8, 8)}
    masks = (torch.rand(3, 1, 32, 32) > 0.5).float()
    has_object = torch.tensor([True, False, True])
    criterion = SetCriterion(LossConfig(weight_mcc=0.0, num_points=200))
    torch.manual_seed(1)
    loss = criterion(outputs, masks, has_object)["loss_ce"]
    torch.manual_seed(1)
    matches = criterion.matcher(outputs["pred_logits"], outputs["pred_masks"], masks, has_object)
    classes = torch.ones(3, 5, dtype=torch.int64)
    for s, (query, _) in enumerate(matches):
        classes[s, query] = 0
    expected = torch.nn.functional.cross_entropy(outputs["pred_logits"].transpose(1, 2), classes,
                                                 torch.tensor([1.0, 0.1]))
    assert torch.allclose(loss, expected, atol=1e-6)


def test_mcc_asks_no_query_for_no_target_anchors():
    torch.manual_seed(0)
    feats = torch.randn(6, 8)  # two triplets
    referring = torch.tensor([True, True, True, False, False, True])
    only_first = mcc_loss(feats, has_object=referring)
    # The same as the first triplet's two queries of the unmasked loss: compute them directly.
    normed = torch.nn.functional.normalize(feats, dim=-1)
    logits = (normed @ normed.T / 0.1).masked_fill(torch.eye(6, dtype=torch.bool), float("-inf"))
    expected = torch.nn.functional.cross_entropy(logits[[0, 1]], torch.tensor([1, 0]))
    assert torch.allclose(only_first, expected, atol=1e-6)
    assert torch.allclose(mcc_loss(feats, has_object=torch.ones(6, dtype=torch.bool)), mcc_loss(feats))
    nothing = mcc_loss(feats.requires_grad_(True), has_object=torch.tensor([False, False, True] * 2))
    assert nothing.item() == 0.0
    nothing.backward()  # still part of the graph
