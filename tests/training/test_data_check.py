"""`vatex data check` on miniature datasets in the real formats (tests/training/fixtures.py): what a complete
folder passes, and what each kind of damage reports (a missing file, split, image, frame or annotation)."""

import json
import pickle

import pytest
from fixtures import complete_refer_splits

from training.data.check import PUBLISHED, check_dataset
from vatex_ros.cli import main


def test_complete_refcoco_is_ready_with_counts_against_the_published(refer_data, capsys):
    root = refer_data["root"]
    complete_refer_splits(root)
    report = check_dataset("refcoco", root)
    assert report.errors == []
    assert {split: (c.images, c.objects, c.expressions) for split, c in report.counts.items()} == {
        "train": (1, 4, 5), "val": (1, 1, 1), "testA": (1, 1, 1), "testB": (1, 1, 1)}
    assert "train: images/videos 1 (published 16994), objects 4 (published 42404), expressions 5 (published 120624)" \
        in report.warnings
    assert any("the reader reads 1 scene(s)" in f.message for f in report.findings)
    assert main(["data", "check", "--dataset", "refcoco", "--root", str(root)]) == 0
    assert "ready (4 warning(s))" in capsys.readouterr().out
    # --strict: a folder of another size is not the published dataset
    assert main(["data", "check", "--dataset", "refcoco", "--root", str(root), "--strict"]) == 1
    assert check_dataset("refcocog", root).errors == []


def test_missing_split_image_and_files_are_named_with_how_to_get_them(refer_data, capsys, tmp_path):
    root = refer_data["root"]
    report = check_dataset("refcoco", root)  # write_refer has no testB
    assert report.errors == ["refs(unc).p: no refs of split(s) testB (has testA, train, val)"]
    (root / "images" / "train2014" / "COCO_train2014_000000000002.jpg").unlink()  # the val image
    complete_refer_splits(root)
    out = tmp_path / "report.json"
    assert main(["data", "check", "--dataset", "refcoco", "--root", str(root), "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL val: 1 of 1 images missing from" in printed and "COCO_train2014_000000000002.jpg" in printed
    assert "how to get refcoco:" in printed and "train2014.zip" in printed and "refcoco.zip" in printed
    document = json.loads(out.read_text())
    assert document["ready"] is False and document["counts"]["val"] == {"images": 1, "objects": 1, "expressions": 1}
    assert not any("the reader reads" in f["message"] for f in document["findings"])  # not before the files are there

    report = check_dataset("refcoco+", root)  # nothing of RefCOCO+ was written
    assert [e.split(" /")[0] for e in report.errors] == ["refs file", "COCO instances file"]
    assert check_dataset("refcoco", tmp_path / "nowhere").errors == [f"{tmp_path / 'nowhere'} is not a folder"]


def test_refs_naming_annotations_of_another_release_fail(refer_data):
    root = refer_data["root"]
    complete_refer_splits(root)
    path = root / "refcoco" / "refs(unc).p"
    refs = pickle.loads(path.read_bytes())
    refs[0]["ann_id"] = 999
    path.write_bytes(pickle.dumps(refs, protocol=2))
    assert check_dataset("refcoco", root).errors == [
        "1 ref(s) name annotations absent from instances.json (ref ids 0): refs and instances of different releases?"]


def test_grefcoco_counts_no_target_refs(grefcoco_data):
    root = grefcoco_data["root"]
    assert "no refs of split(s) testA, testB" in check_dataset("grefcoco", root).errors[0]
    complete_refer_splits(root)
    report = check_dataset("grefcoco", root)
    assert report.errors == []
    assert any(f.message == "3 no-target ref(s) of 7" for f in report.findings)
    assert (report.counts["all"].images, report.counts["all"].expressions) == (2, 8)
    assert PUBLISHED["grefcoco"]["all"].expressions == 278232


def test_ytvos_frames_and_annotations(ytvos_data):
    root = ytvos_data["root"]
    report = check_dataset("ytvos", root)
    assert report.errors == [] and (report.counts["train"].images, report.counts["train"].expressions) == (2, 5)
    assert report.counts["valid"].objects is None  # valid's expressions have no obj_id (masks withheld)
    (root / "train" / "Annotations" / "vidA" / "00005.png").unlink()
    (root / "train" / "JPEGImages" / "vidB" / "00000.jpg").write_bytes(b"not a jpeg")
    errors = check_dataset("ytvos", root).errors
    assert errors == [f"train: 1 of 5 files missing from {root / 'train' / 'Annotations'} (vidA/00005.png)"]
    (root / "train" / "Annotations" / "vidA" / "00005.png").write_bytes(b"")
    (root / "train" / "JPEGImages" / "vidA" / "00000.jpg").write_bytes(b"not a jpeg")  # the one decoded
    assert "does not decode" in check_dataset("ytvos", root).errors[0]


@pytest.mark.parametrize("missing", ["meta_expressions/valid/meta_expressions.json", "valid/JPEGImages/bike/00002.jpg"])
def test_davis_requires_valid(davis_data, missing):
    root = davis_data["root"]
    assert check_dataset("davis", root).errors == []
    (root / missing).unlink()
    errors = check_dataset("davis", root).errors
    assert len(errors) == 1 and ("not found" in errors[0] or "bike/00002.jpg" in errors[0])


def test_the_command_offers_every_dataset_the_check_knows():
    from training.data import check
    from vatex_ros.commands import data

    assert data.DATASETS == check.DATASETS  # the command lists them without importing training at start-up
