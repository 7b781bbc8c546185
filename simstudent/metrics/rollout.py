"""Rollout metrics: closed-loop runs started from a real prefix, compared with what
the real student did next (after Koutcheme et al., EDM 2026).

A rollout is a ``Trajectory`` whose ``meta["prefix_len"] = p`` says the simulated
student started from the first p real submissions of the real stream with the same
(student, problem) - or ``meta["real_student_id"]`` when the trajectory's own
student id differs. Its ``attempts`` are either the generated continuation only, or
the p injected real attempts followed by it (as ``simstudent.experiments.rollout``
records them); the latter is recognised by its first p codes equalling the real
prefix, and the prefix is dropped. The real continuation is the real stream's
submissions p, p+1, ...

Scores per rollout (real continuation r_1..r_n, generated g_1..g_m):

- coverage of real steps = |{j : max_i sim(r_j, g_i) >= tau}| / n, with
  sim = ``Levenshtein.ratio`` (1 - indel distance / total length) of the
  comment/whitespace-normalised codes and tau = 0.8 by default;
- grade proximity = mean over aligned steps j <= min(n, m) of
  1 - |pass_rate(r_j) - pass_rate(g_j)| (errors-as-zero pass rates; steps where
  either side is ungraded are skipped), and the same for the final attempts;
- code similarity over aligned steps: share of names-normalised AST matches, and
  mean ``codebleu_like(reference=r_j, candidate=g_j)``.

Across rollouts every score is averaged with each rollout weighted equally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import Levenshtein
from pydantic import BaseModel, Field

from simstudent.metrics._stats import mean, summary
from simstudent.metrics.normalise import normalise_code, normalise_newlines
from simstudent.metrics.similarity import ast_match, codebleu_like
from simstudent.schema import Dataset, GradeResult, Stream, Trajectory


class RolloutMatchConfig(BaseModel):
    """Settings of the rollout metrics."""

    match_threshold: float = Field(0.8, ge=0.0, le=1.0, description="Similarity (Levenshtein ratio of normalised "
                                   "code) at which a generated attempt matches a real later step.")


def step_similarity(a: str, b: str) -> float:
    """Levenshtein ratio of the normalised codes, in [0, 1]."""
    return Levenshtein.ratio(normalise_code(a), normalise_code(b))


def _pr(grade: Optional[GradeResult]) -> Optional[float]:
    return grade.pass_rate_under("errors_as_zero") if grade is not None else None


def rollout_scores(
    real: Sequence[tuple[str, Optional[GradeResult]]],
    generated: Sequence[tuple[str, Optional[GradeResult]]],
    config: Optional[RolloutMatchConfig] = None,
) -> dict[str, Any]:
    """Scores of one rollout: ``real`` is the real continuation, ``generated`` the
    generated one, each as (code, grade or None) in order."""
    cfg = config or RolloutMatchConfig()
    n, m = len(real), len(generated)
    out: dict[str, Any] = {"n_real": n, "n_generated": m}
    if n == 0 or m == 0:
        out.update(coverage=float("nan"), grade_proximity=float("nan"), final_grade_proximity=float("nan"),
                   ast_match=float("nan"), codebleu=float("nan"), n_aligned=0)
        return out
    gen_norm = [normalise_code(c) for c, _ in generated]
    covered = 0
    for code, _ in real:
        rn = normalise_code(code)
        if any(Levenshtein.ratio(rn, g, score_cutoff=cfg.match_threshold) >= cfg.match_threshold for g in gen_norm):
            covered += 1
    aligned = list(zip(real, generated))
    prox = []
    for (_, rg), (_, gg) in aligned:
        a, b = _pr(rg), _pr(gg)
        if a is not None and b is not None:
            prox.append(1 - abs(a - b))
    fa, fb = _pr(real[-1][1]), _pr(generated[-1][1])
    out.update(
        coverage=covered / n,
        grade_proximity=mean(prox),
        n_grade_pairs=len(prox),
        final_grade_proximity=(1 - abs(fa - fb)) if fa is not None and fb is not None else float("nan"),
        ast_match=sum(ast_match(r, g) for (r, _), (g, _) in aligned) / len(aligned),
        codebleu=sum(codebleu_like(r, g) for (r, _), (g, _) in aligned) / len(aligned),
        n_aligned=len(aligned),
    )
    return out


def is_rollout(trajectory: Trajectory) -> bool:
    """Whether a trajectory records the real prefix it started from."""
    return isinstance(trajectory.meta.get("prefix_len"), int)


def includes_prefix(trajectory: Trajectory, stream: Stream, p: int) -> bool:
    """Whether the trajectory's first p attempts are the real stream's first p codes."""
    return 0 < p <= len(trajectory.attempts) and p <= len(stream.submissions) and all(
        normalise_newlines(a.code) == normalise_newlines(s.code)
        for a, s in zip(trajectory.attempts[:p], stream.submissions[:p]))


@dataclass
class MatchedRollout:
    """A rollout with its real stream: ``generated`` holds the continuation only."""

    stream: Stream
    prefix_len: int
    generated: Trajectory

    @property
    def real_continuation(self) -> Stream:
        return self.stream.model_copy(update={"submissions": self.stream.submissions[self.prefix_len:]})


def match_rollouts(real: Dataset, trajectories: Sequence[Trajectory]) -> tuple[list[MatchedRollout], dict[str, int]]:
    """Each rollout with its real stream, the injected prefix dropped; and the counts
    of trajectories skipped, by reason."""
    streams = {(s.student_id, s.problem_id): s for s in real.streams}
    out: list[MatchedRollout] = []
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    for t in trajectories:
        if not is_rollout(t):
            skip("no prefix_len in meta")
            continue
        sid = str(t.meta.get("real_student_id", t.student_id))
        stream = streams.get((sid, t.problem_id))
        if stream is None:
            skip("no real stream")
            continue
        p = int(t.meta["prefix_len"])
        if not stream.submissions[p:]:
            skip("prefix covers the whole real stream")
            continue
        if includes_prefix(t, stream, p):
            t = t.model_copy(update={"attempts": t.attempts[p:]})
        out.append(MatchedRollout(stream, p, t))
    return out, skipped


def continuation_datasets(real: Dataset, trajectories: Sequence[Trajectory]) -> tuple[Dataset, Dataset]:
    """(real continuations, generated continuations) of the matched rollouts, with
    the generated streams under the real student's id so they pair by stream."""
    matched, _ = match_rollouts(real, trajectories)
    gen = []
    real_cont: dict[tuple[str, str], Stream] = {}  # several rollouts may continue one stream
    for m in matched:
        s = m.generated.to_stream()
        gen.append(s.model_copy(update={"student_id": m.stream.student_id}))
        real_cont.setdefault((m.stream.student_id, m.stream.problem_id), m.real_continuation)
    return (Dataset(name=f"{real.name}:continuations", problems=real.problems, streams=list(real_cont.values())),
            Dataset(name="generated continuations", streams=gen))


def rollout_metrics(real: Dataset, trajectories: Sequence[Trajectory],
                    config: Optional[RolloutMatchConfig] = None) -> dict[str, Any]:
    """Scores of every rollout against its real stream, and their means."""
    matched, skipped = match_rollouts(real, trajectories)
    per: list[dict[str, Any]] = []
    for m in matched:
        cont = m.real_continuation.submissions
        scores = rollout_scores([(s.code, s.grade) for s in cont],
                                [(a.code, a.grade) for a in m.generated.attempts], config)
        scores.update(student_id=m.stream.student_id, problem_id=m.stream.problem_id, prefix_len=m.prefix_len)
        per.append(scores)
    keys = ("coverage", "grade_proximity", "final_grade_proximity", "ast_match", "codebleu")
    return {
        "n_rollouts": len(per),
        "skipped": skipped,
        "match_threshold": (config or RolloutMatchConfig()).match_threshold,
        "means": {k: summary([r[k] for r in per]) for k in keys},
        "mean_lengths": {"real": mean(r["n_real"] for r in per), "generated": mean(r["n_generated"] for r in per)},
        "per_rollout": per,
    }
