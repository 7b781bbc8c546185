"""Batched vs one-at-a-time generation with the hf backend on the default model.

The same N chat prompts are generated twice: one request per generate() call, then
all N in one batch. Every request produces exactly --max-new-tokens tokens
(min_new_tokens = max_new_tokens), so both runs do the same work. Prints tokens/s for
both and, as the last line, ``ratio: X`` (batched / sequential) of the last path given.

Paths (``--paths``, default both): ``today`` is transformers' ``generate`` with fp32
weights (the backend as it was); ``new`` is the backend's default on this machine (the
lean decode loop, bf16 weights on a CPU with native bf16). With both, a line compares
their batched tokens/s.

The machine is often shared, so the two modes alternate for ``--rounds`` rounds and
each mode's best round counts (as ``timeit`` does); every round is printed too.

    python benchmarks/generation.py [--n 16] [--max-new-tokens 32] [--rounds 2] [--threads 1] [--paths today,new]
"""

from __future__ import annotations

import argparse
import time

TASKS = [
    "Write a function kthDigit(x, k) that returns the k-th digit of x from the right.",
    "Write a function oneToN(n) that returns the list of numbers from 1 to n.",
    "Write a function isEvenPositiveInt(x) that checks if x is an even positive integer.",
    "Write a function factorial(n) using a loop.",
    "Write a function fibonacci(n) that returns the n-th Fibonacci number.",
    "Write a function doubleX(xs, x) that doubles every occurrence of x in a list.",
    "Write a function hasTwoDigits(n) that says whether n has exactly two digits.",
    "Write a function middleElement(xs) that returns the middle element of a list.",
    "Write a function castString(s) that converts a string to an int or a float.",
    "Write a function anyLowercase(s) that says whether s has a lowercase letter.",
    "Write a function convertToDegrees(rad) that converts radians to degrees.",
    "Write a function canDrinkAlcohol(age, is_driving) for a bar's door policy.",
    "Write a function carefulSquareRoot(x) that returns -1 for negative x.",
    "Write a function backwardsCombine(words) that joins the words in reverse order.",
    "Write a function singlePigLatin(word) that translates one word to Pig Latin.",
    "Write a function nearestBusStop(street) that rounds to the nearest multiple of 8.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--n", type=int, default=16, help="number of prompts")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each mode counts")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: half the cores)")
    parser.add_argument("--paths", default="today,new", help="comma-separated: today (generate, fp32), new (default)")
    args = parser.parse_args()

    from simstudent.models import BackendConfig, GenerationRequest, SamplingParams, build_backend
    from simstudent.prompts import SYSTEM_PROMPT

    sampling = SamplingParams(max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens, seed=0)
    requests = [
        GenerationRequest(
            messages=[{"role": "system", "content": SYSTEM_PROMPT},
                      {"role": "user", "content": TASKS[i % len(TASKS)]}],
            sampling=sampling,
        )
        for i in range(args.n)
    ]
    # The same prompts are generated again and again here, so the prefix store (which
    # reuses an earlier prompt's keys and values) would skip their prefill: off.
    paths = {"today": {"decoder": "generate", "dtype": "fp32"}, "new": {"options": {"prefix_store_tokens": 0}}}
    batched_rate, ratio = {}, 0.0
    for name in args.paths.split(","):
        be = build_backend(BackendConfig(model=args.model, num_threads=args.threads, batch_size=args.n,
                                         **paths[name]))
        be.generate(requests[:2])  # warm-up: first-call allocations and kernel selection
        seq_times, bat_times = [], []
        for r in range(max(1, args.rounds)):
            t = time.perf_counter()
            seq = [c for req in requests for c in be.generate([req])]
            seq_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            bat = be.generate(requests)
            bat_times.append(time.perf_counter() - t)
            print(f"{name} round {r + 1}: one at a time {seq_times[-1]:.2f} s, batched {bat_times[-1]:.2f} s")
        seq_tok = sum(c.completion_tokens for c in seq)
        bat_tok = sum(c.completion_tokens for c in bat)
        seq_s, bat_s = min(seq_times), min(bat_times)
        print(f"{name}: model {be.model_path}  device {be.device}  decoder {be.decoder}  dtype {be.dtype}  "
              f"prompts {args.n}  new tokens each {args.max_new_tokens}")
        print(f"{name} one at a time: {seq_tok} tokens in {seq_s:.2f} s = {seq_tok / seq_s:.1f} tokens/s")
        print(f"{name} batched:       {bat_tok} tokens in {bat_s:.2f} s = {bat_tok / bat_s:.1f} tokens/s")
        batched_rate[name] = bat_tok / bat_s
        ratio = (bat_tok / bat_s) / (seq_tok / seq_s)
        be.close()
    if len(batched_rate) == 2:
        print(f"new vs today, batched tokens/s: {batched_rate['new'] / batched_rate['today']:.2f}x")
    print(f"ratio: {ratio:.2f}")

if __name__ == "__main__":
    main()
