"""`import simstudent` (and the models/prompts/training modules) stays light."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "peft", "vllm", "openai")


def test_importing_simstudent_loads_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "import simstudent, simstudent.models, simstudent.prompts, simstudent.models.adapters\n"
        "import simstudent.training, simstudent.cli.models\n"
        "from simstudent.models import BACKENDS\n"
        "assert BACKENDS.names() == ['copy-previous', 'hf', 'openai', 'vllm'], BACKENDS.names()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
