"""Pair generated codes with real slots (``pair_items``) for ``compare``.

A ``PairedCode`` is one submission with its place in its stream; ``compare`` turns
them into the engine's ``records.Item``. Stages are those of the
exp1 example builder (``simstudent.data.examples.stage_index``): first = position 0,
middle = (n-1)//2, last = n-1 (a one-attempt stream's only attempt is all three).
The normalised step of position t in a stream of n is t/(n-1); one-attempt streams
have no step (they carry no progress). Unordered streams (the Dublin CSV) have no
stages, steps or positional pairs; they count in the overall and per-problem
distributions only.

Pairing modes (``pair_items``; ``auto`` picks the first that applies):

- ``slot``: every generated submission names a real slot - same student, same
  problem, and its ``order`` equals a real submission's 0-based position. Pairs are
  exact; the real side is restricted to the paired slots (the test targets), as in
  the paper's exp1/exp2 evaluation.
- ``stream``: every generated stream's (student, problem) exists in the real data
  but attempts need not line up (closed-loop runs). Attempt i of m is paired with
  the real attempt at the same relative position,
  ``simstudent.data.examples.relative_index(i, m, n)`` = floor(i(n-1)/(m-1) + 1/2)
  (n-1 when m = 1: a lone attempt is the stream's end); the real side is every
  submission of those streams.
- ``matched``: no shared streams (e.g. two halves of the real students). Within each
  problem, real and generated streams are shuffled (seeded) and zipped; attempts are
  paired by normalised position as in ``stream``. The real side is everything.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, Optional, Sequence

from simstudent.data.examples import relative_index, stage_index
from simstudent.schema import Dataset, GradeResult, Stream
from simstudent.errors import ConfigError, InputError

PairingMode = Literal["auto", "slot", "stream", "matched"]
STAGES = ("first", "middle", "last")


@dataclass
class PairedCode:
    """One submission with its place in its stream, as the pairing sees it."""

    student_id: str
    problem_id: str
    position: int  # 0-based index in the stream the item's stage/step refer to
    length: int  # length of that stream
    order: int  # Submission.order as stored
    code: str
    grade: Optional[GradeResult] = None
    recorded_correct: Optional[bool] = None
    stream_index: int = 0  # which stream of its dataset it came from
    ordered: bool = True  # False: the source has no order (positions mean nothing)

    @property
    def step(self) -> Optional[float]:
        """Normalised position t/(n-1) in [0, 1]; None for one-attempt or unordered streams."""
        return self.position / (self.length - 1) if self.length > 1 and self.ordered else None

    @property
    def stages(self) -> tuple[str, ...]:
        return stages_of(self.position, self.length) if self.ordered else ()


def stages_of(position: int, n: int) -> tuple[str, ...]:
    """The stages (first/middle/last) that position holds in an n-attempt stream."""
    return tuple(s for s in STAGES if stage_index(s, n) == position)


def stream_items(stream: Stream, stream_index: int = 0) -> list[PairedCode]:
    """Items of one stream, positions = list order."""
    n = len(stream.submissions)
    return [
        PairedCode(stream.student_id, stream.problem_id, i, n, s.order, s.code, s.grade, s.recorded_correct, stream_index,
             stream.ordered)
        for i, s in enumerate(stream.submissions)
    ]


def stream_codes(dataset: Dataset) -> list[PairedCode]:
    """Every submission of every stream of a dataset."""
    return [it for k, s in enumerate(dataset.streams) for it in stream_items(s, k)]


def _by_norm_position(real: Sequence[PairedCode], gen: Sequence[PairedCode]) -> list[tuple[PairedCode, PairedCode]]:
    n, m = len(real), len(gen)
    if n == 0 or not all(it.ordered for it in (*real, *gen)):
        return []
    return [(real[relative_index(i, m, n)], g) for i, g in enumerate(gen)]


@dataclass
class Pairing:
    """The real and generated items one comparison uses, and which pairs."""

    mode: str
    real: list[PairedCode]
    generated: list[PairedCode]
    pairs: list[tuple[int, int]]  # indices into real, generated


def detect_mode(real: Dataset, generated: Dataset, allow_slot: bool = True) -> str:
    """The pairing mode ``auto`` resolves to (see module docstring). Closed-loop
    trajectories pass ``allow_slot=False``: their attempt i is not real slot i."""
    real_streams = {(s.student_id, s.problem_id): len(s.submissions) for s in real.streams}
    gen_keys = [(s.student_id, s.problem_id) for s in generated.streams]
    if gen_keys and all(k in real_streams for k in gen_keys):
        slots_ok = allow_slot and all(
            0 <= sub.order < real_streams[(s.student_id, s.problem_id)]
            for s in generated.streams for sub in s.submissions)
        return "slot" if slots_ok else "stream"
    return "matched"


def pair_items(real: Dataset, generated: Dataset, mode: PairingMode = "auto", seed: int = 0) -> Pairing:
    """Select and pair items for a comparison (see module docstring)."""
    if mode == "auto":
        mode = detect_mode(real, generated)  # type: ignore[assignment]
    by_key = {(s.student_id, s.problem_id): k for k, s in enumerate(real.streams)}
    stream_pairs: list[tuple[list[PairedCode], list[PairedCode]]] = []
    if mode == "slot":
        real_items: list[PairedCode] = []
        gen_items: list[PairedCode] = []
        pairs: list[tuple[int, int]] = []
        seen: dict[tuple[int, int], int] = {}  # several samples may target one slot
        for gs in generated.streams:
            key = (gs.student_id, gs.problem_id)
            if key not in by_key:
                raise InputError(f"slot pairing: generated stream {key} has no real stream")
            rs_items = stream_items(real.streams[by_key[key]], by_key[key])
            for sub in gs.submissions:
                if not 0 <= sub.order < len(rs_items):
                    raise InputError(f"slot pairing: generated {key} order {sub.order} is not a real position "
                                     f"(stream has {len(rs_items)})")
                r = rs_items[sub.order]
                # The generated code stands in for that slot: it inherits its place.
                g = PairedCode(gs.student_id, gs.problem_id, r.position, r.length, sub.order, sub.code, sub.grade,
                         sub.recorded_correct, r.stream_index, r.ordered)
                slot = (r.stream_index, r.position)
                if slot not in seen:
                    seen[slot] = len(real_items)
                    real_items.append(r)
                pairs.append((seen[slot], len(gen_items)))
                gen_items.append(g)
        return Pairing("slot", real_items, gen_items, pairs)
    if mode == "stream":
        for k, gs in enumerate(generated.streams):
            key = (gs.student_id, gs.problem_id)
            if key not in by_key:
                raise InputError(f"stream pairing: generated stream {key} has no real stream")
            stream_pairs.append((stream_items(real.streams[by_key[key]], by_key[key]), stream_items(gs, k)))
        used = {by_key[(gs.student_id, gs.problem_id)] for gs in generated.streams}
        real_all = [it for k in sorted(used) for it in stream_items(real.streams[k], k)]
    elif mode == "matched":
        rng = random.Random(seed)
        real_by_problem: dict[str, list[int]] = {}
        gen_by_problem: dict[str, list[int]] = {}
        for k, s in enumerate(real.streams):
            real_by_problem.setdefault(s.problem_id, []).append(k)
        for k, s in enumerate(generated.streams):
            gen_by_problem.setdefault(s.problem_id, []).append(k)
        for pid in sorted(gen_by_problem):
            rs, gs_ = list(real_by_problem.get(pid, [])), list(gen_by_problem[pid])
            rng.shuffle(rs)
            rng.shuffle(gs_)
            for a, b in zip(rs, gs_):
                stream_pairs.append((stream_items(real.streams[a], a), stream_items(generated.streams[b], b)))
        real_all = stream_codes(real)
    else:
        raise ConfigError(f"unknown pairing mode {mode!r}; use auto, slot, stream or matched")
    gen_all = stream_codes(generated)
    real_index = {(it.stream_index, it.position): i for i, it in enumerate(real_all)}
    gen_index = {(it.stream_index, it.position): i for i, it in enumerate(gen_all)}
    pairs = [
        (real_index[(r.stream_index, r.position)], gen_index[(g.stream_index, g.position)])
        for rs_items, gs_items in stream_pairs
        for r, g in _by_norm_position(rs_items, gs_items)
    ]
    return Pairing(mode, real_all, gen_all, pairs)
