"""The same seeded cohort on the default model, today's generation path against the new
one, in one run.

"today": the hf backend as it was - transformers' ``generate``, fp32 weights, batches
seeded from their first request, one generate call per cohort step, no loop cut. "new":
the default on this machine - the lean decode loop (rows leave at their stop string /
EOS, waiting requests take their place, the shared prefix prefilled once, per-request
seeds, each new prompt prefilled alone) with bf16 weights where the CPU has native bf16,
the adapter merged into a copy of the weights, the lean Llama forward on a CPU,
continuous scheduling (a student whose attempt is graded sends its next request into the
running batch) and the loop cut (``stop_repeats``, default 3). Both run the same cohort (same personas, problems, seed,
sampling and token budget) through ``simstudent.agent.Cohort`` with the real sandboxed
grader, one after the other in one process.

The student is the one ``simstudent cohort`` runs by default: the bundled closed-loop
adapter (``--adapter``, default the default student adapter; ``none`` = the untuned
model, as the first measurements were) with the default agent settings of
``StudentConfig`` (failing ``<SUBMIT>`` ignored, unchanged repeats redrawn).

Prints, for each path, attempts, wall time, attempts/s, generated tokens, and the
truncation rate (attempts recorded as truncated, ``finish_reason == "length"``: out of
token budget, or cut as a loop), then how many of today's completions the loop cut would
have ended and how those really ended, then ``ratio:`` (new attempts/s / today's) last.

    python benchmarks/cohort.py [--personas 6] [--problems hw01_q1,hw02_q1] [--max-attempts 3] [--threads 1]

The default cohort is the six bundled personas on two demo problems, up to three attempts
each (12 trajectories). Smaller cohorts give smaller ratios: the new path's gain is in
decoding many students' attempts together, while every attempt's prompt is prefilled in
full on both paths (docs/generation.md has the ratios by cohort size).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from typing import Any, Sequence


class CountingBackend:
    """Passes requests through and counts what comes back (finish reasons, loop cuts,
    tokens); continuous scheduling passes through too."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "backend")
        self.supports_continuous = bool(getattr(inner, "supports_continuous", False))
        self.finish: Counter[str] = Counter()
        self.cuts = 0
        self.tokens = 0
        self.gen_s = 0.0

    def _count(self, completions: Sequence[Any]) -> None:
        for c in completions:
            self.finish[c.finish_reason] += 1
            self.cuts += c.settings.get("cut") == "repetition"
            self.tokens += c.completion_tokens

    def generate(self, requests: Sequence[Any]) -> list[Any]:
        t = time.perf_counter()
        out = self.inner.generate(requests)
        self.gen_s += time.perf_counter() - t
        self._count(out)
        return out

    def generate_continuous(self, feed: Any) -> None:
        def counted(done: list) -> list:
            self._count([c for _, c in done])
            return feed(done)

        t = time.perf_counter()
        self.inner.generate_continuous(counted)
        self.gen_s += time.perf_counter() - t  # includes grading: they overlap here


def would_cut(text: str, times: int) -> bool:
    """Whether the loop cut would have ended ``text`` somewhere (at a line end)."""
    from simstudent.metrics.degeneration import repeats_at_end

    ends = [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    return any(repeats_at_end(text[:e], times) for e in ends)


def run_one(label: str, backend: Any, grader: Any, args: argparse.Namespace,
            stop_repeats: int) -> dict[str, Any]:
    from simstudent.agent import Cohort, CohortConfig, StudentConfig
    from simstudent.models import SamplingParams
    from simstudent.problems import find_problem, list_personas, load_persona

    persona_ids = list_personas()[: args.personas]
    problems = {p: find_problem(p) for p in args.problems.split(",")}
    config = CohortConfig(
        problems=list(problems), personas=persona_ids,
        student=StudentConfig(max_attempts=args.max_attempts, seed=args.seed, save_prompts=False,
                              adapter=args.adapter_name,
                              sampling=SamplingParams(max_new_tokens=args.max_new_tokens, stop_repeats=stop_repeats)),
    )
    counting = CountingBackend(backend)
    with tempfile.TemporaryDirectory(prefix=f"bench-cohort-{label}-") as out:
        t = time.perf_counter()
        trajectories = Cohort(counting, grader, problems, [load_persona(p) for p in persona_ids],
                              config, out, schedule=args.schedule).run(progress=False)
        wall = time.perf_counter() - t
    attempts = sum(len(tr.attempts) for tr in trajectories)
    n = sum(counting.finish.values())
    return {"label": label, "attempts": attempts, "wall_s": wall, "gen_s": counting.gen_s,
            "rate": attempts / wall, "tokens": counting.tokens,
            "truncated": counting.finish["length"] / max(n, 1), "finish": dict(counting.finish),
            "cuts": counting.cuts, "codes": [a.code for tr in trajectories for a in tr.attempts],
            "completions": [(a.completion, a.finish_reason) for tr in trajectories for a in tr.attempts]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=6, help="the first N bundled personas")
    parser.add_argument("--problems", default="hw01_q1,hw02_q1", help="comma-separated problem ids")
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=192, help="token budget per attempt (both paths)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--model", default="default")
    parser.add_argument("--adapter", default=None,
                        help="the student's adapter (default: as `simstudent cohort`; 'none' = untuned model)")
    parser.add_argument("--new-dtype", default=None, help="weights of the new path (default: auto)")
    parser.add_argument("--stop-repeats", type=int, default=3, help="the new path's loop cut (0 = off)")
    parser.add_argument("--schedule", default="auto", choices=["auto", "step"],
                        help="the new path's cohort schedule (auto = continuous on the loop decoder)")
    args = parser.parse_args()

    from simstudent.grader import Grader
    from simstudent.models import BackendConfig, build_backend
    from simstudent.models.adapters import student_adapter

    args.adapter_name = student_adapter(args.adapter, model=args.model, backend="hf", template=None)

    common = dict(model=args.model, batch_size=args.batch_size, num_threads=args.threads, seed=args.seed)
    today = build_backend(BackendConfig(decoder="generate", dtype="fp32", **common))
    new = build_backend(BackendConfig(dtype=args.new_dtype, **common))
    print(f"model: {new.model_path}  today: generate/{today.dtype}  new: {new.decoder}/{new.dtype}  "
          f"threads: {args.threads}  adapter: {args.adapter_name or 'none (untuned model)'}", flush=True)
    results = []
    with Grader() as grader:
        for label, be, cut in (("today", today, 0), ("new", new, args.stop_repeats)):
            r = run_one(label, be, grader, args, cut)
            results.append(r)
            print(f"{label:5s}: {r['attempts']} attempts in {r['wall_s']:.1f} s (generation {r['gen_s']:.1f} s) "
                  f"= {r['rate']:.3f} attempts/s; {r['tokens']} tokens; truncated {100 * r['truncated']:.1f} % "
                  f"{r['finish']} (loop cuts {r['cuts']})", flush=True)
    old, fast = results
    same = sum(a == b for a, b in zip(old["codes"], fast["codes"]))
    print(f"identical codes: {same} of {min(len(old['codes']), len(fast['codes']))} "
          "(different sampling, so they need not match)")
    hit = [reason for text, reason in old["completions"] if would_cut(text, args.stop_repeats or 3)]
    print(f"today's completions the loop cut ({args.stop_repeats or 3} repeats) would have ended: "
          f"{len(hit)} of {len(old['completions'])}; how they really ended: {dict(Counter(hit))}")
    ok = fast["truncated"] <= old["truncated"]
    print(f"truncation: today {100 * old['truncated']:.1f} %, new {100 * fast['truncated']:.1f} % "
          f"({'not higher' if ok else 'HIGHER'})")
    print(f"ratio: {fast['rate'] / old['rate']:.2f}")


if __name__ == "__main__":
    main()
