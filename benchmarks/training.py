"""LoRA training speed and memory: the reference path against the fast default, side by side.

Both train SmolLM2-135M ("default") on the same ITAP exp2 (k = 3, with context)
training examples, with the paper's recipe (effective batch 16, lr 1e-4, cosine), for
the same first ``--steps`` optimizer steps (the data order is a function of the seed,
so both see the same examples). Each path runs in its own subprocess, one after the
other, so peak RSS is each process's own (``ru_maxrss``, model loading included).

- reference: fp32, micro-batches of 4 in data order padded to their longest example,
  the model's own logits (completion positions only, via ``logits_to_keep``), the
  library's default attention kernel (sdpa);
- fast (the default ``LoraTrainConfig``): bf16 autocast where the CPU has native bf16,
  each step's examples packed longest-first into micro-batches of at most
  ``micro_batch_tokens`` padded tokens, the chunked completion-only loss, eager
  attention on CPU.

Tokens/s counts real (unpadded) tokens of the examples trained on, over the training
loop's wall time. The last line is ``ratio: X`` = fast tokens/s / reference tokens/s.

    python benchmarks/training.py [--steps 2] [--threads 2] [--data ../shared/data/itap]

The reference path peaks at many GB (long examples x batch 4, full activations):
check ``free -g`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = {
    "reference": {"precision": "fp32", "batching": "fixed", "loss": "logits", "attention": "sdpa"},
    "fast": {},  # LoraTrainConfig's defaults
}


def worker(path: str, data: str, steps: int, threads: int) -> None:
    """Train ``steps`` steps on one path; print one JSON line with the measurements."""
    from rich.console import Console

    from simstudent.models.adapters import load_adapter_meta
    from simstudent.training import LoraTrainConfig, prepare_examples, train_lora
    from simstudent.training.lora import bf16_supported

    prepared = prepare_examples(data, exp="exp2", k=3, context=True)
    config = LoraTrainConfig(max_steps=steps, num_threads=threads, save_steps=10_000, device="cpu", **PATHS[path])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path
        train_lora(prepared.examples, prepared.problems, config, out, template="ft-exp2-ctx",
                   meta={"name": path, "exp": "exp2", "k": 3, "context": True}, console=Console(stderr=True))
        meta = load_adapter_meta(out)
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    real = log[-1]["real_tokens"]
    print(json.dumps({
        "cpu_s": log[-1]["cpu_s"], "tokens_per_cpu_s": real / log[-1]["cpu_s"],
        "padded_tokens": sum(e["padded_tokens"] for e in log), "real_tokens": real,
        "path": path, "steps": meta.steps, "tokens_per_s": meta.tokens_per_s, "wall_s": meta.wall_time_s,
        "losses": meta.loss_curve, "precision": meta.model_extra.get("precision"),
        "bf16_cpu": bf16_supported("cpu"), "examples": len(prepared.examples),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,  # KiB on Linux
    }), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2, help="optimizer steps per path (16 examples each)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads for both paths")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "itap"), help="ITAP ProgSnap2 folder")
    ap.add_argument("--paths", default="reference,fast", help="which paths, in order (comma-separated)")
    ap.add_argument("--worker", choices=sorted(PATHS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.steps, args.threads)
        return
    if not Path(args.data).is_dir():
        sys.exit(f"error: {args.data}: no ITAP data folder (pass --data)")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    results = {}
    for path in args.paths.split(","):
        cmd = [sys.executable, __file__, "--worker", path, "--steps", str(args.steps),
               "--threads", str(args.threads), "--data", args.data]
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            sys.exit(f"error: the {path} worker failed (exit {proc.returncode})")
        results[path] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[path]
        print(f"{path:9s}: {r['tokens_per_s']:8.1f} tokens/s  {r['tokens_per_cpu_s']:6.1f} tokens/CPU-s  "
              f"peak RSS {r['peak_rss_gb']:5.2f} GB  {r['steps']} steps in {r['wall_s']:.1f} s "
              f"({r['cpu_s']:.0f} CPU-s)  {r['real_tokens']} real / {r['padded_tokens']} padded tokens  "
              f"precision {r['precision']}  losses {r['losses']}", flush=True)
    if set(results) == {"reference", "fast"}:
        fast, ref = results["fast"], results["reference"]
        # On a shared machine wall time mostly measures the CPU share each run got; the
        # CPU-time ratio shows the work saved. Both are printed; the last line is wall time.
        print(f"tokens per CPU-second ratio: {fast['tokens_per_cpu_s'] / ref['tokens_per_cpu_s']:.2f}")
        print(f"peak RSS: reference {ref['peak_rss_gb']:.2f} GB, fast {fast['peak_rss_gb']:.2f} GB")
        print(f"ratio: {fast['tokens_per_s'] / ref['tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
