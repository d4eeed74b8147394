"""N-acc on the independent renderer by what each absent phrase changed and the attribute words it says
(training.independent.breakdown)."""

import json

import numpy as np
import pytest

from training.ablation_table import main as table_main
from training.independent.breakdown import (AREA_COLUMNS, COLOUR_COLUMNS, COLUMNS, TARGET_COLUMNS, TARGET_FORMS, Absent,
                                            area_column, breakdown, item_absents, item_targets, iou_breakdown,
                                            iou_by_column, main, n_acc_by_column, t_acc_by_column, tables,
                                            target_breakdown, target_columns)
from training.independent.grammar import PLACES, RELATION_WORDS, SUPERLATIVE_WORDS, Noun, Phrase
from training.independent.scenes import ABSENT_CHANGES, SHADES, SHAPES, SIZES, TEXTURES, make_independent_scenes

WORDS = {"shape": set(SHAPES), "colour": set(SHADES), "size": set(SIZES), "texture": set(TEXTURES)}


@pytest.fixture(scope="module")
def scenes():
    return make_independent_scenes("val", 25)


def test_every_absent_phrase_records_a_change_it_really_made(scenes):
    seen = set()
    for scene in scenes:
        absent = [text for obj in scene.objects if obj.no_target for text in obj.expressions]
        assert list(scene.absent_changes) == absent  # every phrase naming nothing, and only those
        things = scene.things[0]
        for text, change in scene.absent_changes.items():
            seen.add(change)
            words = text.split()
            if change == "place":
                assert any(text.endswith(place) for place in PLACES.values()), text
                continue
            named = next(w for w in words if w in WORDS[change])  # the changed attribute is said
            # some present object matches every other word the phrase says: only the change rules it out
            said = {a: next((w for w in words if w in WORDS[a]), None) for a in WORDS if a != change}
            near = [t for t in things if all(v is None or getattr(t, a) == v for a, v in said.items())]
            assert near and all(getattr(t, change) != named for t in near), (scene.scene_id, text)
    assert seen == set(ABSENT_CHANGES)


def test_items_follow_the_evaluation_order_and_count_attribute_words(scenes):
    absents = item_absents(scenes)
    texts = [(text, obj.no_target) for s in scenes for obj in s.objects for text in obj.expressions]
    assert len(absents) == len(texts) and [a is not None for a in absents] == [flag for _, flag in texts]
    attribute_words = WORDS["colour"] | WORDS["size"] | WORDS["texture"]
    for absent, (text, _) in zip(absents, texts):
        if absent is not None:
            assert absent.attributes == sum(word in attribute_words for word in text.split())
    assert {a.attributes for a in absents if a is not None and a.change != "place"} >= {0, 1, 2}


def test_counts_per_column_and_the_threshold_is_found():
    absents = [None, Absent("colour", 1), Absent("colour", 3), Absent("texture", 2), Absent("place", 1), None]
    scores = [(0.9, False), (0.2, True), (0.5, True), (0.7, True), (0.1, True), (0.1, False)]
    counts = n_acc_by_column(scores, absents, threshold=0.5)
    assert counts["colour changed"] == (1, 2) and counts["texture changed"] == (0, 1)
    assert counts["place changed"] == (1, 1) and counts["shape changed"] == (0, 0)
    assert counts["0-1 attribute words"] == (1, 1) and counts["2-3 attribute words"] == (0, 2)  # not the place one
    assert set(counts) == set(COLUMNS)
    with pytest.raises(ValueError, match="disagree"):
        n_acc_by_column([(0.9, True)], [None], 0.5)
    with pytest.raises(ValueError, match="1 scores for 2 items"):
        n_acc_by_column([(0.9, False)], [None, None], 0.5)


def _results(scenes, score_absent: float, first_item: int = 0) -> dict:
    flags = [obj.no_target for s in scenes for obj in s.objects for _ in obj.expressions][first_item:]
    return {"dataset": "synthetic", "found_threshold": 0.9, "first_item": first_item,
            "metrics": {"T-acc": 90.0, "N-acc": 80.0, "mIoU": 70.0},
            "also": {"independent": {"metrics": {"T-acc": 90.0, "N-acc": 50.0, "mIoU": 60.0}}},
            "calibration": {"threshold": 0.4, "groups": {r: {"t_acc": 90.0, "n_acc": 50.0}
                                                         for r in ("synthetic", "independent")}},
            "scores": {"independent": [[score_absent if flag else 0.95, flag] for flag in flags]},
            "ious": {"independent": [None if flag else 1.0 for flag in flags]}}


def _changes(counts: dict) -> tuple[int, int]:
    """(not found, total) over the change columns (each absent phrase is in exactly one of them)."""
    return tuple(sum(counts[f"{change} changed"][i] for change in ABSENT_CHANGES) for i in (0, 1))


def test_breakdown_reads_the_json_at_its_calibrated_threshold(scenes):
    absents = item_absents(scenes)
    absent = sum(a is not None for a in absents)
    counts = breakdown(_results(scenes, 0.5), absents)  # 0.5 >= the calibrated 0.4: every absent phrase found
    assert _changes(counts) == (0, absent)
    assert _changes(breakdown(_results(scenes, 0.5), absents, threshold=0.6)) == (absent, absent)
    later = breakdown(_results(scenes, 0.5, first_item=40), absents, threshold=0.6)  # --first-item 40
    assert _changes(later)[1] == sum(a is not None for a in absents[40:])
    with pytest.raises(KeyError, match="--also independent --calibrate"):
        breakdown({"found_threshold": 0.5}, absents)


@pytest.mark.parametrize("texture", [None, *TEXTURES])
def test_target_phrases_are_read_by_form_and_descriptions_by_texture_word(texture):
    noun, landmark = Noun("circle", colour="red", texture=texture), Noun("square", size="big", texture="dotted")
    said = texture or "no texture word"
    assert target_columns(Phrase(noun).text()) == ("description", f"description, {said}", "colour red")
    for place in PLACES:
        assert target_columns(Phrase(noun, place=place).text()) == ("place", "colour red")
    for word in SUPERLATIVE_WORDS:
        assert target_columns(Phrase(noun, superlative=word).text()) == ("superlative", "colour red")
    for relation in RELATION_WORDS:  # the landmark's texture and colour words are not the target's
        green_landmark = Noun("square", colour="green", texture="dotted")
        assert target_columns(Phrase(noun, relation=relation, landmark=landmark).text()) == ("relation", "colour red")
        assert target_columns(Phrase(Noun("circle", size="big"), relation=relation, landmark=green_landmark).text()) \
            == ("relation", "no colour word")


def test_every_target_item_has_a_form_and_descriptions_a_texture_column(scenes):
    targets = item_targets(scenes)
    assert [t is None for t in targets] == [a is not None for a in item_absents(scenes)]
    forms = {t[0] for t in targets if t is not None}
    assert forms == set(TARGET_FORMS)
    for columns in filter(None, targets):
        *form_columns, colour, area = columns
        assert set(form_columns) <= set(TARGET_COLUMNS) and colour in COLOUR_COLUMNS and area in AREA_COLUMNS
        assert (len(form_columns) == 2) == (form_columns[0] == "description")
    assert {t[-2] for t in targets if t is not None} >= set(COLOUR_COLUMNS[:-1])  # every colour said somewhere


def test_target_counts_per_column_and_the_threshold_is_found(scenes):
    targets = [("description", "description, striped"), None, ("relation",), ("description", "description, solid")]
    scores = [(0.3, False), (0.9, True), (0.95, False), (0.5, False)]
    targets[0] += ("colour blue",)
    counts = t_acc_by_column(scores, targets, threshold=0.5)
    assert counts["description"] == (1, 2) and counts["description, striped"] == (0, 1)
    assert counts["description, solid"] == (1, 1) and counts["relation"] == (1, 1) and counts["place"] == (0, 0)
    by_colour = t_acc_by_column(scores, targets, threshold=0.5, columns=COLOUR_COLUMNS)  # forms left out
    assert by_colour["colour blue"] == (0, 1) and sum(total for _, total in by_colour.values()) == 1
    with pytest.raises(ValueError, match="disagree"):
        t_acc_by_column([(0.9, True)], [("place",)], 0.5)
    found = target_breakdown(_results(scenes, 0.1), item_targets(scenes))  # targets score 0.95: all found
    assert sum(found[form][0] for form in TARGET_FORMS) == sum(found[form][1] for form in TARGET_FORMS) > 0


def test_command_and_ablation_table_print_the_breakdown(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("training.independent.breakdown.make_independent_scenes",
                        lambda split: make_independent_scenes(split, 25))
    monkeypatch.setattr("training.ablation_table.make_independent_scenes",
                        lambda split: make_independent_scenes(split, 25))
    scenes = make_independent_scenes("val", 25)
    (tmp_path / "all_on").mkdir()
    (tmp_path / "all_on" / "val.json").write_text(json.dumps(_results(scenes, 0.1)))
    assert main([str(tmp_path / "all_on" / "val.json")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 15 and "100.0" in lines[2] and "-" not in lines[2].split("|", 2)[2]
    assert lines[4].startswith("| results | T-acc, description (n)") and "100.0" in lines[6]
    assert lines[8].startswith("| results | T-acc, colour red (n)") and "100.0" in lines[10]
    assert lines[12].startswith("| results | mIoU, description (n)") and "100.0" in lines[14]
    assert table_main([str(tmp_path), "all_on"]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("|")
    for table in tables([], []):
        assert "| " + " | ".join(("run", *table.columns)) + " |" in out


def test_mious_by_form_and_area_and_targets_by_area(scenes):
    for pixels, column in ((50, "area < 1%"), (200, "area 1-3%"), (400, "area >= 3%")):  # of 10000
        mask = np.zeros((1, 100, 100), bool)
        mask.flat[:pixels] = True
        assert area_column(mask) == column
    targets = [("place", "colour red", "area < 1%"), None, ("relation", "no colour word", "area >= 3%"),
               ("place", "colour red", "area >= 3%")]
    means = iou_by_column([0.2, None, 0.9, 0.6], targets, (*TARGET_FORMS, *AREA_COLUMNS))
    assert means["place"] == pytest.approx((40.0, 2)) and means["area >= 3%"] == pytest.approx((75.0, 2))
    assert means["superlative"][1] == 0 and np.isnan(means["superlative"][0])
    with pytest.raises(ValueError, match="disagree"):
        iou_by_column([0.5, 0.5], targets[:2], AREA_COLUMNS)
    items = item_targets(scenes)
    assert {t[-1] for t in items if t is not None} <= set(AREA_COLUMNS)
    perfect = iou_breakdown(_results(scenes, 0.1), items, AREA_COLUMNS)
    assert all(mean == 100.0 for mean, n in perfect.values() if n)
    with pytest.raises(KeyError, match="IoUs"):
        iou_breakdown({"scores": {}}, items, AREA_COLUMNS)
    old = {k: v for k, v in _results(scenes, 0.1).items() if k != "ious"}  # an eval JSON from before the IoUs
    assert tables(item_absents(scenes), items)[-1].row(old) == ["-"] * len(TARGET_FORMS + AREA_COLUMNS)
