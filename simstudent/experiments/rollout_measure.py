"""Scores of a rollout run folder: rollout metrics + distribution metrics."""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from simstudent.experiments.measure import finish_metrics
from simstudent.metrics import engine as E
from simstudent.metrics.conventions import Conventions
from simstudent.metrics.records import Item, RolloutSummary, Stat
from simstudent.experiments.rollout import read_trajectories
from simstudent.experiments.runfolder import GRADES, GradeRecord, RunFolder
from simstudent.schema import Dataset, GradeResult, Stream
from simstudent.errors import InputError

_CONVENTIONS = Conventions()  # rollout configs carry no conventions: the authors' defaults


def _grade_real(folder: RunFolder, streams: Sequence[Stream], prefix: int, inputs: Any) -> dict[str, GradeResult]:
    """Grades of the real continuations (graded once, kept in grades.jsonl)."""
    have = {r.id: r.grade for r in folder.records(GRADES, GradeRecord)}
    jobs = [(f"{s.student_id}:{s.problem_id}:{i}:real", s, sub.code)
            for s in streams for i, sub in enumerate(s.submissions) if i >= prefix]
    todo = [j for j in jobs if j[0] not in have]
    if todo:
        from simstudent.grader import Grader

        with Grader() as grader:
            results = grader.grade_many([(inputs.problems[s.problem_id], code) for _, s, code in todo])
        with folder.appender(GRADES, GradeRecord) as out:
            for (rid, s, _), g in zip(todo, results):
                out.write(GradeRecord(id=rid, role="real", key=rid, grade=g))
                have[rid] = g
    return have


def _item(iid: str, key: str, role: str, student: str, problem: str, index: int, length: int,
          code: str, prev: Any, grade: Any, submitted: Any) -> tuple[Item, str]:
    """One item; ``prev`` is the attempt before it in its own stream (a rollout's
    attempt p follows the injected real attempt p-1, as the student saw it)."""
    from simstudent.metrics.progress import edit_distance

    it = Item(
        id=iid, key=key, role=role, group="all", student_id=student, problem_id=problem, index=index,  # type: ignore[arg-type]
        length=length, position=index / (length - 1) if length > 1 else None,
        edit_distance=float(edit_distance(code, prev)) if prev is not None else 0.0,
        submitted=submitted,
    )
    E.set_grade(it, grade, _CONVENTIONS)
    return it, code


def copy_shares(inputs: Any, generated: Sequence[str], real: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copying of the generated and of the real attempts: equal or nearly equal
    (normalised edit similarity >= 0.95) to a reference solution or a training code."""
    from simstudent.metrics.memorisation import TrainingIndex, memorisation

    known = [sub.code for st in inputs.split.train.streams for sub in st.submissions]
    known += [p.reference_solution for p in inputs.problems.values() if p.reference_solution]
    index = TrainingIndex(known, threshold=0.05)
    return memorisation(generated, index), memorisation(real, index)


def measure_rollouts(cfg: Any, folder: RunFolder, streams: Sequence[Stream], inputs: Any,
                     progress: Any = None) -> dict[str, Any]:
    from simstudent.metrics.rollout import rollout_metrics

    p = cfg.prefix
    # The floor: the real continuations of every eligible stream of the whole test split.
    floor_streams = [s for s in inputs.test_full.streams if len(s.submissions) > p]
    real_grades = _grade_real(folder, list(streams) + [s for s in floor_streams if s not in streams], p, inputs)
    by_id = {f"{s.student_id}:{s.problem_id}": s for s in streams}
    recs = [(r, t) for r, t in read_trajectories(folder) if r["id"] in by_id]
    scored = [(r, t) for r, t in recs if not r.get("skipped")]
    items: list[Item] = []
    codes: dict[str, str] = {}
    real_streams: list[Stream] = []
    for r, traj in scored:
        s = by_id[r["id"]]
        n = len(s.submissions)
        subs = []
        for i, sub in enumerate(s.submissions):
            g = real_grades.get(f"{r['id']}:{i}:real")
            subs.append(sub.model_copy(update={"grade": g}) if g else sub)
            if i >= p:
                it, code = _item(f"{r['id']}:{i}:real", f"{r['id']}:{i}", "real", s.student_id, s.problem_id,
                                 i, n, sub.code, s.submissions[i - 1].code, g, i == n - 1)
                items.append(it)
                codes[it.id] = code
        real_streams.append(s.model_copy(update={"submissions": subs}))
        m = len(traj.attempts)
        for a in traj.attempts[p:]:
            prev = traj.attempts[a.index - 1].code if a.index > 0 else None
            it, code = _item(f"{r['id']}:{a.index}:gen", f"{r['id']}:{a.index}", "gen", s.student_id,
                             s.problem_id, a.index, m, a.code, prev, a.grade, a.submitted)
            items.append(it)
            codes[it.id] = code
    if not items:
        raise InputError(f"{folder.path}: no rollout with generated attempts to score")
    for s in floor_streams:
        sid, n = f"{s.student_id}:{s.problem_id}", len(s.submissions)
        for i in range(p, n):
            it, code = _item(f"{sid}:{i}:floor", f"{sid}:{i}", "floor", s.student_id, s.problem_id, i, n,
                             s.submissions[i].code, s.submissions[i - 1].code, real_grades.get(f"{sid}:{i}:real"),
                             i == n - 1)
            items.append(it)
            codes[it.id] = code
    # Full trajectories (prefix included): the rollout metrics recognise the injected
    # real prefix and drop it themselves.
    ro = rollout_metrics(Dataset(streams=real_streams, problems=inputs.test.problems), [t for _, t in scored])
    means = ro["means"]
    stops = Counter(t.stop_reason or "unfinished" for _, t in scored)

    def st(name: str) -> Stat:
        return E.stat([x[name] for x in ro["per_rollout"]])

    copies = copy_shares(inputs, [codes[it.id] for it in items if it.role == "gen"],
                         [codes[it.id] for it in items if it.role == "real"])
    final_gen = [t.attempts[-1].grade.pass_rate for _, t in scored if len(t.attempts) > p and t.attempts[-1].grade]
    final_real = [real_grades[f"{r['id']}:{len(by_id[r['id']].submissions) - 1}:real"].pass_rate for r, _ in scored]
    summary = RolloutSummary(
        n_streams=ro["n_rollouts"], prefix=p, match_threshold=ro["match_threshold"],
        coverage=st("coverage"), grade_proximity=st("grade_proximity"),
        final_grade_proximity=st("final_grade_proximity"), ast_match=st("ast_match"), codebleu=st("codebleu"),
        attempts_gen=E.stat([len(t.attempts) - p for _, t in scored]),
        attempts_real=E.stat([len(by_id[r["id"]].submissions) - p for r, _ in scored]),
        stop_reasons=dict(stops), final_pass_gen=E.stat(final_gen), final_pass_real=E.stat(final_real),
        copies_gen=copies[0], copies_real=copies[1],
    )
    assert means is not None  # rollout_metrics always returns means
    counts = {
        "streams": len(streams), "scored": len(scored), "skipped_prefix_passes": sum(1 for r, _ in recs if r.get("skipped")),
        "students": len({s.student_id for s in streams}), "problems": len({s.problem_id for s in streams}),
        "generated_attempts": sum(1 for it in items if it.role == "gen"),
        "real_attempts": sum(1 for it in items if it.role == "real"),
        "floor_codes": sum(1 for it in items if it.role == "floor"),
        "examples": len(streams),
    }
    template = scored[0][1].template if scored else ""
    return finish_metrics(cfg, folder, items, codes, ["all"], kind="rollout", counts=counts, template=template,
                          bins=cfg.bins, progress=progress, extra={"rollout": summary})
