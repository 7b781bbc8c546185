"""Rollout metrics: closed-loop runs started from a real prefix, compared with what
the real student did next (after Koutcheme et al., EDM 2026).

A rollout is a ``Trajectory`` whose ``meta["prefix_len"] = p`` says the simulated
student started from the first p real submissions of the real stream with the same
(student, problem) - or ``meta["real_student_id"]`` when the trajectory's own
student id differs. Its ``attempts`` are the generated continuation only. The real
continuation is the real stream's submissions p, p+1, ...

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

from simstudent.metrics._stats import mean, summary
from simstudent.metrics.normalise import normalise_code
from simstudent.metrics.similarity import ast_match, codebleu_like
from simstudent.schema import Dataset, GradeResult, Trajectory


@dataclass
class RolloutConfig:
    """Settings of the rollout metrics."""

    match_threshold: float = 0.8  # tau for coverage of real steps


def step_similarity(a: str, b: str) -> float:
    """Levenshtein ratio of the normalised codes, in [0, 1]."""
    return Levenshtein.ratio(normalise_code(a), normalise_code(b))


def _pr(grade: Optional[GradeResult]) -> Optional[float]:
    return grade.pass_rate_under("errors_as_zero") if grade is not None else None


def rollout_scores(
    real: Sequence[tuple[str, Optional[GradeResult]]],
    generated: Sequence[tuple[str, Optional[GradeResult]]],
    config: Optional[RolloutConfig] = None,
) -> dict[str, Any]:
    """Scores of one rollout: ``real`` is the real continuation, ``generated`` the
    generated one, each as (code, grade or None) in order."""
    cfg = config or RolloutConfig()
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


def rollout_metrics(real: Dataset, trajectories: Sequence[Trajectory],
                    config: Optional[RolloutConfig] = None) -> dict[str, Any]:
    """Scores of every rollout against its real stream, and their means."""
    streams = {(s.student_id, s.problem_id): s for s in real.streams}
    per: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    for t in trajectories:
        if not is_rollout(t):
            skipped["no prefix_len in meta"] = skipped.get("no prefix_len in meta", 0) + 1
            continue
        sid = str(t.meta.get("real_student_id", t.student_id))
        stream = streams.get((sid, t.problem_id))
        if stream is None:
            skipped["no real stream"] = skipped.get("no real stream", 0) + 1
            continue
        p = int(t.meta["prefix_len"])
        cont = stream.submissions[p:]
        if not cont:
            skipped["prefix covers the whole real stream"] = skipped.get("prefix covers the whole real stream", 0) + 1
            continue
        scores = rollout_scores([(s.code, s.grade) for s in cont], [(a.code, a.grade) for a in t.attempts], config)
        scores.update(student_id=sid, problem_id=t.problem_id, prefix_len=p)
        per.append(scores)
    keys = ("coverage", "grade_proximity", "final_grade_proximity", "ast_match", "codebleu")
    return {
        "n_rollouts": len(per),
        "skipped": skipped,
        "match_threshold": (config or RolloutConfig()).match_threshold,
        "means": {k: summary([r[k] for r in per]) for k in keys},
        "mean_lengths": {"real": mean(r["n_real"] for r in per), "generated": mean(r["n_generated"] for r in per)},
        "per_rollout": per,
    }
