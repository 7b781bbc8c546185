"""Edit sizes of teacher-forced next attempts: does the model edit like the student?

In exp2 every example shows the student's previous real attempts and asks for the
next one. A model that copies the last attempt shown scores well on embedding
distance (students change little between attempts), so distance alone cannot tell
"edits like this student" from "edits little". This module measures the edits
themselves: the Levenshtein distance (characters) from the last real attempt shown to
the generated attempt, against the distance from the same attempt to the real next
one. Trailing spaces and blank lines at either end do not count as edits (code taken
from a completion is stripped, real submissions often end in blank lines).

- ``mae``: mean over generated samples of |edit(gen) - edit(real)|, each sample
  paired with its own example's real next attempt (characters, lower is better);
- ``wasserstein``: the 1-Wasserstein (earth mover's) distance between the
  distribution of generated edit sizes and that of real edit sizes, in characters:
  the area between their empirical CDFs. Copying the previous attempt scores the
  mean real edit size here (all its edits are 0);
- ``unchanged``: the share of attempts identical to the previous one (edit 0),
  generated and real.

Examples with no previous attempt (a stream's first) are left out.
"""

from __future__ import annotations

from typing import Optional, Sequence

from simstudent.metrics.engine import stat
from simstudent.metrics.normalise import normalise_newlines
from simstudent.metrics.progress import edit_distance
from simstudent.metrics.records import EditSizes


def trim_layout(code: str) -> str:
    """The code without trailing spaces on its lines and blank lines at either end."""
    lines = [line.rstrip() for line in normalise_newlines(code).split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def wasserstein_1d(a: Sequence[float], b: Sequence[float]) -> float:
    """1-Wasserstein distance between two empirical distributions on the real line:
    the integral of |F_a(x) - F_b(x)| over x, with F the empirical CDFs."""
    if not a or not b:
        raise ValueError("both samples must be non-empty")
    xs, ys = sorted(a), sorted(b)
    points = sorted(set(xs) | set(ys))
    total, i, j = 0.0, 0, 0
    for left, right in zip(points, points[1:]):
        while i < len(xs) and xs[i] <= left:
            i += 1
        while j < len(ys) and ys[j] <= left:
            j += 1
        total += abs(i / len(xs) - j / len(ys)) * (right - left)
    return total


def edit_sizes(examples: Sequence[tuple[Optional[str], str, Sequence[str]]]) -> EditSizes:
    """Edit sizes of ``(previous real attempt, real next attempt, generated attempts)``
    triples; a triple whose previous attempt is None is left out."""
    gen_sizes: list[float] = []
    real_sizes: list[float] = []
    gaps: list[float] = []
    for previous, real, generated in examples:
        if previous is None or not generated:
            continue
        previous = trim_layout(previous)
        real_size = float(edit_distance(previous, trim_layout(real)))
        real_sizes.append(real_size)
        for code in generated:
            size = float(edit_distance(previous, trim_layout(code)))
            gen_sizes.append(size)
            gaps.append(abs(size - real_size))
    if not real_sizes:
        return EditSizes()
    return EditSizes(
        gen=stat(gen_sizes), real=stat(real_sizes),
        mae=sum(gaps) / len(gaps), wasserstein=wasserstein_1d(gen_sizes, real_sizes),
        unchanged_gen=sum(s == 0 for s in gen_sizes) / len(gen_sizes),
        unchanged_real=sum(s == 0 for s in real_sizes) / len(real_sizes),
    )
