"""Training / evaluation examples exactly as the seed paper (Sec. 4.1) defines them.

Choices the paper leaves open, made here and kept stable:

- **Stages (exp1).** For a stream of n submissions (indices 0..n-1): first = 0,
  middle = ``(n - 1) // 2`` (the lower middle when n is even: 1 for n = 4),
  last = n - 1. Short streams repeat: n = 1 gives index 0 for all three stages,
  n = 2 gives first = middle = 0. Every stream yields all three stages.
- **Earlier problem (context).** A stream's start is its first submission's
  (timestamp, order); when any stream of the student lacks a timestamp, order
  alone. Among the student's streams on *other* problems that start strictly
  before the target stream, the context comes from the one that starts last (the
  most recent earlier problem). With no such stream the example keeps no context
  (``context_problem_id=None``, ``context=[]``) unless ``require_context=True``
  drops it. ``context_source`` (e.g. :meth:`Split.test_history`) is where those
  streams are looked up; by default the dataset itself.
- **exp1 context** is the earlier stream's submission at the same stage (same
  index rule on its own length n').
- **exp2** has one example per submission t = 0..n-1: ``prior`` = submissions
  t-k..t-1 oldest first, ``None`` where t-j < 0. ``is_final`` = (t == n-1): that
  completion carries ``<SUBMIT>``.
- **exp2 context** is the window t'-k..t' (k+1 submissions, ``None`` where the
  index is < 0) of the earlier stream, where t' is the same relative position:
  ``t' = floor(t * (n'-1) / (n-1) + 1/2)`` (round half up); for n = 1 the one
  submission is the stream's end, so t' = n'-1. (The paper writes the window as
  c_{t''-j}, j = 1..k+1, with t'' = t'+1: the same k+1 submissions.)
- **Order is required.** Unordered streams (the Dublin CSV) have no first,
  middle, last or previous attempt: the builders raise :class:`DataError`, or
  with ``skip_unordered=True`` skip those streams with a warning that says how many.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any, Iterable, Optional, Sequence

from simstudent.data.errors import DataError
from simstudent.schema import Dataset, Example, Stream
from simstudent.errors import ConfigError

STAGES: tuple[str, ...] = ("first", "middle", "last")


def stage_index(stage: str, n: int) -> int:
    """Index of ``stage`` ('first' | 'middle' | 'last') in a stream of length n >= 1."""
    if n < 1:
        raise ValueError("empty stream has no stages")
    if stage == "first":
        return 0
    if stage == "middle":
        return (n - 1) // 2
    if stage == "last":
        return n - 1
    raise ConfigError(f"unknown stage {stage!r}; expected one of {STAGES}")


def relative_index(t: int, n: int, n_other: int) -> int:
    """Index in a stream of length ``n_other`` at the same relative position as
    index ``t`` in a stream of length ``n`` (round half up; n == 1 maps to the end)."""
    if n <= 1:
        return n_other - 1
    return (2 * t * (n_other - 1) + (n - 1)) // (2 * (n - 1))


class _ContextIndex:
    """Per student: their streams sorted by start, to find the most recent earlier one."""

    def __init__(self, source: Dataset) -> None:
        self._by_student: dict[str, list[Stream]] = defaultdict(list)
        for stream in source.streams:
            if stream.submissions:
                self._by_student[stream.student_id].append(stream)
        self._timed = {
            student: all(s.submissions[0].timestamp is not None for s in streams)
            for student, streams in self._by_student.items()
        }

    def _key(self, stream: Stream, timed: bool) -> tuple:
        first = stream.submissions[0]
        return (first.timestamp, first.order) if timed else (first.order,)

    def earlier(self, target: Stream) -> Optional[Stream]:
        """The student's stream on another problem that started most recently before ``target``."""
        candidates = self._by_student.get(target.student_id, [])
        timed = self._timed.get(target.student_id, False) and target.submissions[0].timestamp is not None
        start = self._key(target, timed)
        best, best_key = None, None
        for stream in candidates:
            if stream.problem_id == target.problem_id:
                continue
            key = self._key(stream, timed)
            if key < start and (best_key is None or key > best_key):
                best, best_key = stream, key
        return best


def _ordered_streams(dataset: Dataset, skip_unordered: bool, what: str) -> list[Stream]:
    unordered = [s for s in dataset.streams if not s.ordered]
    if unordered and not skip_unordered:
        raise DataError(
            f"{len(unordered)} of {len(dataset.streams)} streams are unordered (e.g. student "
            f"{unordered[0].student_id!r}, problem {unordered[0].problem_id!r}); {what} needs "
            "submissions in order. Pass skip_unordered=True to leave them out",
            file=dataset.provenance.source or dataset.name,
        )
    if unordered:
        warnings.warn(f"{what}: skipped {len(unordered)} unordered streams of {dataset.name!r}", stacklevel=3)
    return [s for s in dataset.streams if s.ordered and s.submissions]


def _context_index(dataset: Dataset, context: bool, context_source: Optional[Dataset]) -> Optional[_ContextIndex]:
    if not context:
        return None
    source = context_source if context_source is not None else dataset
    ordered = Dataset(streams=[s for s in source.streams if s.ordered])
    return _ContextIndex(ordered)


def _target_example(exp: str, stream: Stream, t: int, **fields: Any) -> Example:
    """The Example whose target is attempt ``t`` of ``stream`` (context added later)."""
    sub = stream.submissions[t]
    return Example(
        exp=exp,  # type: ignore[arg-type]
        student_id=stream.student_id,
        problem_id=stream.problem_id,
        target_index=t,
        target=sub.code,
        stream_length=len(stream),
        is_final=t == len(stream) - 1,
        target_grade=sub.grade,
        target_correct=sub.recorded_correct,
        **fields,
    )


def build_exp1_examples(
    dataset: Dataset,
    *,
    context: bool,
    context_source: Optional[Dataset] = None,
    stages: Sequence[str] = STAGES,
    require_context: bool = False,
    skip_unordered: bool = False,
) -> list[Example]:
    """exp1 (low resolution): one example per stream and stage (see module docstring)."""
    index = _context_index(dataset, context, context_source)
    out: list[Example] = []
    for stream in _ordered_streams(dataset, skip_unordered, "exp1"):
        n = len(stream)
        earlier = index.earlier(stream) if index else None
        if context and require_context and earlier is None:
            continue
        for stage in stages:
            t = stage_index(stage, n)
            example = _target_example("exp1", stream, t, stage=stage)
            if earlier is not None:
                c = stage_index(stage, len(earlier))
                example.context_problem_id = earlier.problem_id
                example.context_indices = [c]
                example.context = [earlier.submissions[c].code]
            out.append(example)
    return out


def _window(stream: Stream, end: int, size: int) -> tuple[list[Optional[int]], list[Optional[str]]]:
    """Indices end-size+1..end of ``stream``, None where below 0."""
    indices = [i if i >= 0 else None for i in range(end - size + 1, end + 1)]
    return indices, [stream.submissions[i].code if i is not None else None for i in indices]


def build_exp2_examples(
    dataset: Dataset,
    *,
    k: int,
    context: bool,
    context_source: Optional[Dataset] = None,
    require_context: bool = False,
    skip_unordered: bool = False,
) -> list[Example]:
    """exp2 (high resolution): one example per submission, given the k before it
    (and, with context, k+1 of an earlier problem's stream); see module docstring."""
    if k < 1:
        raise ConfigError(f"k must be >= 1 (the paper uses 1 and 3), got {k}")
    index = _context_index(dataset, context, context_source)
    out: list[Example] = []
    for stream in _ordered_streams(dataset, skip_unordered, "exp2"):
        n = len(stream)
        earlier = index.earlier(stream) if index else None
        if context and require_context and earlier is None:
            continue
        for t in range(n):
            _, prior = _window(stream, t - 1, k)
            example = _target_example("exp2", stream, t, k=k, prior=prior)
            if earlier is not None:
                t_ctx = relative_index(t, n, len(earlier))
                example.context_problem_id = earlier.problem_id
                example.context_indices, example.context = _window(earlier, t_ctx, k + 1)
            out.append(example)
    return out


def example_counts(examples: Iterable[Example]) -> dict[str, int]:
    """How many examples, with context, final - a quick check when printing."""
    items = list(examples)
    return {
        "examples": len(items),
        "with_context": sum(1 for e in items if e.context_problem_id),
        "final": sum(1 for e in items if e.is_final),
    }
