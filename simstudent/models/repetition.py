"""Loop detection for sampled text (``SamplingParams.stop_repeats``)."""

from __future__ import annotations

# Longest block of lines checked for a loop (a repeated docstring paragraph, a repeated
# if/else pair); longer repeated blocks run to the budget.
MAX_REPEAT_BLOCK = 8


def repeats_at_end(text: str, times: int, max_block: int = MAX_REPEAT_BLOCK) -> bool:
    """True when the complete lines of ``text`` end with one line, or one block of up
    to ``max_block`` lines, written ``times`` times in a row (trailing spaces ignored;
    a block of blank lines does not count). Degenerate sampling - a docstring line
    repeated until the token budget runs out - looks like this; code almost never does."""
    lines = [ln.rstrip() for ln in text.split("\n")[:-1]]  # the last piece is an unfinished line
    for size in range(1, max_block + 1):
        if size * times > len(lines):
            break
        block = lines[-size:]
        if not any(block):
            continue
        if all(lines[len(lines) - (k + 1) * size:len(lines) - k * size] == block for k in range(1, times)):
            return True
    return False
