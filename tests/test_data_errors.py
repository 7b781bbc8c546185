"""Bad input: one clear DataError naming file, line/row and field; or skipped and counted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simstudent.data import DataError, load_dataset

FIXTURES = Path(__file__).parent / "fixtures" / "data"
PS2 = FIXTURES / "progsnap2_tiny"
DUBLIN = FIXTURES / "dublin_tiny.csv"


@pytest.fixture
def ps2(tmp_path) -> Path:
    """A writable copy of the tiny ProgSnap2 folder."""
    dest = tmp_path / "ps2"
    shutil.copytree(PS2, dest)
    return dest


def _edit_line(path: Path, lineno: int, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` on physical line ``lineno`` (1-based)."""
    lines = path.read_bytes().decode().split("\r\n")
    assert old in lines[lineno - 1], lines[lineno - 1]
    lines[lineno - 1] = lines[lineno - 1].replace(old, new)
    path.write_bytes("\r\n".join(lines).encode())


def test_malformed_row_names_file_line_row_and_field(ps2):
    # line 3 = the e1 Submit: cut its last three fields off
    _edit_line(ps2 / "MainTable.csv", 3, ',"2016-02-01T10:01:00","pA",FALSE', "")
    with pytest.raises(DataError) as info:
        load_dataset(ps2)
    err = info.value
    assert err.file.endswith("MainTable.csv") and (err.line, err.row, err.field) == (3, 2, "ServerTimestamp")
    assert "MainTable.csv, line 3 (row 2), field 'ServerTimestamp': row has 6 fields, header has 9" in str(err)


def test_skip_bad_rows_counts_and_explains(ps2):
    _edit_line(ps2 / "MainTable.csv", 3, ',"2016-02-01T10:01:00","pA",FALSE', "")
    _edit_line(ps2 / "MainTable.csv", 6, ",5,", ",five,")
    ds = load_dataset(ps2, skip_bad_rows=True)
    prov = ds.provenance
    assert prov.skipped_rows == 2
    assert prov.skip_reasons == {
        "MainTable.csv: wrong number of fields": 1,
        "MainTable.csv: Order not an integer": 1,
    }
    assert any("line 6 (row 5), field 'Order'" in n for n in prov.notes)
    assert ds.n_submissions == 5  # 7 minus the two bad rows


def test_missing_code_state_id(ps2):
    _edit_line(ps2 / "MainTable.csv", 2, ",12,", ",,")
    with pytest.raises(DataError, match=r"MainTable.csv, line 2 \(row 1\), field 'CodeStateID': missing CodeStateID"):
        load_dataset(ps2)


def test_dangling_code_state_id(ps2):
    _edit_line(ps2 / "MainTable.csv", 2, ",12,", ",999,")
    expected = r"line 2 \(row 1\), field 'CodeStateID': CodeStateID 999 not found in CodeState.csv"
    with pytest.raises(DataError, match=expected):
        load_dataset(ps2)
    ds = load_dataset(ps2, skip_bad_rows=True)
    assert ds.provenance.skip_reasons == {"MainTable.csv: CodeStateID not in code-state table": 1}


def test_missing_column(ps2):
    main = ps2 / "MainTable.csv"
    main.write_bytes(main.read_bytes().replace(b'"ProblemID"', b'"Problem"', 1))
    with pytest.raises(DataError) as info:
        load_dataset(ps2, skip_bad_rows=True)  # a missing column is never skippable
    assert (info.value.line, info.value.field) == (1, "ProblemID")
    assert "missing column 'ProblemID'" in str(info.value)


def test_bad_timestamp_and_correct(ps2):
    _edit_line(ps2 / "MainTable.csv", 2, "2016-02-01T10:03:00", "yesterday")
    with pytest.raises(DataError, match=r"field 'ServerTimestamp': not an ISO timestamp: 'yesterday'"):
        load_dataset(ps2)
    shutil.copy(PS2 / "MainTable.csv", ps2 / "MainTable.csv")
    _edit_line(ps2 / "MainTable.csv", 2, ",TRUE", ",maybe")
    with pytest.raises(DataError, match=r"line 2 \(row 1\), field 'Correct': not a boolean: 'maybe'"):
        load_dataset(ps2)


def test_unterminated_quote_is_an_error_not_swallowed(ps2):
    _edit_line(ps2 / "MainTable.csv", 5, '"e4"', '"e4')
    with pytest.raises(DataError, match=r"MainTable.csv, line 5 \(row 4\): malformed CSV"):
        load_dataset(ps2, skip_bad_rows=True)


def test_unreadable_files(ps2, tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_dataset(tmp_path / "nowhere")
    (ps2 / "CodeState.csv").unlink()
    (ps2 / "CodeState.csv").mkdir()  # exists but cannot be read as a file (works as root too)
    with pytest.raises(DataError, match="no code-state table"):
        load_dataset(ps2)
    (ps2 / "CodeState.csv").rmdir()
    shutil.copy(PS2 / "CodeState.csv", ps2 / "CodeStates.csv")
    (ps2 / "MainTable.csv").unlink()
    (ps2 / "MainTable.csv").mkdir()
    with pytest.raises(DataError, match=r"MainTable.csv: cannot read file"):
        load_dataset(ps2, format="progsnap2")


def test_invalid_utf8(ps2):
    main = ps2 / "MainTable.csv"
    main.write_bytes(main.read_bytes().replace(b'"S2"', b'"S\xff"', 1))
    with pytest.raises(DataError, match=r"MainTable.csv, line 8: not valid UTF-8 \(byte 0xff"):
        load_dataset(ps2)


def test_unknown_format(tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="cannot tell the data format"):
        load_dataset(odd)
    with pytest.raises(DataError, match="unknown format 'xml'"):
        load_dataset(odd, format="xml")


def test_dublin_bad_rows(tmp_path):
    text = DUBLIN.read_text()
    bad = tmp_path / "d.csv"
    bad.write_text(text.replace(",False,u1,2015.0,,\n20,", ",nope,u1,2015.0,,\n20,", 1))
    with pytest.raises(DataError) as info:
        load_dataset(bad)
    # the row starting on line 4 (records span lines: the code is multi-line)
    assert (info.value.line, info.value.row, info.value.field) == (4, 2, "correct")
    ds = load_dataset(bad, skip_bad_rows=True)
    assert ds.provenance.skipped_rows == 1 and ds.provenance.skip_reasons == {"d.csv: bad correct": 1}
    assert ds.n_submissions == 4
    missing = tmp_path / "m.csv"
    missing.write_text(text.replace(",test,", ",tests,", 1))
    with pytest.raises(DataError, match="field 'test': missing column 'test'"):
        load_dataset(missing, format="dublin")


def test_jsonl_dataset_bad_line(tmp_path):
    from simstudent.data.jsonl import write_dataset

    path = write_dataset(load_dataset(PS2), tmp_path / "ds.jsonl")
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace('"student_id"', '"studentid"')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"ds.jsonl, line 6, field 'stream.student_id': Field required"):
        load_dataset(path)
    ds = load_dataset(path, skip_bad_rows=True)
    assert ds.provenance.skipped_rows == 1 and len(ds.streams) == 3
