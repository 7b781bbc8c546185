"""Style metrics of the seed paper (Sec. 4.3.3).

Per code: characters, lines, AST depth / width / node count, PEP 8 violations.
Across codes: the style score, the first principal component of the standardised
[lines, chars, depth, width, nodes], fitted on real and generated code together.

Definitions (newlines normalised to ``\\n`` first; ``Conventions`` names the modes):
- chars = ``len(code.strip())``; lines = ``len(code.strip().splitlines())`` (size
  mode ``stripped``, the authors'); size mode ``raw`` counts the code as stored.
- AST nodes are everything ``ast.iter_child_nodes`` yields, context nodes
  (Load/Store/Del) and operator nodes included; depth of Module = 0; depth = the
  largest node depth; width = the most nodes at any one depth; nodes = the count
  (equal to ``len(list(ast.walk(tree)))``).
- PEP 8 = the number of pycodestyle errors (default options, so its default ignore
  list applies), W292 not counted. Mode ``authors``: the code is stripped, each line
  right-stripped and prefixed with four spaces (blank lines too), placed under
  ``def dummy():`` and fed to pycodestyle as lines *without* newline characters.
  The count depends on the Python version's tokenizer (3.12 tokenises f-strings and
  some error cases differently from 3.11). Mode ``wrapped``:
  ``"def dummy():\\n" + textwrap.indent(code, "    ")`` with newlines.
- Code that does not parse: depth/width/nodes are None and its style score is None;
  it is left out of the PCA fit and of means/MAE of those features (counted in
  ``n_unparsed``). chars, lines and PEP 8 stay defined for it.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import asdict, dataclass
from typing import Any, Optional, Sequence

import numpy as np

from simstudent.metrics.normalise import normalise_newlines, parse_or_none
from simstudent.errors import ConfigError, InputError

STYLE_SCORE_FEATURES = ("lines", "chars", "depth", "width", "nodes")
IGNORED_PEP8 = frozenset({"W292"})  # "no newline at end of file": an artefact of storage


@dataclass(frozen=True)
class StyleFeatures:
    """The per-code style features (AST ones None when the code does not parse)."""

    chars: int
    lines: int
    depth: Optional[int]
    width: Optional[int]
    nodes: Optional[int]
    pep8: int

    @property
    def parses(self) -> bool:
        return self.nodes is not None


def ast_shape(tree: ast.AST) -> tuple[int, int, int]:
    """(depth, width, nodes) of a tree; the root is at depth 0."""
    level = [tree]
    depth = width = nodes = 0
    d = 0
    while level:
        depth = d
        width = max(width, len(level))
        nodes += len(level)
        level = [child for node in level for child in ast.iter_child_nodes(node)]
        d += 1
    return depth, width, nodes


def _pep8_report_class() -> Any:
    import pycodestyle

    class _Collect(pycodestyle.BaseReport):
        def __init__(self, options: Any) -> None:
            super().__init__(options)
            self.codes: list[str] = []

        def error(self, line_number: int, offset: int, text: str, check: Any) -> Optional[str]:
            code = super().error(line_number, offset, text, check)  # applies the ignore list
            if code:
                self.codes.append(code)
            return code

    return _Collect


_PEP8: dict[str, Any] = {}


def _pep8_lines(code: str, mode: str) -> list[str]:
    code = normalise_newlines(code)
    if mode == "authors":
        return ["def dummy():"] + ["    " + line.rstrip() for line in code.strip().split("\n")]
    if mode == "wrapped":
        return ("def dummy():\n" + textwrap.indent(code, "    ")).splitlines(True)
    raise ConfigError(f"unknown PEP 8 mode {mode!r}; use authors or wrapped")


def pep8_codes(code: str, mode: str = "authors") -> list[str]:
    """pycodestyle's error codes for the code placed in a dummy function as ``mode``
    says (module docstring); W292 kept here, ``pep8_violations`` drops it."""
    import pycodestyle

    if not _PEP8:
        _PEP8["options"] = pycodestyle.StyleGuide(quiet=True).options
        _PEP8["report"] = _pep8_report_class()
    report = _PEP8["report"](_PEP8["options"])
    checker = pycodestyle.Checker(lines=_pep8_lines(code, mode), options=_PEP8["options"], report=report)
    try:
        checker.check_all()
    except (IndexError, ValueError, KeyError):
        # pycodestyle's continued-indentation check indexes past its row table on some
        # inputs without newline characters (the authors' mode); the errors found up
        # to that point stand (see docs/metrics.md).
        pass
    return report.codes


def pep8_violations(code: str, mode: str = "authors") -> int:
    """Number of PEP 8 violations as the paper counts them (W292 not counted)."""
    return sum(1 for c in pep8_codes(code, mode) if c not in IGNORED_PEP8)


def style_features(code: str, pep8_mode: str = "authors", size_mode: str = "stripped") -> StyleFeatures:
    """All per-code style features of one code (modes: see ``Conventions``)."""
    code = normalise_newlines(code)
    tree = parse_or_none(code)
    depth = width = nodes = None
    if tree is not None:
        depth, width, nodes = ast_shape(tree)
    if size_mode not in ("stripped", "raw"):
        raise ConfigError(f"unknown size mode {size_mode!r}; use stripped or raw")
    sized = code.strip() if size_mode == "stripped" else code
    return StyleFeatures(len(sized), len(sized.splitlines()), depth, width, nodes, pep8_violations(code, pep8_mode))


def style_features_many(codes: Sequence[str], processes: Optional[int] = None,
                        parallel_threshold: int = 1500, pep8_mode: str = "authors",
                        size_mode: str = "stripped") -> list[StyleFeatures]:
    """``style_features`` for each code; each distinct code is computed once, in a
    process pool when there are many (pycodestyle is the slow part)."""
    import functools
    import os

    one = functools.partial(style_features, pep8_mode=pep8_mode, size_mode=size_mode)
    norm = [normalise_newlines(c) for c in codes]
    unique = list(dict.fromkeys(norm))
    procs = processes if processes is not None else (os.cpu_count() or 1)
    if procs > 1 and len(unique) >= parallel_threshold:
        import multiprocessing

        with multiprocessing.get_context().Pool(procs) as pool:
            feats = pool.map(one, unique, chunksize=max(1, len(unique) // (procs * 8)))
    else:
        feats = [one(c) for c in unique]
    by_code = dict(zip(unique, feats))
    return [by_code[c] for c in norm]


class StyleScorer:
    """PC1 of the standardised [lines, chars, depth, width, nodes].

    Standardisation uses the population sd (as sklearn's StandardScaler); a constant
    feature is only centred. The component's sign is fixed so that the loadings on
    the verbosity features (lines + chars) sum to a positive number, so more
    verbose code scores higher.
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, component: np.ndarray, n_fit: int) -> None:
        self.mean, self.scale, self.component, self.n_fit = mean, scale, component, n_fit

    @classmethod
    def fit(cls, features: Sequence[StyleFeatures]) -> "StyleScorer":
        rows = [[getattr(f, k) for k in STYLE_SCORE_FEATURES] for f in features if f.parses]
        if len(rows) < 2:
            raise InputError(f"the style score needs at least 2 parseable codes to fit, got {len(rows)}")
        x = np.asarray(rows, dtype=np.float64)
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale == 0] = 1.0
        z = (x - mean) / scale
        _, _, vt = np.linalg.svd(z, full_matrices=False)
        comp = vt[0]
        verbosity = comp[0] + comp[1]
        if verbosity < 0 or (verbosity == 0 and comp.sum() < 0):
            comp = -comp
        return cls(mean, scale, comp, len(rows))

    def score(self, f: StyleFeatures) -> Optional[float]:
        """The style score of one code; None when it does not parse."""
        if not f.parses:
            return None
        x = np.asarray([getattr(f, k) for k in STYLE_SCORE_FEATURES], dtype=np.float64)
        return float(((x - self.mean) / self.scale) @ self.component)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(STYLE_SCORE_FEATURES), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "loadings": self.component.tolist(), "n_fit": self.n_fit}


def features_dict(f: StyleFeatures) -> dict[str, Any]:
    """The features as a plain dict (for JSON)."""
    return asdict(f)
