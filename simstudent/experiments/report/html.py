"""Render runs' metrics into one report: ``index.html`` + ``README.md`` + PNG figures.

``build_report(paths, out_dir)`` loads every run (folder or metrics.json), builds the
tables and figures, and writes a self-contained page (figures referenced by relative
path, no scripts, no network). Under every table it prints the exact commands that
regenerate its numbers.
"""

from __future__ import annotations

import html
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from simstudent.experiments.report import figures as F
from simstudent.experiments.report.harmonize import harmonize_style
from simstudent.experiments.report.tables import Table, build_tables, splits_of
from simstudent.errors import InputError
from simstudent.metrics.records import RunMetrics, load_run_metrics


@dataclass
class Figure:
    id: str
    title: str
    path: Path  # relative to the report folder
    caption: str = ""


@dataclass
class Report:
    """What ``build_report`` wrote."""

    out_dir: Path
    html_path: Path
    md_path: Path
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    runs: list[RunMetrics] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


DEFAULT_TITLE = "simstudent evaluation report"


def report_command(paths: Sequence[Path | str], out_dir: Path | str, notes: Optional[Path | str] = None,
                   title: str = DEFAULT_TITLE) -> str:
    """The command line that regenerates a report from its runs."""
    parts = ["simstudent", "report", *[str(p) for p in paths], "--out", str(out_dir)]
    if notes:
        parts += ["--notes", str(notes)]
    if title != DEFAULT_TITLE:
        parts += ["--title", title]
    return " ".join(shlex.quote(p) for p in parts)


def _figures(runs: list[tuple[RunMetrics, Optional[Path]]], out_dir: Path, warnings: list[str]) -> list[Figure]:
    figs: list[Figure] = []
    only = [r for r, _ in runs]
    for split in splits_of([r for r in only if r.kind == "exp1"]):
        p = F.fig2_embeddings(runs, split, out_dir / f"fig2_embeddings_{split}.png")
        if p is None:
            warnings.append(f"Fig. 2 ({split}): no exp1 run has embeddings.npz; figure skipped")
            continue
        figs.append(Figure("fig2", f"Fig. 2 - exp1 code embeddings ({split})", p.relative_to(out_dir),
                           "PCA of the code embeddings (fitted on all codes of this test set), per stage "
                           "and context setting; students are black squares."))
    p = F.fig3_error_types(only, out_dir / "fig3_error_types.png")
    if p is not None:
        figs.append(Figure("fig3", "Fig. 3 - exp1 error types per stage", p.relative_to(out_dir),
                           "Share of codes per error type (all four classes; compile errors kept)."))
    p = F.fig4_progress(only, out_dir / "fig4_progress.png")
    if p is not None:
        figs.append(Figure("fig4", "Fig. 4 - exp2 progress", p.relative_to(out_dir),
                           "Mean per step of pass rate, style score and Levenshtein distance between "
                           "consecutive attempts of a stream (generated to generated, real to real; 0 "
                           "at the first). Steps 1..T, T the rounded median stream length of each "
                           "problem; one-attempt streams sit at step 1. Each generated attempt was "
                           "written after the real attempts before it (teacher forcing)."))
    return figs


# -- a tiny Markdown subset for the notes file (headings, lists, paragraphs, code) --

def _inline(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', out)
    return out


def markdown_to_html(md: str) -> str:
    """Headings, bullet lists, fenced code and paragraphs; everything else escaped."""
    out: list[str] = []
    para: list[str] = []
    in_list = False
    in_code = False
    code: list[str] = []

    def flush_para() -> None:
        nonlocal para
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para = []

    def close_list() -> None:
        nonlocal in_list
        if in_list:
            out.append("</ul>")
            in_list = False

    for line in md.splitlines():
        if line.strip().startswith("```"):
            if in_code:
                out.append(f"<pre><code>{html.escape(chr(10).join(code))}</code></pre>")
                code, in_code = [], False
            else:
                flush_para()
                close_list()
                in_code = True
            continue
        if in_code:
            code.append(line)
            continue
        m = re.match(r"^(#{1,4})\s+(.*)$", line)
        if m:
            flush_para()
            close_list()
            level = min(6, len(m.group(1)) + 1)  # the page title is the only h1
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif re.match(r"^\s*[-*]\s+", line):
            flush_para()
            if not in_list:
                out.append("<ul>")
                in_list = True
            item = re.sub(r"^\s*[-*]\s+", "", line)
            out.append(f"<li>{_inline(item)}</li>")
        elif not line.strip():
            flush_para()
            close_list()
        elif in_list and line.startswith("  "):
            out[-1] = out[-1][: -len("</li>")] + " " + _inline(line.strip()) + "</li>"
        else:
            close_list()
            para.append(line.strip())
    if in_code:
        out.append(f"<pre><code>{html.escape(chr(10).join(code))}</code></pre>")
    flush_para()
    close_list()
    return "\n".join(out)


# -- renderers --------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
tr.student td{font-weight:600;background:#fafafa}
tr.floor td{font-style:italic;background:#f4f8ff}
pre{background:#f6f6f6;padding:6px 8px;overflow-x:auto;font-size:0.85em}
pre.command{white-space:pre-wrap;word-break:break-all}
figure{margin:1em 0}
figure img{max-width:100%;border:1px solid #ddd}
.caption{color:#555;font-size:0.9em}
.warn{color:#a40}
"""


def table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = []
    for row, kind in zip(t.rows, t.row_kinds or ["model"] * len(t.rows)):
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in row)
        body.append(f'<tr class="{kind}">{cells}</tr>')
    cmds = "\n".join(t.commands)
    return (
        f'<section class="table" id="{t.id}-{t.split}">\n<h3>{html.escape(t.title)}</h3>\n'
        f'<p class="caption">{html.escape(t.caption)}</p>\n'
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>\n"
        f"<p>Regenerate:</p>\n<pre class=\"command\">{html.escape(cmds)}</pre>\n</section>"
    )


def table_markdown(t: Table) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = [f"### {t.title}", "", t.caption, ""]
    lines.append("| " + " | ".join(esc(c) for c in t.columns) + " |")
    lines.append("|" + "|".join("---" for _ in t.columns) + "|")
    for row, kind in zip(t.rows, t.row_kinds or ["model"] * len(t.rows)):
        cells = [esc(c) for c in row]
        if kind in ("student", "floor"):
            cells[0] = f"*{cells[0]}*"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Regenerate:", "", "```sh", *t.commands, "```", ""]
    return "\n".join(lines)


def _runs_overview(runs: Sequence[RunMetrics]) -> list[list[str]]:
    rows = []
    for r in runs:
        rows.append([
            r.kind, r.split, r.label, r.model, r.adapter or "-", r.template or "-",
            "T" if r.context else "F", str(r.k) if r.k is not None else "-", str(r.samples),
            str(r.counts.get("examples", "-")), str(r.counts.get("students", "-")), r.embedder or "-",
        ])
    return rows


_OVERVIEW_COLS = ["Kind", "Split", "Label", "Model", "Adapter", "Template", "Ctx", "k", "Samples",
                  "Examples", "Students", "Embedder"]


def render_html(title: str, runs: Sequence[RunMetrics], tables: Sequence[Table], figs: Sequence[Figure],
                notes_md: str, command: str, warnings: Sequence[str]) -> str:
    ov_head = "".join(f"<th>{c}</th>" for c in _OVERVIEW_COLS)
    ov_rows = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in _runs_overview(runs)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Regenerate this page:</p><pre class=\"command\">{html.escape(command)}</pre>",
    ]
    if notes_md.strip():
        parts.append('<section class="notes">' + markdown_to_html(notes_md) + "</section>")
    parts.append("<h2>Runs</h2>")
    parts.append(f"<table><thead><tr>{ov_head}</tr></thead><tbody>{ov_rows}</tbody></table>")
    parts.append("<h2>Tables</h2>")
    parts.extend(table_html(t) for t in tables)
    parts.append("<h2>Figures</h2>")
    for f in figs:
        parts.append(
            f'<figure id="{f.id}"><img src="{html.escape(f.path.as_posix())}" alt="{html.escape(f.title)}">'
            f"<figcaption><strong>{html.escape(f.title)}.</strong> {html.escape(f.caption)}</figcaption></figure>"
        )
    if warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f'<li class="warn">{html.escape(w)}</li>' for w in warnings) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_markdown(title: str, runs: Sequence[RunMetrics], tables: Sequence[Table], figs: Sequence[Figure],
                    notes_md: str, command: str, warnings: Sequence[str]) -> str:
    lines = [f"# {title}", "", "Regenerate this page:", "", "```sh", command, "```", ""]
    if notes_md.strip():
        lines += [notes_md.strip(), ""]
    lines += ["## Runs", "", "| " + " | ".join(_OVERVIEW_COLS) + " |", "|" + "|".join("---" for _ in _OVERVIEW_COLS) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in _runs_overview(runs)]
    lines += ["", "## Tables", ""]
    lines += [table_markdown(t) for t in tables]
    lines += ["## Figures", ""]
    for f in figs:
        lines += [f"![{f.title}]({f.path.as_posix()})", "", f"*{f.title}.* {f.caption}", ""]
    if warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    return "\n".join(lines)


def build_report(
    paths: Sequence[Path | str],
    out_dir: Path | str,
    *,
    title: str = DEFAULT_TITLE,
    notes: Optional[Path | str] = None,
    command: Optional[str] = None,
) -> Report:
    """Load the runs at ``paths`` and write ``index.html``, ``README.md`` and the
    figures into ``out_dir``. ``command`` is what is printed as the way to
    regenerate (defaults to the equivalent ``simstudent report`` command)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loaded = [load_run_metrics(p) for p in paths]
    if not loaded:
        raise InputError("no runs given")
    warnings: list[str] = []
    loaded = harmonize_style(loaded, warnings)
    runs = [r for r, _ in loaded]
    cmd = command or report_command(paths, out_dir, notes, title)
    tables = build_tables(runs, cmd)
    figs = _figures(loaded, out, warnings)
    notes_md = Path(notes).read_text(encoding="utf-8") if notes else ""
    html_path = out / "index.html"
    md_path = out / "README.md"
    html_path.write_text(render_html(title, runs, tables, figs, notes_md, cmd, warnings), encoding="utf-8")
    md_path.write_text(render_markdown(title, runs, tables, figs, notes_md, cmd, warnings), encoding="utf-8")
    return Report(out, html_path, md_path, tables, figs, runs, warnings)
