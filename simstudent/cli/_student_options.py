"""The options ``simstudent run`` and ``simstudent cohort`` share, declared once.

Typer has no option groups, so :class:`StudentOptions` lists the shared options as
fields (type and ``typer.Option`` side by side, as in a command's signature) and
:func:`with_student_options` splices them into a command's signature where its
``opts: StudentOptions`` parameter stands; the command receives them as one
:class:`StudentOptions`. Help texts come from the config models' field descriptions
where the option is a config field.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from simstudent.agent.student import DEFAULT_MAX_NEW_TOKENS, DEFAULT_STOP_REPEATS, StudentConfig
from simstudent.models.adapters import DEFAULT_STUDENT_ADAPTER, NO_ADAPTER, student_adapter
from simstudent.models.base import SamplingParams

_F = StudentConfig.model_fields
_SAMPLING = SamplingParams()


def flag(name: str, help: str) -> Any:
    """An on/off option (default off)."""
    # metavar="" keeps typer from printing a "<bool>" type next to an on/off flag.
    return typer.Option(False, name, help=help, metavar="")


@dataclasses.dataclass(frozen=True)
class StudentOptions:
    """The shared options as given on the command line. Each field's default is its
    ``typer.Option`` (what the command line shows); a command always receives every value."""

    data: Optional[Path] = typer.Option(
        None, "--data", help="A dataset (ProgSnap2 folder, CSV, JSONL) whose students can be personas "
        "(plain id, or <dataset>:<id> such as itap:S002), e.g. --data ../shared/data/itap.")
    skip_bad_rows: bool = typer.Option(
        False, "--skip-bad-rows", metavar="", help="With --data: skip malformed rows "
        "(counted, the first few named) instead of stopping at the first.")
    model: str = typer.Option(
        "default", "--model", help="Model: 'default' (offline SmolLM2-135M-Instruct), a Hugging Face "
        "id/path, or a server's model name.")
    adapter: Optional[str] = typer.Option(
        None, "--adapter", help=_F["adapter"].description + f" Default: the bundled closed-loop adapter "
        f"{DEFAULT_STUDENT_ADAPTER!r} on the default model with --backend hf and no --template; "
        f"'{NO_ADAPTER}': the untuned model.")
    backend: str = typer.Option(
        "hf", "--backend", help="Generation backend: hf (transformers, CPU/GPU), vllm, openai (any "
        "OpenAI-compatible server, e.g. `vllm serve ... --enable-lora`), or package.module:Class.")
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Server URL for --backend openai.")
    template: Optional[str] = typer.Option(None, "--template", help=_F["template"].description)
    max_attempts: int = typer.Option(_F["max_attempts"].default, "--max-attempts", min=1,
                                     help=_F["max_attempts"].description)
    seed: int = typer.Option(0, "--seed", help=_F["seed"].description)
    temperature: float = typer.Option(_SAMPLING.temperature, "--temperature", min=0.0, help="Sampling temperature.")
    top_p: float = typer.Option(
        _SAMPLING.top_p, "--top-p", min=0.0, max=1.0, help="Nucleus sampling: keep the smallest set of "
        "tokens whose probabilities sum to this.")
    top_k: int = typer.Option(_SAMPLING.top_k, "--top-k", min=0,
                              help="Sample among this many most likely tokens (0 = all).")
    min_p: float = typer.Option(
        _SAMPLING.min_p, "--min-p", min=0.0, max=1.0, help="Drop tokens below this share of the most "
        "likely token's probability.")
    max_new_tokens: int = typer.Option(
        DEFAULT_MAX_NEW_TOKENS, "--max-new-tokens", min=1, help="Tokens per attempt at most; "
        "an attempt cut here is recorded as truncated (finish reason 'length').")
    stop_repeats: int = typer.Option(
        DEFAULT_STOP_REPEATS, "--stop-repeats", min=0, help="hf backend: cut an attempt whose "
        "last line or block of lines repeats this many times in a row (looping text); it is "
        "recorded as truncated (finish reason 'length', sampling cut 'repetition'). 0 = off.")
    gaps: Optional[Path] = typer.Option(None, "--gaps", help=_F["gap_source"].description)
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, help="hf backend: CPU threads for torch (default: half the cores, at "
        "least 1; torch's spinning threads slow down many times over when they compete with the grader).")
    dtype: Optional[str] = typer.Option(
        None, "--dtype", help="hf backend weights: auto (bf16 on a CPU with native bf16, else fp32), "
        "bf16 or fp32. fp32 makes each sample independent of its batch-mates (cohort --compare "
        "uses it unless told otherwise); bf16 is faster.")
    redraw_repeats: int = typer.Option(_F["redraw_repeats"].default, "--redraw-repeats", min=0,
                                       help=_F["redraw_repeats"].description)
    ignore_failing_submit: bool = typer.Option(
        _F["ignore_failing_submit"].default, "--ignore-failing-submit/--stop-at-submit",
        help=_F["ignore_failing_submit"].description)
    no_context: bool = flag("--no-context", "Do not show the persona's work on an earlier problem.")
    keep_going: bool = flag("--keep-going",
                            "Do not stop when all tests pass (only at <SUBMIT>, a stall or the attempt budget).")

    def student_config(self, *, save_prompts: bool) -> StudentConfig:
        """The simulated student's config these options describe."""
        from simstudent.agent.prompting import PromptSettings

        sampling = SamplingParams(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                                  min_p=self.min_p, max_new_tokens=self.max_new_tokens,
                                  stop_repeats=self.stop_repeats)
        adapter = student_adapter(self.adapter, model=self.model, backend=self.backend, template=self.template)
        return StudentConfig(template=self.template, adapter=adapter, model=self.model,
                             max_attempts=self.max_attempts, seed=self.seed, sampling=sampling,
                             gap_source=str(self.gaps) if self.gaps else None, save_prompts=save_prompts,
                             prompt=PromptSettings(context=not self.no_context), stop_on_pass=not self.keep_going,
                             ignore_failing_submit=self.ignore_failing_submit, redraw_repeats=self.redraw_repeats)

    def backend_config(self, batch_size: Optional[int] = None, dtype: Optional[str] = None) -> Any:
        """The :class:`~simstudent.models.BackendConfig` these options describe (``dtype``
        overrides ``--dtype``): what a local run builds, and what each Ray actor builds."""
        from simstudent.models import BackendConfig

        return BackendConfig(backend=self.backend, model=self.model, base_url=self.base_url,
                             batch_size=batch_size, num_threads=self.threads, dtype=dtype or self.dtype)

    def make_backend(self, batch_size: Optional[int] = None, dtype: Optional[str] = None) -> Any:
        """The generation backend these options name (``dtype`` overrides ``--dtype``).
        A backend by registry name, or ``package.module:Class`` for your own (see
        :func:`simstudent.models.build_backend`). Adapters travel with each request."""
        from simstudent.models import build_backend

        return build_backend(self.backend_config(batch_size, dtype))


def with_student_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` the shared options: its ``opts: StudentOptions`` parameter is
    replaced, in place (so the help keeps their order), by one parameter per field,
    and the values come back to it as one :class:`StudentOptions`."""
    own = inspect.signature(command).parameters
    if "opts" not in own:
        raise TypeError(f"{command.__name__} needs a parameter `opts: StudentOptions`")
    names = [f.name for f in dataclasses.fields(StudentOptions)]
    field_types = typing.get_type_hints(StudentOptions)
    own_types = typing.get_type_hints(command)  # typer needs real types, not the strings of `annotations`
    params: list[inspect.Parameter] = []
    for p in own.values():
        if p.name == "opts":
            params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                         annotation=field_types[f.name])
                       for f in dataclasses.fields(StudentOptions)]
        else:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=own_types[p.name]))

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        opts = StudentOptions(**{name: kwargs.pop(name) for name in names})
        return command(opts=opts, **kwargs)

    wrapper.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper
