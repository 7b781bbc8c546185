"""Read whatever ``simstudent view`` is given into :class:`ViewStream` objects.

Recognised, in this order:

- a cohort folder (``cohort.json`` / ``attempts.jsonl`` / ``trajectories.jsonl``);
- one ``run`` output (a Trajectory JSON file);
- an eval run folder (``config.json``): closed-loop rollouts from ``trajectories.jsonl``
  (the real prefix marked as given), or exp1/exp2 generations from ``generations.jsonl``
  joined with their grades from ``grades.jsonl``;
- any dataset ``simstudent.data.load_dataset`` reads (ProgSnap2 folder, Dublin CSV,
  native JSONL): real students, unless it is simstudent's own export of a simulation.

Nothing is written into the folders read: a torn last JSONL line (a run killed
mid-write) is skipped, a bad line elsewhere is an error naming file and line.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Optional

from simstudent.view.model import ViewAttempt, ViewError, ViewStream

COHORT_MANIFEST, ATTEMPTS, TRAJECTORIES = "cohort.json", "attempts.jsonl", "trajectories.jsonl"
RUN_CONFIG, GENERATIONS, GRADES = "config.json", "generations.jsonl", "grades.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON object line of ``path``; a torn last line is skipped (read-only)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    out: list[dict[str, Any]] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            if lineno == len(lines):  # no newline after it: an interrupted write
                break
            raise ViewError(f"{path}: line {lineno}: not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise ViewError(f"{path}: line {lineno}: expected a JSON object")
        out.append(obj)
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ViewError(f"{path}: not valid JSON ({exc})") from None


def _truncated(att: dict[str, Any]) -> Optional[bool]:
    reason = att.get("finish_reason", (att.get("meta") or {}).get("finish_reason"))
    return None if reason is None else reason == "length"


def attempt_from_dict(att: dict[str, Any], *, given: bool = False) -> ViewAttempt:
    """An Attempt (as JSON) -> ViewAttempt. Unknown extra fields are ignored, so the
    viewer reads records written by newer versions too."""
    grade = att.get("grade") or None
    return ViewAttempt(
        index=int(att.get("index", 0)), code=str(att.get("code", "")), timestamp=att.get("timestamp"),
        error_type=grade.get("error_type") if grade else None,
        passed=grade.get("passed") if grade else None, total=grade.get("total") if grade else None,
        correct=(grade.get("error_type") == "no_error") if grade else None,
        feedback=(grade.get("feedback") or "") if grade else "",
        hint=att.get("hint"), truncated=_truncated(att), submitted=bool(att.get("submitted")), given=given,
    )


def _where(path: Path, what: str, fn):
    try:
        return fn()
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ViewError):
            raise
        raise ViewError(f"{path}: {what}: {exc}") from None


# ---------------------------------------------------------------- the kinds


def load_cohort(folder: Path) -> list[ViewStream]:
    """Every (student, problem) of a cohort folder, finished or still running."""
    apath = folder / ATTEMPTS
    finished = {(t.get("student_id"), t.get("problem_id")): t for t in read_jsonl(folder / TRAJECTORIES)}
    stops = {k: t.get("stop_reason") for k, t in finished.items()}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    personas: dict[tuple[str, str], str] = {}
    for lineno, rec in enumerate(read_jsonl(apath), 1):
        try:
            key = (str(rec["student_id"]), str(rec["problem_id"]))
        except KeyError as exc:
            raise ViewError(f"{apath}: record {lineno}: missing field {exc.args[0]}") from None
        grouped[key].append(rec)
        personas[key] = str(rec.get("persona_id", key[0]))
    streams = []
    for key, recs in grouped.items():
        recs.sort(key=lambda r: r.get("index", 0))
        attempts = _where(apath, f"attempt of {key[0]} on {key[1]}", lambda: [attempt_from_dict(r) for r in recs])
        streams.append(ViewStream(student_id=key[0], problem_id=key[1], persona=personas[key], origin="simulated",
                                  source=str(folder), attempts=attempts, stop_reason=stops.get(key),
                                  graded=all(a.error_type for a in attempts)))
    # A student stopped before any attempt was recorded (e.g. the backend failed on it).
    for key, traj in finished.items():
        if key not in grouped:
            streams.append(_where(folder / TRAJECTORIES, f"trajectory of {key[0]} on {key[1]}",
                                  lambda traj=traj: stream_from_trajectory(traj, str(folder))))
    return streams


def stream_from_trajectory(traj: dict[str, Any], source: str, persona: Optional[str] = None) -> ViewStream:
    """A Trajectory (as JSON) -> ViewStream; a rollout's real prefix is marked as given."""
    prefix = int((traj.get("meta") or {}).get("prefix_len") or 0)
    attempts = [attempt_from_dict(a, given=i < prefix) for i, a in enumerate(traj.get("attempts") or [])]
    sid = str(traj["student_id"])
    return ViewStream(student_id=sid, problem_id=str(traj["problem_id"]), persona=persona or sid.split("#")[0],
                      origin="simulated", source=source, attempts=attempts, stop_reason=traj.get("stop_reason"),
                      graded=all(a.error_type for a in attempts))


def load_run_output(path: Path) -> list[ViewStream]:
    """The trajectory file ``simstudent run --out`` writes."""
    data = _read_json(path)
    if not isinstance(data, dict) or "attempts" not in data or "problem_id" not in data:
        raise ViewError(f"{path}: not a trajectory (expected the JSON `simstudent run --out` writes)")
    return [_where(path, "trajectory", lambda: stream_from_trajectory(data, str(path)))]


def _parse_key(key: str) -> tuple[str, str, int]:
    """``exp2:STUDENT:PROBLEM:INDEX:TAIL:CTX`` -> (student, problem, index)."""
    head, index, _, _ = key.rsplit(":", 3)
    _, middle = head.split(":", 1)
    student, problem = middle.rsplit(":", 1)
    return student, problem, int(index)


def load_eval_run(folder: Path) -> list[ViewStream]:
    """An eval run folder: rollouts as trajectories, exp1/exp2 generations as one stream
    per (student, problem, sample) with the generated snapshots in target order."""
    config = _read_json(folder / RUN_CONFIG)
    label = str(config.get("label") or config.get("kind") or folder.name) if isinstance(config, dict) else folder.name
    rollouts = read_jsonl(folder / TRAJECTORIES)
    if rollouts:
        return [_where(folder / TRAJECTORIES, f"record {r.get('id')}",
                       lambda r=r: stream_from_trajectory(r["trajectory"], str(folder), persona=label))
                for r in rollouts]
    grades = {r["id"]: r["grade"] for r in read_jsonl(folder / GRADES) if r.get("role") == "gen" and "grade" in r}
    grouped: dict[tuple[str, str, int], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    gpath = folder / GENERATIONS
    for lineno, rec in enumerate(read_jsonl(gpath), 1):
        try:
            student, problem, index = _parse_key(str(rec["key"]))
        except (KeyError, ValueError):
            raise ViewError(f"{gpath}: record {lineno}: no example key of the form exp:student:problem:index:…") from None
        att = {"index": index, "code": rec.get("code", ""), "submitted": rec.get("submitted", False),
               "finish_reason": rec.get("finish_reason"), "grade": grades.get(rec.get("id"))}
        grouped[(student, problem, int(rec.get("sample", 0)))].append((index, att))
    if not grouped:
        raise ViewError(f"{folder}: an eval run folder without {TRAJECTORIES} or {GENERATIONS} (nothing generated yet?)")
    streams = []
    for (student, problem, sample), items in grouped.items():
        items.sort(key=lambda t: t[0])
        attempts = [attempt_from_dict(a) for _, a in items]
        sid = student if sample == 0 else f"{student}#s{sample}"
        streams.append(ViewStream(student_id=sid, problem_id=problem, persona=label, origin="simulated",
                                  source=str(folder), attempts=attempts, graded=all(a.error_type for a in attempts)))
    return streams


def _is_simstudent_export(path: Path) -> bool:
    """A ProgSnap2 folder written by simstudent's own exporter (ToolInstances 'simstudent')."""
    main = (path if path.is_dir() else path.parent) / "MainTable.csv"
    if not main.is_file():
        return False
    with open(main, newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle), None)
    return bool(row) and row.get("ToolInstances") == "simstudent"


def load_dataset_streams(path: Path, *, grader: Any = None,
                         grade_problems: Optional[set[str]] = None) -> list[ViewStream]:
    """A dataset of real students (or simstudent's own export of a simulation).

    With a ``grader``, real submissions are graded in the sandbox against the bundled
    problem specs (only those of ``grade_problems``, ids without course prefix, when
    given), so they carry the same verdicts, test counts and feedback as simulated ones."""
    from simstudent.data import DataError, load_dataset

    try:
        dataset = load_dataset(path)
    except DataError as exc:
        raise ViewError(str(exc)) from None
    simulated = dataset.provenance.format == "simulated" or _is_simstudent_export(path)
    if grader is not None and not simulated:
        _grade_real(dataset, grade_problems, grader)
    streams = []
    for s in dataset.streams:
        attempts = []
        for i, sub in enumerate(s.submissions):
            g = sub.grade
            attempts.append(ViewAttempt(
                index=i, code=sub.code, timestamp=sub.timestamp,
                error_type=g.error_type if g else None, passed=g.passed if g else None,
                total=g.total if g else None,
                correct=(g.error_type == "no_error") if g else sub.recorded_correct,
                feedback=g.feedback if g else ""))
        streams.append(ViewStream(
            student_id=s.student_id, problem_id=s.problem_id,
            persona=s.student_id.split("#")[0] if simulated else "real", origin="simulated" if simulated else "real",
            source=str(path), attempts=attempts, graded=bool(attempts) and all(a.error_type for a in attempts)))
    return streams


def _grade_real(dataset: Any, problems: Optional[set[str]], grader: Any) -> None:
    """Grade, in place, the submissions (of ``problems``, or all) that have a bundled spec."""
    from simstudent.grader.dataset import grade_dataset
    from simstudent.problems.attach import attach_problems
    from simstudent.schema import Dataset

    def wanted(pid: str) -> bool:
        return problems is None or pid.rsplit("/", 1)[-1] in problems

    part = Dataset(name=dataset.name, streams=[s for s in dataset.streams if wanted(s.problem_id)],
                   problems={p: v for p, v in dataset.problems.items() if wanted(p)})
    attach_problems(part)
    grade_dataset(part, grader)


def detect_kind(path: Path) -> str:
    """cohort | run | eval | dataset, or ViewError naming the path."""
    if not path.exists():
        raise ViewError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / COHORT_MANIFEST).is_file() or (path / ATTEMPTS).is_file():
            return "cohort"
        if (path / RUN_CONFIG).is_file():
            return "eval"
    elif path.suffix == ".json":
        return "run"
    from simstudent.data import DataError, detect_format

    try:
        detect_format(path)
    except DataError:
        raise ViewError(f"{path}: not a cohort folder, `run` output, eval run folder or dataset "
                        "(ProgSnap2 folder, CSV, JSONL)") from None
    return "dataset"


LOADERS = {"cohort": load_cohort, "run": load_run_output, "eval": load_eval_run, "dataset": load_dataset_streams}


def load_sources(paths: Iterable[Path], *, grade_real: bool = False, grader: Any = None) -> list[ViewStream]:
    """Every stream of every path, in the order given.

    ``grade_real`` grades real students' submissions in the sandbox (with ``grader``, or
    a default one), for the problems the simulated streams worked on (all problems when
    there are none), so both sides show the same kind of verdicts."""
    paths = [Path(p) for p in paths]
    kinds = [detect_kind(p) for p in paths]
    loaded: dict[int, list[ViewStream]] = {}
    for i, (path, kind) in enumerate(zip(paths, kinds)):
        if kind != "dataset":
            loaded[i] = LOADERS[kind](path)
    simulated = {s.problem_key for got in loaded.values() for s in got}
    datasets = [i for i, k in enumerate(kinds) if k == "dataset"]
    own = None
    if grade_real and datasets and grader is None:
        from simstudent.grader import Grader

        grader = own = Grader()
    try:
        for i in datasets:
            loaded[i] = load_dataset_streams(paths[i], grader=grader if grade_real else None,
                                             grade_problems=simulated or None)
    finally:
        if own is not None:
            own.close()
    streams: list[ViewStream] = []
    for i, path in enumerate(paths):
        if not loaded[i]:
            raise ViewError(f"{path}: holds no attempts yet")
        streams.extend(loaded[i])
    return streams

