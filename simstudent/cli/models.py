"""`simstudent train` and `simstudent adapters list`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from simstudent.cli._common import USER_ERRORS, console, err_console, fail, one_line, print_json

adapters_app = typer.Typer(help="Trained LoRA adapters.", no_args_is_help=True)


def train(
    data: Path = typer.Option(..., "--data", help="Dataset: ProgSnap2 folder, Dublin CSV or simstudent JSONL."),
    exp: str = typer.Option("exp2", "--exp", help="exp1 (first/middle/last), exp2 (next attempt from k) or loop "
                            "(the closed loop of `simstudent run`: attempts with the autograder's feedback)."),
    k: int = typer.Option(3, "--k", help="exp2: previous attempts shown (the paper uses 1 and 3)."),
    context: bool = typer.Option(True, "--context/--no-context", help="Show the student's work on an earlier problem."),
    history: int = typer.Option(4, "--history", help="loop: latest attempts (with feedback) in a prompt."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the student/problem split."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", "--test-students",
                                        help="Share of students held out as test students (as `eval`, `data split`)."),
    problem_fraction: float = typer.Option(0.2, "--problem-fraction", "--test-problems",
                                           help="Share of problems held out (test_NS_NP), as `eval`, `data split`."),
    itap_fold: Optional[int] = typer.Option(None, "--itap-fold", help="Take test students from ITAP's CV/FoldN."),
    problems: Optional[str] = typer.Option(None, "--problems", help="Course name or folder of problem specs "
                                           "(default: the dataset's name, e.g. simstudent/scenarios/itap)."),
    model: str = typer.Option("default", "--model", help="'default' (SmolLM2-135M-Instruct), a HF id or a folder."),
    template: Optional[str] = typer.Option(None, "--template", help="Prompt template (default: ft-<exp>[-ctx]; "
                                           "loop: ft-loop, or ft-loop-solution for the solution-aware student)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Adapter folder (default: adapters/<exp>-k<k>-<ctx>)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after N optimizer steps (smoke runs)."),
    epochs: float = typer.Option(1.0, "--epochs"),
    lr: float = typer.Option(1e-4, "--lr"),
    batch_size: int = typer.Option(4, "--batch-size", help="Examples per micro-batch (x --grad-accum per step)."),
    grad_accum: int = typer.Option(4, "--grad-accum", help="Micro-batches per step (paper: 16 effective)."),
    max_seq_len: int = typer.Option(2048, "--max-seq-len"),
    precision: str = typer.Option("auto", "--precision", help="auto (bf16 where the CPU/GPU has it), bf16, fp32."),
    batching: str = typer.Option("length-grouped", "--batching", help="length-grouped (fast) or fixed (reference)."),
    micro_batch_tokens: int = typer.Option(1024, "--micro-batch-tokens", help="length-grouped: padded tokens per "
                                           "micro-batch (bounds memory)."),
    loss: str = typer.Option("chunked", "--loss", help="chunked (completion positions only) or logits (reference)."),
    save_steps: int = typer.Option(50, "--save-steps", help="Checkpoint every N steps."),
    seed: int = typer.Option(42, "--seed"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: cuda if available)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Skip malformed rows of --data (counted, "
                                       "the first few named) instead of stopping at the first."),
) -> None:
    """LoRA-fine-tune a model on a dataset's examples; writes an adapter."""
    from simstudent.errors import SimstudentError
    from simstudent.paths import ADAPTERS_DIR
    from simstudent.prompts import get_template, template_name
    from simstudent.training import LoraTrainConfig, prepare_examples, train_lora
    from simstudent.training.loop_data import LoopDataSettings

    if exp not in ("exp1", "exp2", "loop"):
        fail(f"--exp must be exp1, exp2 or loop, got {exp!r}")
    try:
        tpl = template or ("ft-loop" if exp == "loop" else template_name(exp, context))
        if get_template(tpl).exp != exp:
            fail(f"--template {tpl} is for {get_template(tpl).exp}, not {exp}")
        config = LoraTrainConfig(
            model=model, template=tpl, max_steps=max_steps, epochs=epochs, lr=lr,
            per_device_batch_size=batch_size, grad_accum=grad_accum, max_seq_len=max_seq_len,
            save_steps=save_steps, seed=seed, device=device, num_threads=threads, precision=precision,
            batching=batching, micro_batch_tokens=micro_batch_tokens, loss=loss,
        )
        loop_settings = LoopDataSettings(history=history)
    except USER_ERRORS as exc:
        fail(one_line(exc))
    if exp == "loop":
        name = tpl.removeprefix("ft-").removeprefix("chat-")
    else:
        name = (f"{exp}-k{k}" if exp == "exp2" else exp) + f"-{'ctx' if context else 'noctx'}"
    out_dir = out or ADAPTERS_DIR / name
    try:
        prepared = prepare_examples(data, exp=exp, k=k, context=context, split_seed=split_seed,  # type: ignore[arg-type]
                                    itap_fold=itap_fold, problems_from=problems, test_student_fraction=test_fraction,
                                    test_problem_fraction=problem_fraction, template=tpl, loop_settings=loop_settings,
                                    skip_bad_rows=skip_bad_rows)
    except (SimstudentError, FileNotFoundError) as exc:
        fail(str(exc))
    for note in prepared.notes:
        err_console.print(f"[yellow]note:[/] {note}")
    err_console.print(f"{len(prepared.examples)} {exp} examples from {prepared.n_train_streams} train streams "
                      f"of {prepared.dataset_name}; template {tpl}; effective batch {config.effective_batch_size}")
    meta = {
        "name": out_dir.name, "exp": exp, "k": k if exp == "exp2" else None, "context": context,
        "data": str(data), "split_seed": split_seed, "itap_fold": itap_fold, "notes": prepared.notes,
        "split": prepared.split,
    }
    if exp == "loop":
        meta["history"] = history
    try:
        result = train_lora(prepared.examples, prepared.problems, config, out_dir,
                            template=tpl, meta=meta, resume=resume, console=err_console)
    except (SimstudentError, FileExistsError) as exc:
        fail(str(exc))
    loss_text = f"{result.final_loss:.4f}" if result.final_loss is not None else "-"
    console.print(f"adapter written to {result.out_dir} ({result.steps} steps, final loss {loss_text})")


@adapters_app.command("list")
def adapters_list(
    root: Optional[Path] = typer.Option(None, "--dir", help="Folder of adapters (default: adapters/)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List trained adapters and how each was made."""
    from rich.table import Table

    from simstudent.models.adapters import AdapterMeta, list_adapters

    found = list_adapters(root)
    if as_json:
        print_json([
            {"path": str(p), **(m.model_dump(mode="json") if isinstance(m, AdapterMeta) else {"error": m})}
            for p, m in found
        ])
        return
    if not found:
        console.print(f"no adapters under {root or 'adapters/'}")
        return
    table = Table()
    for col in ("name", "base model", "template", "exp", "k", "ctx", "steps", "final loss", "examples", "created"):
        # Names and templates are what people copy: never wrap them.
        table.add_column(col, no_wrap=col in ("name", "template", "exp"))
    broken = []
    for path, m in found:
        if isinstance(m, str):
            broken.append((path, m))
            continue
        table.add_row(
            path.name, m.base_model, m.template, m.exp, str(m.k or "-"), "yes" if m.context else "no",
            str(m.steps), f"{m.final_loss:.4f}" if m.final_loss is not None else "-", str(m.n_examples),
            m.created.strftime("%Y-%m-%d %H:%M"),
        )
    if table.row_count:
        console.print(table)
    for path, error in broken:
        console.print(f"[red]{path.name}: {error}[/]")


@adapters_app.command("check")
def adapters_check(
    adapter: str = typer.Argument(..., help="Adapter folder (or a name under adapters/)."),
    model: Optional[str] = typer.Option(None, "--model", help="Base model it will run on (checked against its "
                                        "simstudent.json)."),
) -> None:
    """Check an adapter folder (files present, base model) without loading any model."""
    from simstudent.models.adapters import validate_adapter

    from simstudent.errors import SimstudentError

    try:
        meta = validate_adapter(adapter, model)
    except SimstudentError as exc:
        fail(one_line(exc))
    console.print(f"{adapter}: ok ({meta.template}, base model {meta.base_model}, {meta.steps} steps)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("train")(train)
    app.add_typer(adapters_app, name="adapters")
