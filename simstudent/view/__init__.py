"""A static HTML viewer for simulated and real students' attempt streams.

``build_view(paths, out_dir)`` reads cohort folders, ``run`` outputs, eval run folders
and datasets of real students (:mod:`simstudent.view.sources`) and writes a page that
opens from disk (:mod:`simstudent.view.build`): a filterable list of streams, each
stream's timeline with diffs, verdicts, feedback and hints, a per-problem summary, and
simulated next to real students, optionally blind.
"""

from simstudent.view.build import ViewResult, build_view, write_view
from simstudent.view.model import ViewAttempt, ViewError, ViewStream
from simstudent.view.sources import load_sources

__all__ = ["ViewAttempt", "ViewError", "ViewResult", "ViewStream", "build_view", "load_sources", "write_view"]
