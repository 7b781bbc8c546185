"""Integration tests on the real datasets in ../shared/data (skipped when absent)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from simstudent.cli import app
from simstudent.data import load_dataset
from simstudent.data.examples import build_exp1_examples, build_exp2_examples
from simstudent.data.jsonl import write_dataset
from simstudent.data.splits import SplitConfig, make_split
from simstudent.data.stats import compute_stats

runner = CliRunner()


def test_itap_counts(itap_dir):
    ds = load_dataset(itap_dir)
    stats = compute_stats(ds)
    assert (stats.students, stats.problems, stats.submissions, stats.streams) == (89, 38, 2801, 888)
    assert stats.events_by_type == {"Submit": 2801, "X-HintRequest": 307}
    assert stats.stream_length.at_least == {"2": 442, "3": 289}
    assert stats.stream_length.max == 85
    assert all("\r" not in sub.code for s in ds.streams for sub in s.submissions)
    for stream in ds.streams:
        orders = [sub.order for sub in stream.submissions]
        assert orders == sorted(orders)


def test_dublin_counts(dublin_csv):
    stats = compute_stats(load_dataset(dublin_csv))
    assert (stats.students, stats.problems, stats.submissions) == (314, 36, 3806)
    assert stats.recorded_correct["true"] == 589
    assert stats.ordered_streams == 0


def test_cli_stats_json(itap_dir, dublin_csv):
    result = runner.invoke(app, ["data", "stats", str(itap_dir), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {k: out[k] for k in ("students", "problems", "submissions", "streams")} == {
        "students": 89, "problems": 38, "submissions": 2801, "streams": 888}
    result = runner.invoke(app, ["data", "stats", str(dublin_csv), "--json"])
    out = json.loads(result.stdout)
    assert (out["students"], out["problems"], out["submissions"]) == (314, 36, 3806)


def test_itap_fold_split_and_examples(itap_dir):
    ds = load_dataset(itap_dir)
    split = make_split(ds, SplitConfig(itap_fold=0, seed=0))
    assert len(split.manifest.test_students) == 7  # Fold0/Test.csv's students with submissions
    assert not set(split.manifest.test_students) & {s.student_id for s in split.train.streams}
    total = len(split.train.streams) + len(split.test_NS_OP.streams) + len(split.test_NS_NP.streams)
    assert total + split.dropped_streams == 888
    train2 = build_exp2_examples(split.train, k=3, context=True)
    assert len(train2) == split.train.n_submissions
    assert sum(e.is_final for e in train2) == len(split.train.streams)
    test1 = build_exp1_examples(split.test_NS_NP, context=True, context_source=split.test_history())
    assert len(test1) == 3 * len(split.test_NS_NP.streams)
    assert sum(1 for e in test1 if e.context_problem_id) > 0


def test_real_data_jsonl_round_trip(itap_dir, dublin_csv, tmp_path):
    for source in (itap_dir, dublin_csv):
        ds = load_dataset(source)
        assert load_dataset(write_dataset(ds, tmp_path / "ds.jsonl")) == ds
