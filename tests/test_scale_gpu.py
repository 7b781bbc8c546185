"""The GPU paths say so and stop (exit 2) on a machine without a GPU.

The GPU side itself (vLLM through ray.data.llm, scripts/gpu_check.sh) needs a CUDA
machine and is not run here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simstudent.scale.llm import local_gpus

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(local_gpus() > 0, reason="this machine has a GPU: the no-GPU message cannot show")


def test_eval_on_ray_without_a_gpu_stops_in_one_line():
    # The GPU check comes before anything is read: the dataset path is never opened.
    run = subprocess.run([sys.executable, "-c", "from simstudent.cli import main; main()", "eval", "exp1",
                          "--data", str(REPO / "no-such-dataset"), "--ray", "local"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no GPU" in lines[0] and "--ray" in lines[0], run.stderr


def test_gpu_check_without_a_gpu_fails_clearly():
    run = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip() == ("gpu_check: error: no GPU on this machine (nvidia-smi lists none); "
                                  "run this on a CUDA GPU machine")
    # The Python check behind it stops the same way when torch sees no GPU.
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py")], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "no CUDA GPU" in run.stderr and "ratio:" not in run.stdout


def test_import_simstudent_scale_stays_light():
    code = "import sys, simstudent, simstudent.scale, simstudent.scale.llm; print('ray' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_ray_data_rows_carry_the_adapter_and_the_request_sampling():
    """What RayDataLLMBackend hands ray.data.llm for each request (the vLLM run itself needs a GPU)."""
    from simstudent.models import GenerationRequest, SamplingParams
    from simstudent.scale.llm import RayDataLLMBackend

    req = GenerationRequest(prompt="def f(n):", assistant_prefix="\n    ", adapter="/adapters/itap",
                            stop=["</code>"], sampling=SamplingParams(max_new_tokens=50, temperature=0.7,
                                                                      top_p=0.9, top_k=0, seed=4))
    row = RayDataLLMBackend._row(3, req)
    assert row["i"] == 3 and row["model"] == "/adapters/itap" and row["prompt"] == "def f(n):\n    "
    assert row["sampling_params"]["max_tokens"] == 50 and row["sampling_params"]["seed"] == 4
    assert row["sampling_params"]["top_k"] == -1  # 0 (off) is -1 for vLLM
    assert row["sampling_params"]["stop"] == ["</code>"]
    chat = RayDataLLMBackend._row(0, GenerationRequest(messages=[{"role": "user", "content": "hi"}]))
    assert chat["messages"] == [{"role": "user", "content": "hi"}] and "prompt" not in chat
