"""Code normalisation shared by the metrics: newlines, tokens, comment/whitespace-free
text and a names-normalised AST dump.

Everything here is pure Python (``tokenize`` + ``ast``) and never raises on bad code:
student code often does not tokenize or parse, so each function has a defined
fallback, stated in its docstring.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import tokenize
from typing import Optional

_LAYOUT = {tokenize.NEWLINE: "<NL>", tokenize.INDENT: "<INDENT>", tokenize.DEDENT: "<DEDENT>"}
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
_FALLBACK_TOKEN = re.compile(r"\w+|[^\w\s]")
_BUILTIN_NAMES = frozenset(dir(builtins))


def normalise_newlines(code: str) -> str:
    """``\\r\\n`` and ``\\r`` become ``\\n`` (ITAP stores ``\\r\\n``), so character counts,
    edit distances and hashes do not depend on the platform the code came from."""
    return code.replace("\r\n", "\n").replace("\r", "\n")


def _raw_tokens(code: str) -> Optional[list[tokenize.TokenInfo]]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(normalise_newlines(code)).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError, ValueError):
        return None


def code_tokens(code: str) -> list[str]:
    """The code's lexical tokens without comments and layout (names, operators,
    literals), as used by the BLEU part of the code-similarity score. Code that
    ``tokenize`` rejects falls back to the regex ``\\w+|[^\\w\\s]``."""
    toks = _raw_tokens(code)
    if toks is None:
        return _FALLBACK_TOKEN.findall(normalise_newlines(code))
    return [t.string for t in toks if t.type not in _SKIP and t.type not in _LAYOUT]


def normalise_code(code: str) -> str:
    """Code with comments and insignificant whitespace removed, structure kept.

    Tokens are joined by single spaces, and the logical-line / indent / dedent
    tokens are kept as markers, so ``x=1  # hi`` and ``x = 1`` normalise equal while
    a statement moved in or out of a block does not. Code that does not tokenize
    falls back to: drop ``#...`` to end of line, collapse runs of whitespace, drop
    empty lines (a ``#`` inside a string is then lost too; acceptable for a
    copy check).
    """
    toks = _raw_tokens(code)
    if toks is None:
        lines = []
        for line in normalise_newlines(code).split("\n"):
            line = " ".join(line.split("#", 1)[0].split())
            if line:
                lines.append(line)
        return "\n".join(lines)
    out = []
    for t in toks:
        if t.type in _SKIP:
            continue
        out.append(_LAYOUT.get(t.type, t.string))
    # A trailing NEWLINE/DEDENT run carries no information and differs with a
    # missing final newline; drop it so "x = 1" == "x = 1\n".
    while out and out[-1] in ("<NL>", "<DEDENT>"):
        out.pop()
    return " ".join(out)


def parse_or_none(code: str) -> Optional[ast.Module]:
    """``ast.parse`` or None when the code does not parse (any reason)."""
    try:
        return ast.parse(normalise_newlines(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


class _Renamer(ast.NodeTransformer):
    """Renames user identifiers to v0, v1, ... in first-visit (depth-first, field)
    order. Builtins (``print``, ``len``, ...) and attribute names (``.append``) keep
    their names because they change what the code does."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _map(self, name: Optional[str], *, only_known: bool = False) -> Optional[str]:
        if name is None or name in _BUILTIN_NAMES and name not in self.names:
            return name
        if name not in self.names:
            if only_known:
                return name
            self.names[name] = f"v{len(self.names)}"
        return self.names[name]

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._map(node.id)  # type: ignore[assignment]
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._map(node.arg)  # type: ignore[assignment]
        self.generic_visit(node)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        node.arg = self._map(node.arg, only_known=True)
        self.generic_visit(node)
        return node

    def _visit_def(self, node: ast.AST) -> ast.AST:
        node.name = self._map(node.name)  # type: ignore[attr-defined]
        body = node.body  # type: ignore[attr-defined]
        # Docstrings are comments in effect: drop them before comparing.
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str) and len(body) > 1:
            node.body = body[1:]  # type: ignore[attr-defined]
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_def

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        node.name = self._map(node.name)
        self.generic_visit(node)
        return node

    def visit_Global(self, node: ast.Global) -> ast.AST:
        node.names = [self._map(n) for n in node.names]  # type: ignore[misc]
        return node

    visit_Nonlocal = visit_Global  # type: ignore[assignment]


def normalised_ast(code: str) -> Optional[ast.Module]:
    """The parsed code with identifiers renamed (see ``_Renamer``) and docstrings
    dropped; None when it does not parse."""
    tree = parse_or_none(code)
    if tree is None:
        return None
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant) \
            and isinstance(tree.body[0].value.value, str) and len(tree.body) > 1:
        tree.body = tree.body[1:]
    return _Renamer().visit(tree)


def normalised_ast_dump(code: str) -> Optional[str]:
    """``ast.dump`` of ``normalised_ast(code)`` (no line numbers); None if it does not
    parse. Two codes that differ only in names, comments, layout and docstrings give
    the same dump."""
    tree = normalised_ast(code)
    return None if tree is None else ast.dump(tree)
