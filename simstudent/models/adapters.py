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
# The closed-loop adapter `simstudent run` and `cohort` use unless told otherwise (the
# side-by-side rollouts in docs/results chose it); "none" asks for the untuned model.
DEFAULT_STUDENT_ADAPTER = "itap-loop-solution"
NO_ADAPTER = "none"


class AdapterMeta(BaseModel):
    """What ``simstudent.json`` records about one trained adapter."""

    model_config = ConfigDict(extra="allow")

    name: str
    base_model: str  # as given to `simstudent train --model` (e.g. "default")
    base_model_path: str = ""  # what it resolved to at training time
    template: str  # prompt template name, e.g. "ft-exp2-ctx"
    exp: Literal["exp1", "exp2", "loop"]
    k: Optional[int] = None
    context: bool = False
    data: str = ""  # dataset path
    split_seed: Optional[int] = None
    data_fingerprint: str = ""  # sha256 of the training examples
    n_examples: int = 0
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    final_loss: Optional[float] = None
    steps: int = 0
    loss_curve: list[float] = Field(default_factory=list, description="Loss of every optimizer step.")
    wall_time_s: Optional[float] = Field(None, description="Training wall time, summed over resumed sessions.")
    tokens_per_s: Optional[float] = Field(None, description="Real (unpadded) training tokens per second.")
    split: Optional[dict[str, Any]] = Field(None, description="Split manifest: seed, fractions, fold, and "
                                             "sha256 of the sorted train student and train problem lists.")
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


def student_adapter(adapter: Optional[str], *, model: str, backend: str, template: Optional[str]) -> Optional[str]:
    """The adapter a simulated student runs with: ``adapter`` as given, None for
    ``"none"``; when none is given, the bundled :data:`DEFAULT_STUDENT_ADAPTER` if the
    student runs on the offline default model with the local ``hf`` backend and no
    explicit template (an adapter only fits the base model and template it was trained
    with), else None (the untuned model, prompted)."""
    if adapter is not None:
        return None if adapter.strip().lower() == NO_ADAPTER else adapter
    if model == "default" and backend == "hf" and template is None:
        return DEFAULT_STUDENT_ADAPTER
    return None


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


WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


class AdapterError(InputError):
    """An adapter folder that cannot be used as asked (the message names the file)."""


def _same_base(trained: AdapterMeta, model: str) -> bool:
    from simstudent.models.default import DEFAULT_ALIASES

    if model in DEFAULT_ALIASES or trained.base_model in DEFAULT_ALIASES:
        return model in DEFAULT_ALIASES and trained.base_model in DEFAULT_ALIASES
    given = Path(model).expanduser()
    names = {trained.base_model, trained.base_model_path}
    return model in names or (given.exists() and str(given.resolve()) in names)


def validate_adapter(path: Union[str, Path], model: Optional[str] = None) -> AdapterMeta:
    """Check an adapter folder before any model is loaded: ``simstudent.json``,
    ``adapter_config.json`` and the weights exist, and (when ``model`` is given) the
    adapter was trained on that base model. Raises :class:`AdapterError` naming the file."""
    folder = resolve_adapter(path)
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise AdapterError(f"{meta_path}: missing (not a simstudent adapter: train one with `simstudent train`)")
    for required in (PEFT_CONFIG,):
        if not (folder / required).is_file():
            raise AdapterError(f"{folder / required}: missing (the adapter's PEFT config)")
    if not any((folder / w).is_file() for w in WEIGHT_FILES):
        raise AdapterError(f"{folder / WEIGHT_FILES[0]}: missing (the adapter's weights)")
    meta = load_adapter_meta(folder)
    if model is not None and not _same_base(meta, model):
        raise AdapterError(f"{meta_path}: adapter trained on base model {meta.base_model!r}, not {model!r}")
    return meta


def check_adapter_split(path: Union[str, Path], evaluated: Any) -> None:
    """Refuse to evaluate an adapter on a split (a ``SplitManifest``) whose test
    students were its training students or whose NS_NP problems were its training
    problems; the error names the overlap. Adapters without a split manifest (trained
    before it was recorded) are refused too, since nothing shows they are safe."""
    from simstudent.data.splits import split_overlap

    folder = resolve_adapter(path)
    meta = load_adapter_meta(folder)
    if meta.split is None:
        # Older adapters record only the seed and fold; their training always used the
        # default fractions (0.2 / 0.2). Only that exact split is known to be disjoint.
        old = (meta.split_seed, (meta.model_extra or {}).get("itap_fold"), 0.2, 0.2)
        cfg = evaluated.config
        now = (cfg.seed, cfg.itap_fold, cfg.test_student_fraction, cfg.test_problem_fraction)
        if old != now:
            raise AdapterError(
                f"{folder / META_FILE}: no split manifest; trained on (seed, fold, test fraction, problem fraction) "
                f"= {old}, evaluated split uses {now}: it may contain training students. Use the adapter's split "
                "settings or retrain")
        return
    overlap = split_overlap(meta.split, evaluated)
    if overlap:
        raise AdapterError(f"{folder / META_FILE}: the evaluated split overlaps the adapter's training split: "
                           + "; ".join(overlap))


def check_adapter_for_eval(adapter: str, model: Optional[str], evaluated: Any) -> None:
    """:func:`validate_adapter` and :func:`check_adapter_split` for a local adapter
    folder; a name only a server knows (no such folder) is left to the server."""
    try:
        resolve_adapter(adapter)
    except FileNotFoundError:
        return
    validate_adapter(adapter, model)
    check_adapter_split(adapter, evaluated)
