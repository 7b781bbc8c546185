"""Examples -> token ids + labels for completion-only supervised fine-tuning.

Each example is rendered with one prompt template (``ft-*``: raw text; ``chat-*``: the
tokenizer's chat template), tokenised exactly as the ``hf`` backend tokenises prompts
at sampling time, and followed by its completion and the EOS token. Labels are -100
on every prompt token, so the loss covers the completion (and EOS) only.

Too-long examples keep their completion and lose the *start* of the prompt (the
past-problem context and instructions go first; the latest attempts stay); a
completion longer than 3/4 of ``max_seq_len`` is cut at the end. Both are counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

from simstudent.models.loading import encode_messages, encode_prompt
from simstudent.prompts import get_template, render_example
from simstudent.schema import Example, Problem
from simstudent.errors import NotFoundError
from simstudent.training.loop_data import RenderedExample

TrainExample = Union[Example, RenderedExample]

IGNORE_INDEX = -100


@dataclass
class Feature:
    """One tokenised training example."""

    input_ids: list[int]
    labels: list[int]
    key: str = ""


@dataclass
class FeatureStats:
    n: int = 0
    prompt_truncated: int = 0
    completion_truncated: int = 0
    tokens: int = 0
    completion_tokens: int = 0
    missing_problems: list[str] = field(default_factory=list)


def fingerprint(examples: Sequence[TrainExample]) -> str:
    """sha256 of the training examples (their JSON, in order): the adapter's data id."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(ex.model_dump_json().encode())
        h.update(b"\n")
    return h.hexdigest()


def tokenize_example(
    example: TrainExample, problem: Problem, tokenizer: Any, template: str, max_seq_len: int
) -> tuple[Feature, bool, bool]:
    """(feature, prompt truncated?, completion truncated?) for one example (a paper
    Example rendered with ``template``, or an already rendered loop example)."""
    rendered = example if isinstance(example, RenderedExample) else render_example(example, problem, template)
    if rendered.prompt is not None:
        prompt_ids = encode_prompt(tokenizer, rendered.prompt)
    else:
        prompt_ids = encode_messages(tokenizer, rendered.messages or [])
    completion_ids = encode_prompt(tokenizer, rendered.completion or "") + [tokenizer.eos_token_id]
    cut_completion = False
    limit = max_seq_len - max_seq_len // 4
    if len(completion_ids) > limit:
        completion_ids, cut_completion = completion_ids[:limit], True
    room = max_seq_len - len(completion_ids)
    cut_prompt = len(prompt_ids) > room
    if cut_prompt:
        prompt_ids = prompt_ids[len(prompt_ids) - room:]
    return (
        Feature(prompt_ids + completion_ids, [IGNORE_INDEX] * len(prompt_ids) + completion_ids, example.key),
        cut_prompt,
        cut_completion,
    )


def build_features(
    examples: Sequence[TrainExample],
    problems: dict[str, Problem],
    tokenizer: Any,
    template: str,
    max_seq_len: int,
) -> tuple[list[Feature], FeatureStats]:
    """Tokenise every example; examples whose problem is unknown raise a clear error."""
    get_template(template)  # fail early on a bad name
    stats = FeatureStats()
    missing = sorted({e.problem_id for e in examples} - set(problems))
    if missing:
        raise NotFoundError(f"no problem spec for {len(missing)} problem(s) of the examples: {', '.join(missing[:10])}")
    features = []
    for ex in examples:
        feat, cut_p, cut_c = tokenize_example(ex, problems[ex.problem_id], tokenizer, template, max_seq_len)
        features.append(feat)
        stats.n += 1
        stats.prompt_truncated += cut_p
        stats.completion_truncated += cut_c
        stats.tokens += len(feat.input_ids)
        stats.completion_tokens += sum(1 for x in feat.labels if x != IGNORE_INDEX)
    return features, stats


def collate(batch: Sequence[Feature], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels (-100 on padding)."""
    import torch

    width = max(len(f.input_ids) for f in batch)
    ids = [f.input_ids + [pad_id] * (width - len(f.input_ids)) for f in batch]
    labels = [f.labels + [IGNORE_INDEX] * (width - len(f.labels)) for f in batch]
    mask = [[1] * len(f.input_ids) + [0] * (width - len(f.input_ids)) for f in batch]
    return {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "attention_mask": torch.tensor(mask, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
    }
