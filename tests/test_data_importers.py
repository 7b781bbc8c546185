"""Importers on small hand-made fixtures: ProgSnap2, Dublin CSV, native JSONL."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from simstudent.data import IMPORTERS, DataError, detect_format, load_dataset
from simstudent.data.jsonl import (
    JsonlRecoveryWarning,
    JsonlReport,
    append_jsonl,
    read_dataset,
    read_jsonl,
    write_dataset,
)
from simstudent.data.stats import compute_stats
from simstudent.schema import Attempt, Trajectory

FIXTURES = Path(__file__).parent / "fixtures" / "data"
PS2 = FIXTURES / "progsnap2_tiny"
DUBLIN = FIXTURES / "dublin_tiny.csv"


def _stream(ds, student, problem):
    (stream,) = [s for s in ds.streams if s.student_id == student and s.problem_id == problem]
    return stream


def test_registry_lists_the_three_formats():
    assert {"progsnap2", "dublin", "jsonl"} <= set(IMPORTERS.names())
    assert detect_format(PS2) == "progsnap2"
    assert detect_format(PS2 / "MainTable.csv") == "progsnap2"
    assert detect_format(DUBLIN) == "dublin"


def test_progsnap2_orders_by_order_and_keeps_submits_only():
    ds = load_dataset(PS2)
    s1a = _stream(ds, "S1", "pA")
    # The file lists Order 3, 1, 2: the stream must come out 1, 2, 3.
    assert [s.order for s in s1a.submissions] == [1, 2, 3]
    assert [s.event_id for s in s1a.submissions] == ["e1", "e2", "e3"]
    assert [s.recorded_correct for s in s1a.submissions] == [False, False, True]
    assert s1a.submissions[0].timestamp.isoformat() == "2016-02-01T10:01:00"
    assert _stream(ds, "S2", "pB").submissions[0].recorded_correct is None  # empty Correct
    assert [(s.student_id, s.problem_id, len(s)) for s in ds.streams] == [
        ("S1", "pA", 3),
        ("S1", "pB", 2),
        ("S2", "pA", 1),
        ("S2", "pB", 1),
    ]


def test_progsnap2_normalises_crlf():
    ds = load_dataset(PS2)
    assert b"\r\n" in (PS2 / "CodeState.csv").read_bytes()  # the fixture really has CRLF
    codes = [sub.code for s in ds.streams for sub in s.submissions]
    assert all("\r" not in c for c in codes)
    assert _stream(ds, "S1", "pA").submissions[2].code == "def pA(x):\n    return x * 2\n"


def test_progsnap2_counts_hint_events_and_hint_only_students():
    ds = load_dataset(PS2)
    prov = ds.provenance
    assert prov.format == "progsnap2"
    assert prov.event_counts == {"Submit": 7, "X-HintRequest": 2}
    assert any("X-HintRequest: 2" in n for n in prov.notes)
    assert prov.students_without_streams == ["S3"]  # S3 only asked for a hint
    assert sorted(ds.problems) == ["pA", "pB", "pC"]  # pC only appears in a hint event
    stats = compute_stats(ds)
    assert (stats.students, stats.students_with_submissions) == (3, 2)
    assert (stats.problems, stats.submissions, stats.streams) == (3, 7, 4)
    assert stats.events_by_type == {"Submit": 7, "X-HintRequest": 2}
    assert stats.stream_length.min == 1 and stats.stream_length.max == 3
    assert stats.stream_length.median == 1.5 and stats.stream_length.mean == 1.75
    assert stats.stream_length.histogram["1"] == 2 and stats.stream_length.histogram["2"] == 1
    assert stats.stream_length.histogram["3-5"] == 1
    assert stats.recorded_correct == {"true": 3, "false": 3, "unknown": 1}


def test_dublin_streams_are_unordered_and_problems_built_from_columns():
    ds = load_dataset(DUBLIN)
    assert ds.provenance.format == "dublin"
    assert all(not s.ordered for s in ds.streams)
    # sorted by submission_id (10 before 30) for determinism only
    assert [s.event_id for s in _stream(ds, "u1", "double").submissions] == ["10", "30"]
    assert [s.order for s in _stream(ds, "u1", "double").submissions] == [0, 1]
    # two assignments share func_name "fib": problems are keyed by assignment_id
    assert sorted(ds.problems) == ["double", "fib_iter", "fib_recur"]
    fib = ds.problems["fib_iter"]
    assert fib.function_name == "fib"
    assert fib.instructions == "Iterative fibonacci."
    assert [(t.kind, t.source) for t in fib.tests] == [("assert", "assert fib(1)==1 and fib(5)==5")]
    assert ds.problems["double"].reference_solution == "def double(x):\n    return 2 * x"
    stats = compute_stats(ds)
    assert (stats.students, stats.problems, stats.submissions, stats.streams) == (3, 3, 5, 4)
    assert stats.ordered_streams == 0


def test_dublin_can_leave_out_the_reference_user():
    ds = load_dataset(DUBLIN, include_reference=False)
    assert "reference" not in ds.students
    assert ds.problems["double"].reference_solution == "def double(x):\n    return 2 * x"


def test_dataset_jsonl_round_trip(tmp_path):
    for source in (PS2, DUBLIN):
        ds = load_dataset(source)
        out = write_dataset(ds, tmp_path / f"{ds.name}.jsonl")
        assert detect_format(out) == "jsonl"
        lines = out.read_text().splitlines()
        assert json.loads(lines[0])["kind"] == "dataset"
        kinds = [json.loads(x)["kind"] for x in lines[1:]]
        assert kinds == ["problem"] * len(ds.problems) + ["stream"] * len(ds.streams)
        back = load_dataset(out)
        assert back == ds
        assert read_dataset(out) == ds


def test_append_and_read_jsonl_models(tmp_path):
    path = tmp_path / "runs" / "traj.jsonl"
    trajs = [
        Trajectory(student_id="s", problem_id=f"p{i}", attempts=[Attempt(index=0, code="x = 1")],
                   stop_reason="submitted")
        for i in range(3)
    ]
    for t in trajs:
        append_jsonl(path, t)
    assert read_jsonl(path, Trajectory) == trajs
    assert path.read_text().count("\n") == 3  # one line per record
    append_jsonl(path, {"plain": "dict"})
    raw = read_jsonl(path)  # no class: plain dicts
    assert raw[:3] == [t.model_dump(mode="json") for t in trajs] and raw[3] == {"plain": "dict"}


def test_read_jsonl_drops_a_truncated_last_line_and_append_repairs_it(tmp_path):
    path = tmp_path / "traj.jsonl"
    good = Trajectory(student_id="s", problem_id="p", stop_reason="submitted")
    append_jsonl(path, good)
    with open(path, "a") as handle:  # a crash in the middle of the second write
        handle.write(good.model_dump_json()[:20])
    report = JsonlReport()
    with pytest.warns(JsonlRecoveryWarning, match="partial last line 2"):
        items = read_jsonl(path, Trajectory, report=report)
    assert items == [good] and report.truncated_line == 2
    with pytest.warns(JsonlRecoveryWarning, match="dropped a partial last line"):
        append_jsonl(path, good)  # resume: the fragment is cut, the new line is clean
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_jsonl(path, Trajectory) == [good, good]


def test_append_jsonl_completes_a_record_missing_only_its_newline(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}')
    append_jsonl(path, {"a": 2})
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]


def test_read_jsonl_bad_middle_line_names_file_line_and_field(tmp_path):
    path = tmp_path / "t.jsonl"
    ok = Trajectory(student_id="s", problem_id="p").model_dump_json()
    path.write_text(ok + "\n" + '{"student_id": "s"}\n' + ok + "\n")
    with pytest.raises(DataError) as info:
        read_jsonl(path, Trajectory)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), 2, "problem_id")
    assert "t.jsonl, line 2, field 'problem_id'" in str(err)
    report = JsonlReport()
    with pytest.warns(UserWarning, match="skipped 1 bad line"):
        assert len(read_jsonl(path, Trajectory, skip_bad_rows=True, report=report)) == 2
    assert report.skipped[0].startswith("line 2:")


def test_truncated_multibyte_character_counts_as_truncation(tmp_path):
    path = tmp_path / "u.jsonl"
    append_jsonl(path, {"code": "print('é')"})
    with open(path, "ab") as handle:
        handle.write('{"code": "é'.encode()[:-1])  # cut inside the two-byte é
    with pytest.warns(JsonlRecoveryWarning):
        assert read_jsonl(path) == [{"code": "print('é')"}]


def test_progsnap2_export_backslash_is_removed_and_counted():
    from simstudent.data.progsnap2 import strip_export_backslash

    assert strip_export_backslash("def f():\n    return 1\\") == ("def f():\n    return 1", True)
    # an escaped backslash inside a string literal at the end is left alone
    assert strip_export_backslash("x = '\\\\") == ("x = '\\\\", False)
    assert strip_export_backslash("x = 1\n") == ("x = 1\n", False)
    assert strip_export_backslash("x = 1\\\n  ") == ("x = 1", True)


def test_itap_backslash_repair_is_reported(itap_dir):
    from simstudent.data import load_dataset

    ds = load_dataset(itap_dir)
    assert any("stray export backslash" in n for n in ds.provenance.notes)
    assert not any(s.code.endswith("\\") for st in ds.streams for s in st.submissions)
    raw = load_dataset(itap_dir, repair_trailing_backslash=False)
    assert sum(s.code.endswith("\\") for st in raw.streams for s in st.submissions) > 300
