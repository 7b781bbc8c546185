"""Write the viewer: ``index.html`` (page, styles and code inline) and ``data/``.

Layout of the output folder::

    index.html         the whole app; opens from disk (file://), no network
    data/index.js      one row per stream (ids, persona, outcome, verdict letters) + summaries
    data/s/<n>.js      one stream's attempts (code, diff from the previous one, feedback,
                       hints), loaded by a <script> tag only when that stream is opened

Data files are JavaScript (``SIMVIEW.index(...)`` / ``SIMVIEW.stream(n, ...)``) rather
than JSON because browsers refuse ``fetch`` on file:// pages but do run scripts.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from pydantic import BaseModel, Field

from simstudent.view.model import ViewError, ViewStream
from simstudent.view.sources import load_sources
from simstudent.view.summary import summarise, verdict

# One letter per verdict in the index (keeps a 1,000-stream index small).
VERDICT_LETTERS = {"no_error": "N", "logical": "L", "runtime": "R", "compile": "C",
                   "recorded_correct": "P", "recorded_incorrect": "F", "unknown": "?"}
DATA_DIR, STREAM_DIR = "data", "s"


class ViewResult(BaseModel):
    """What :func:`build_view` wrote."""

    index_html: Path = Field(description="The page to open.")
    streams: int = Field(description="Streams written (one data file each).")
    simulated: int = Field(description="Of them simulated.")
    real: int = Field(description="Of them real students'.")
    problems: list[str] = Field(description="Problems (course prefix dropped).")
    paired_problems: list[str] = Field(description="Problems with both simulated and real streams (side by side).")


def _js(obj: Any) -> str:
    # Compact JSON is valid JavaScript; escape "</" so the text is safe anywhere.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).replace("</", "<\\/")


def unified_diff(before: str, after: str, a: str, b: str) -> str:
    """A unified diff of two attempts (empty when identical)."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), a, b, lineterm="", n=2)
    return "\n".join(lines)


def stream_record(stream: ViewStream) -> dict[str, Any]:
    """One stream's data file content."""
    out = []
    prev: Optional[str] = None
    for i, a in enumerate(stream.attempts):
        rec = a.model_dump(mode="json", exclude_none=True)
        rec["verdict"] = verdict(a.error_type, a.correct)
        if prev is not None:
            rec["diff"] = unified_diff(prev, a.code, f"attempt {i}", f"attempt {i + 1}")
        prev = a.code
        out.append(rec)
    return {"student": stream.student_id, "problem": stream.problem_id, "persona": stream.persona,
            "origin": stream.origin, "source": stream.source, "stop": stream.stop_reason, "attempts": out}


def index_row(n: int, stream: ViewStream, sources: dict[str, int]) -> dict[str, Any]:
    stamps = [a.timestamp for a in stream.attempts if a.timestamp is not None]
    return {
        "n": n, "s": stream.student_id, "p": stream.problem_id, "k": stream.problem_key, "pe": stream.persona,
        "o": stream.origin, "src": sources[stream.source], "a": len(stream.attempts), "out": stream.outcome,
        "stop": stream.stop_reason, "g": stream.graded,
        "v": "".join(VERDICT_LETTERS[verdict(a.error_type, a.correct)] for a in stream.attempts),
        "t0": stamps[0].isoformat() if stamps else None, "t1": stamps[-1].isoformat() if stamps else None,
    }


def _asset(name: str) -> str:
    return resources.files("simstudent.view").joinpath("assets", name).read_text(encoding="utf-8")


def render_page(title: str) -> str:
    """index.html with the styles and code inline."""
    page = _asset("viewer.html")
    return (page.replace("{{TITLE}}", json.dumps(title)[1:-1].replace("<", "&lt;"))
            .replace("/*{{CSS}}*/", _asset("viewer.css")).replace("/*{{JS}}*/", _asset("viewer.js")))


def write_view(streams: list[ViewStream], out_dir: Union[str, Path], *, title: str = "simstudent viewer") -> ViewResult:
    """Write the viewer for ``streams`` into ``out_dir`` (its ``data/`` is replaced)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ViewError(f"{out}: exists and is not a folder")
    data = out / DATA_DIR
    if data.exists():
        shutil.rmtree(data)  # a rebuild must not leave another view's stream files behind
    (data / STREAM_DIR).mkdir(parents=True)
    # Simulated first, then real; within each, by problem then student.
    ordered = sorted(streams, key=lambda s: (s.origin != "simulated", s.problem_key, s.student_id))
    sources: dict[str, int] = {}
    for s in ordered:
        sources.setdefault(s.source, len(sources))
    rows = []
    for n, s in enumerate(ordered):
        (data / STREAM_DIR / f"{n}.js").write_text(f"SIMVIEW.stream({n},{_js(stream_record(s))});\n",
                                                   encoding="utf-8")
        rows.append(index_row(n, s, sources))
    summary = summarise(ordered)
    paired = [r["problem"] for r in summary if "simulated" in r and "real" in r]
    index = {"title": title, "sources": list(sources), "streams": rows, "summary": summary, "paired": paired,
             "letters": {v: k for k, v in VERDICT_LETTERS.items()}}
    (data / "index.js").write_text(f"SIMVIEW.index({_js(index)});\n", encoding="utf-8")
    tmp = out / "index.html.tmp"
    tmp.write_text(render_page(title), encoding="utf-8")
    os.replace(tmp, out / "index.html")
    return ViewResult(index_html=out / "index.html", streams=len(ordered),
                      simulated=sum(s.origin == "simulated" for s in ordered),
                      real=sum(s.origin == "real" for s in ordered),
                      problems=[r["problem"] for r in summary], paired_problems=paired)


def build_view(paths: Iterable[Union[str, Path]], out_dir: Union[str, Path], *,
               title: str = "simstudent viewer", grade_real: bool = False, grader: Any = None) -> ViewResult:
    """Read every path (cohort, run output, eval run folder, dataset) and write the viewer.
    ``grade_real`` grades real students' submissions in the sandbox first (see
    :func:`simstudent.view.sources.load_sources`)."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ViewError("nothing to show: give at least one cohort folder, run output, eval run folder or dataset")
    return write_view(load_sources(paths, grade_real=grade_real, grader=grader), out_dir, title=title)
