"""Keys and values of recently prefilled prompts, so that a later prompt that starts
the same way prefills only its own rest.

In the closed loop, a student's next prompt repeats the start of its previous one (the
system prompt, the persona's past work, the problem) and only then differs (its new
attempts and feedback): about half of an 800-token prompt on the default model. The
store keeps each prompt's per-layer keys and values (no batch dimension) under its
token ids, least recently used first out, within a token budget.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Optional, Sequence

# A reuse shorter than this is not worth the copy.
MIN_REUSE = 8
# The default budget: the prompts of a few dozen live closed-loop students (about
# 1.5 GB of keys and values in bf16 on the default model).
DEFAULT_MAX_TOKENS = 65536


class PrefixStore:
    """Prompt token ids -> per-layer (keys, values) of shape [heads, tokens, dim]."""

    def __init__(self, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self.max_tokens = max_tokens
        self._entries: "OrderedDict[tuple[int, ...], list[tuple[Any, Any]]]" = OrderedDict()
        self._tokens = 0
        self.hits = 0
        self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, prompt: Sequence[int], limit: int) -> tuple[int, Optional[list[tuple[Any, Any]]]]:
        """(n, layers): the longest stored prefix of ``prompt`` (at most ``limit``
        tokens) and the entry holding it; (0, None) when none is long enough."""
        best, best_key = 0, None
        target = tuple(prompt)
        for key in self._entries:
            n = len(os.path.commonprefix([key, target]))
            if n > best:
                best, best_key = n, key
        best = min(best, limit)
        if best < MIN_REUSE or best_key is None:
            return 0, None
        self._entries.move_to_end(best_key)
        self.hits += 1
        self.reused_tokens += best
        return best, self._entries[best_key]

    def add(self, prompt: Sequence[int], layers: list[tuple[Any, Any]]) -> None:
        """Keep ``layers`` (each [heads, len(prompt), dim]) for ``prompt``."""
        if self.max_tokens <= 0 or len(prompt) > self.max_tokens:
            return
        key = tuple(prompt)
        if key in self._entries:
            self._entries.move_to_end(key)
            return
        self._entries[key] = layers
        self._tokens += len(key)
        while self._tokens > self.max_tokens and self._entries:
            old, _ = self._entries.popitem(last=False)
            self._tokens -= len(old)
