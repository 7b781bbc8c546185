"""Code-to-code similarity used by the rollout metrics.

- ``ast_match``: the names-normalised ASTs are equal (``normalise.normalised_ast_dump``);
  code that does not parse never matches.
- ``codebleu_like``: a CodeBLEU-style score written here (not the official CodeBLEU,
  which also needs a data-flow graph):

      0.50 * BLEU(tokens) + 0.25 * node-type Dice + 0.25 * subtree recall

  BLEU: n = 1..4, clipped n-gram precision p_n, uniform weights; p_1 unsmoothed,
  p_n = (m_n + 1) / (c_n + 1) for n >= 2 (Lin & Och smoothing); brevity penalty
  exp(1 - r/c) when the candidate has c <= r reference tokens (0 when c = 0).
  Node-type Dice: 2|R & C| / (|R| + |C|) over the multisets of AST node type names
  (``ast.walk``, context nodes included). Subtree recall: the share of the reference's
  subtrees (``ast.dump`` of every statement/expression node except the leaves Name and
  Constant, names normalised) found in the candidate, counts clipped (CodeBLEU's
  syntax match). When neither code parses the score is BLEU alone; when only one
  parses the two AST parts are 0.
"""

from __future__ import annotations

import ast
import math
from collections import Counter
from typing import Optional

from simstudent.metrics.normalise import code_tokens, normalised_ast, normalised_ast_dump, parse_or_none

BLEU_WEIGHT, NODE_TYPE_WEIGHT, SUBTREE_WEIGHT = 0.5, 0.25, 0.25


def ast_match(reference: str, candidate: str) -> bool:
    """True when both parse and their names-normalised ASTs are identical."""
    a, b = normalised_ast_dump(reference), normalised_ast_dump(candidate)
    return a is not None and a == b


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu(reference: list[str], candidate: list[str], max_n: int = 4) -> float:
    """Sentence BLEU of candidate tokens against one reference (see module docstring)."""
    if not candidate:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        cand, ref = _ngrams(candidate, n), _ngrams(reference, n)
        matches = sum(min(c, ref[g]) for g, c in cand.items())
        total = sum(cand.values())
        if n == 1:
            if matches == 0:
                return 0.0
            p = matches / total
        else:
            p = (matches + 1) / (total + 1)
        logs.append(math.log(p))
    c, r = len(candidate), len(reference)
    bp = 1.0 if c > r else math.exp(1 - r / c)
    return bp * math.exp(sum(logs) / max_n)


def node_types(tree: ast.AST) -> Counter:
    """Multiset of node type names in a tree."""
    return Counter(type(n).__name__ for n in ast.walk(tree))


def subtrees(tree: ast.AST) -> Counter:
    """Multiset of dumps of the tree's non-leaf statement/expression subtrees."""
    return Counter(
        ast.dump(n) for n in ast.walk(tree)
        if isinstance(n, (ast.stmt, ast.expr)) and not isinstance(n, (ast.Name, ast.Constant))
    )


def dice(a: Counter, b: Counter) -> float:
    """2|a & b| / (|a| + |b|) for multisets; 1.0 when both are empty."""
    total = sum(a.values()) + sum(b.values())
    return 2 * sum((a & b).values()) / total if total else 1.0


def subtree_recall(reference: Counter, candidate: Counter) -> float:
    """Clipped share of reference subtrees present in the candidate; 1.0 when the
    reference has none."""
    total = sum(reference.values())
    return sum((reference & candidate).values()) / total if total else 1.0


def codebleu_like(reference: str, candidate: str) -> float:
    """The weighted n-gram + AST overlap score in [0, 1] (see module docstring)."""
    b = bleu(code_tokens(reference), code_tokens(candidate))
    ref_tree: Optional[ast.AST] = normalised_ast(reference)
    cand_tree: Optional[ast.AST] = normalised_ast(candidate)
    if ref_tree is None and cand_tree is None:
        return b
    if ref_tree is None or cand_tree is None:
        return BLEU_WEIGHT * b
    nt = dice(node_types(ref_tree), node_types(cand_tree))
    st = subtree_recall(subtrees(ref_tree), subtrees(cand_tree))
    return BLEU_WEIGHT * b + NODE_TYPE_WEIGHT * nt + SUBTREE_WEIGHT * st


def parses(code: str) -> bool:
    """Whether the code parses."""
    return parse_or_none(code) is not None
