"""Adapter folders: PEFT files plus ``simstudent.json`` saying how the adapter was made.

``adapters/<name>/`` holds ``adapter_config.json`` + ``adapter_model.safetensors``
(written by peft) and ``simstudent.json`` (:class:`AdapterMeta`). The meta file names
the prompt template the adapter was trained on, so generation can use the same one.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simstudent.paths import ADAPTERS_DIR
from simstudent.errors import InputError, MissingFileError

META_FILE = "simstudent.json"
PEFT_CONFIG = "adapter_config.json"


class AdapterMeta(BaseModel):
    """What ``simstudent.json`` records about one trained adapter."""

    model_config = ConfigDict(extra="allow")

    name: str
    base_model: str  # as given to `simstudent train --model` (e.g. "default")
    base_model_path: str = ""  # what it resolved to at training time
    template: str  # prompt template name, e.g. "ft-exp2-ctx"
    exp: Literal["exp1", "exp2"]
    k: Optional[int] = None
    context: bool = False
    data: str = ""  # dataset path
    split_seed: Optional[int] = None
    data_fingerprint: str = ""  # sha256 of the training examples
    n_examples: int = 0
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    final_loss: Optional[float] = None
    steps: int = 0
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    simstudent_version: str = ""
    notes: list[str] = Field(default_factory=list)


def resolve_adapter(name_or_path: Union[str, Path], root: Optional[Path] = None) -> Path:
    """An adapter folder from a path, or from a name under ``adapters/``."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    candidate = (root or ADAPTERS_DIR) / str(name_or_path)
    if candidate.is_dir():
        return candidate
    raise MissingFileError(f"adapter {name_or_path!r} not found (neither a folder nor {candidate})")


def load_adapter_meta(path: Union[str, Path]) -> AdapterMeta:
    """Read ``simstudent.json`` of an adapter folder (or the file itself)."""
    p = Path(path)
    meta_path = p / META_FILE if p.is_dir() or not p.suffix else p
    if not meta_path.is_file():
        raise MissingFileError(f"{meta_path}: no {META_FILE} (not a simstudent adapter)")
    try:
        data = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    try:
        return AdapterMeta.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"])
        raise InputError(f"{meta_path}: field {field!r}: {first['msg']}") from None


def write_adapter_meta(path: Union[str, Path], meta: AdapterMeta) -> Path:
    """Write ``simstudent.json`` into an adapter folder."""
    out = Path(path) / META_FILE
    out.write_text(meta.model_dump_json(indent=2) + "\n")
    return out


def adapter_template(path: Union[str, Path]) -> str:
    """The prompt template an adapter was trained with."""
    return load_adapter_meta(path).template


def list_adapters(root: Optional[Path] = None) -> list[tuple[Path, Union[AdapterMeta, str]]]:
    """Every folder under ``root`` with a PEFT config or a meta file: (folder, meta or
    the reason its meta could not be read)."""
    base = root or ADAPTERS_DIR
    found: list[tuple[Path, Union[AdapterMeta, str]]] = []
    if not base.is_dir():
        return found
    for d in sorted(p for p in base.iterdir() if p.is_dir()):
        if not ((d / META_FILE).is_file() or (d / PEFT_CONFIG).is_file()):
            continue
        try:
            found.append((d, load_adapter_meta(d)))
        except (OSError, ValueError) as exc:
            found.append((d, str(exc)))
    return found
