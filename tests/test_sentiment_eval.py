"""`yuqing eval sentiment --data DIR` on folders it has never seen: every format, known files, bad files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tools.sentiment_data import (
    DataFileError,
    LabelledPost,
    file_digest,
    load_labelled_file,
    polarity_of,
    read_rows,
    split_of,
)
from tools.sentiment_eval import ALL_ROWS, HELD_OUT, evaluation_sets, spread_sample
from tools.sentiment_training import measure, trained_texts
from yuqing.cli.main import main

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data" / "sentiment"
# 200 real held-out Weibo posts (SMP2020-EWECT; see tests/fixtures/analysis/), emotion labels.
SAMPLE = [json.loads(line) for line in
          (REPO / "tests" / "fixtures" / "analysis" / "weibo_sample.jsonl").read_text(encoding="utf-8").splitlines()
          if line]
POSITIVE = {"happy"}
NEGATIVE = {"angry", "sad", "fear"}


def _polar_sample() -> list[tuple[str, int]]:
    return [(i["text"], 1 if i["label"] in POSITIVE else 0) for i in SAMPLE if i["label"] in POSITIVE | NEGATIVE]


def _write_every_format(folder: Path) -> dict[str, int]:
    """The sample split over four files in four formats; returns the polar posts each holds."""
    folder.mkdir(exist_ok=True)
    quarters = [SAMPLE[i::4] for i in range(4)]
    (folder / "emotions.json").write_text(
        json.dumps([{"id": n, "content": i["text"], "label": i["label"]} for n, i in enumerate(quarters[0])],
                   ensure_ascii=False), encoding="utf-8")
    (folder / "lines.jsonl").write_text("".join(
        json.dumps({"text": i["text"], "label": "positive" if i["label"] in POSITIVE else "negative"},
                   ensure_ascii=False) + "\n"
        for i in quarters[1] if i["label"] in POSITIVE | NEGATIVE), encoding="utf-8")
    with (folder / "binary.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "review"])
        writer.writerows([1 if i["label"] in POSITIVE else 0, i["text"]]
                         for i in quarters[2] if i["label"] in POSITIVE | NEGATIVE)
    with (folder / "chinese.tsv").open("w", encoding="gb18030", newline="") as handle:  # GBK-family, Chinese labels
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["Content", "Sentiment"])
        writer.writerows([i["text"], "正面" if i["label"] in POSITIVE else "负面"]
                         for i in quarters[3] if i["label"] in POSITIVE | NEGATIVE)
    (folder / "README.md").write_text("not a data file", encoding="utf-8")
    # Each distinct text counts once (the sample repeats one post).
    return {name: len({q["text"].strip() for q in quarters[n] if q["label"] in POSITIVE | NEGATIVE})
            for n, name in enumerate(["emotions", "lines", "binary", "chinese"])}


def test_every_format_of_a_foreign_folder_is_read(tmp_path: Path) -> None:
    expected = _write_every_format(tmp_path / "theirs")
    sets = evaluation_sets(tmp_path / "theirs")
    assert {s.name: len(s.polar) for s in sets} == expected
    assert all(s.scope == ALL_ROWS and s.weibo for s in sets)
    emotions = next(s for s in sets if s.name == "emotions")
    # Neutral posts are kept for the three-way figure, surprise (no polarity) dropped.
    assert any(p.polarity == "neutral" for p in emotions.posts)
    assert len(emotions.posts) == len({i["text"].strip() for i in SAMPLE[0::4] if i["label"] != "surprise"})


def test_eval_command_on_a_foreign_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_every_format(tmp_path / "theirs")
    assert main(["eval", "sentiment", "--data", str(tmp_path / "theirs"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["set"]: r for r in report["sets"]}
    assert set(rows) == {"emotions", "lines", "binary", "chinese"}
    assert all(r["scope"] == ALL_ROWS and r["left_out_trained"] == 0 for r in rows.values())
    assert rows["emotions"]["ours_three_way_macro_f1"] is not None
    assert rows["binary"]["ours_three_way_macro_f1"] is None
    # Where neutral posts are labelled: their F1 and how far the label's stated probability is off.
    assert 0.0 < rows["emotions"]["ours_neutral_f1"] <= 1.0
    assert 0.0 <= rows["emotions"]["ours_label_probability_error"] < 0.3
    assert rows["binary"]["ours_neutral_f1"] is None
    assert report["summary"]["ours_mean_three_way_macro_f1"] == rows["emotions"]["ours_three_way_macro_f1"]
    assert report["news"] == []  # no shared/data/topics or html beside a foreign folder
    # Real Weibo posts the model never saw: clearly better than SnowNLP's default, as on our own sets.
    summary = report["summary"]
    assert summary["ours_mean_accuracy"] >= 0.72
    assert summary["ours_mean_accuracy"] >= summary["snownlp_mean_accuracy"] + 0.05
    assert summary["speedup"] > 5


def test_eval_table_and_set_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_every_format(tmp_path / "theirs")
    assert main(["eval", "sentiment", "--data", str(tmp_path / "theirs"), "--sets", "binary", "--limit", "10"]) == 0
    out = capsys.readouterr().out
    assert "binary" in out and "emotions" not in out and "balanced accuracy at 0.5" in out
    assert main(["eval", "sentiment", "--data", str(tmp_path / "theirs"), "--sets", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content", "complaint"),
    [
        ("broken.json", '[{"content": "好", "label": 1}, {"content": ', "not valid JSON"),
        ("broken.jsonl", '{"text": "好", "label": 1}\n{"text": "差", label: 0}\n', "line 2"),
        ("columns.csv", "sentence,score\n很好,1\n", "columns ['sentence', 'score']"),
        ("fields.json", '[{"sentence": "很好", "label": 1}]', "item 0"),
        ("stars.csv", "label,review\n5,很好\n1,很差\n", "numeric labels other than 0/1 (1, 5)"),
        ("tags.csv", "label,review\nfoo,很好\nbar,很差\n", "no row has a polarity label (labels found: bar, foo)"),
    ],
)
def test_a_bad_file_is_a_config_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, complaint: str
) -> None:
    _write_every_format(tmp_path / "theirs")
    (tmp_path / "theirs" / name).write_text(content, encoding="utf-8")
    assert main(["eval", "sentiment", "--data", str(tmp_path / "theirs")]) == 2
    err = capsys.readouterr().err
    assert name in err and complaint in err
    assert "Traceback" not in err


def test_undecodable_file_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "binary.csv").write_bytes(b"label,review\n1,\xff\xfe\xfa\xfb\xfc\n")
    with pytest.raises(DataFileError, match="neither UTF-8 nor GB18030"):
        read_rows(tmp_path / "binary.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError, match="no labelled files"):
        evaluation_sets(tmp_path / "empty")


def test_a_known_training_file_is_measured_on_its_held_out_split_only(tmp_path: Path) -> None:
    folder = tmp_path / "ours"
    folder.mkdir()
    texts = [f"第{i}条微博[哈哈]" if i % 2 else f"第{i}条微博[泪]" for i in range(300)]
    rows = "".join(f"{i % 2},{t}\n" for i, t in enumerate(texts))
    path = folder / "weibo_senti_100k_subset.csv"
    path.write_text("label,review\n" + rows, encoding="utf-8")
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps({"trained_on": {path.name: file_digest(path)}}), encoding="utf-8")

    sets = evaluation_sets(folder, calibration_file=calibration)
    assert [(s.name, s.scope, s.emoticons) for s in sets] == [
        ("weibo_senti_100k_subset", HELD_OUT, True), ("weibo_senti_100k_subset (无表情)", HELD_OUT, False)]
    # The split is decided by the text without its emoticons, the same in both rows.
    held = [t for t in texts if split_of(t.split("[")[0]) == "test"]
    assert [p.text for p in sets[0].posts] == held
    assert [p.text for p in sets[1].posts] == [t.split("[")[0] for t in held]

    path.write_text("label,review\n" + rows + "1,又一条新微博[哈哈]\n", encoding="utf-8")  # not the file we trained on
    changed = evaluation_sets(folder, calibration_file=calibration)
    assert [s.scope for s in changed] == [ALL_ROWS, ALL_ROWS]
    assert len(changed[0].posts) == len(texts) + 1


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data/sentiment is not beside the repository")
def test_posts_the_model_was_trained_on_are_left_out_of_a_foreign_file(tmp_path: Path) -> None:
    trained = [t for t, label in read_rows(SHARED / "smp2020_usual_eval.json")
               if split_of(t.strip()) == "train" and polarity_of(label)][:20]
    unseen = [t for t, _ in _polar_sample()[:30]]
    assert len(trained_texts()) > 10_000
    rows = [{"content": t, "label": "happy"} for t in trained + unseen]
    (tmp_path / "mixed.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    [mixed] = evaluation_sets(tmp_path)
    assert mixed.left_out_trained == len(set(trained))
    assert [p.text for p in mixed.posts] == [t.strip() for t in unseen]


def test_spread_sample_keeps_both_ends_of_a_sorted_file() -> None:
    posts = [LabelledPost("好", "pos")] * 50 + [LabelledPost("差", "neg")] * 50
    sample = spread_sample(posts, 10)
    assert len(sample) == 10 and {p.polarity for p in sample} == {"pos", "neg"}
    assert spread_sample(posts, 0) == posts


def test_balanced_accuracy_of_a_one_class_file_is_its_recall() -> None:
    scores = measure(["a", "b", "c", "d"], [True] * 4, lambda t: 1.0 if t in "abc" else 0.0)
    assert scores.accuracy == pytest.approx(0.75)


def test_txt_files_as_the_public_sets_ship_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SMP2020-EWECT ships a JSON list in .txt (neutral spelled "neural"), CLUEmotion2020 JSON lines in
    .txt; a .txt file that is neither JSON nor a labelled table is skipped, not an error."""
    polar = _polar_sample()
    (tmp_path / "usual_test.txt").write_text(json.dumps(
        [{"id": n, "content": t, "label": "happy" if y else "angry"} for n, (t, y) in enumerate(polar[:40])]
        + [{"id": 99, "content": "今天周三", "label": "neural"}], ensure_ascii=False), encoding="utf-8")
    (tmp_path / "valid.txt").write_text("".join(
        json.dumps({"content": t, "label": "like" if y else "disgust"}, ensure_ascii=False) + "\n"
        for t, y in polar[40:80]), encoding="utf-8")
    (tmp_path / "table.txt").write_text("label\ttext\n" + "".join(f"{y}\t{t}\n" for t, y in polar[80:100]),
                                        encoding="utf-8")
    (tmp_path / "notes.txt").write_text("下载自公开数据集，仅供研究。\n", encoding="utf-8")
    sets = {s.name: s for s in evaluation_sets(tmp_path)}
    assert sorted(sets) == ["table", "usual_test", "valid"]
    assert len(sets["usual_test"].polar) == 40 and sets["usual_test"].posts[-1].polarity == "neutral"
    assert len(sets["valid"].polar) == 40 and len(sets["table"].polar) == 20
    assert main(["eval", "sentiment", "--data", str(tmp_path), "--sets", "table"]) == 0
    assert "跳过 notes.txt" in capsys.readouterr().err


def test_spreadsheet_labels_and_numeric_labels_beyond_0_and_1(tmp_path: Path) -> None:
    (tmp_path / "sheet.csv").write_text("label,review\n1.0,服务很好，点赞\n0.0,太差了，投诉\n", encoding="utf-8")
    assert [p.polarity for p in load_labelled_file(tmp_path / "sheet.csv")] == ["pos", "neg"]
    (tmp_path / "three.csv").write_text("label,review\n1,好\n0,差\n2,一般\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"numeric labels other than 0/1 \(0, 1, 2\)"):
        load_labelled_file(tmp_path / "three.csv")


def test_data_may_name_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_every_format(tmp_path / "theirs")
    assert main(["eval", "sentiment", "--data", str(tmp_path / "theirs" / "binary.csv"), "--json"]) == 0
    assert [r["set"] for r in json.loads(capsys.readouterr().out)["sets"]] == ["binary"]
    assert main(["eval", "sentiment", "--data", str(tmp_path / "theirs" / "README.md")]) == 2
    assert "README.md" in capsys.readouterr().err
    assert main(["eval", "sentiment", "--data", str(tmp_path / "nowhere")]) == 2
