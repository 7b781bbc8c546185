"""The attention function of the loop decoder: transformers' sdpa attention, except for
a decode step (one query token per row), whose query heads are grouped by the key/value
head they share before torch's ``scaled_dot_product_attention`` runs.

Why: for grouped-query models (SmolLM2: 9 query heads over 3 key/value heads)
transformers hands torch ``enable_gqa=True`` whenever there is no padding mask. On a CPU
(torch 2.13) that path of the flash kernel is about 7x slower for a single query token
than attending the grouped queries directly: a batch of 12 rows over 900 cached tokens
took 7.9 ms per layer instead of 1.1 ms, most of a decode step of the default model.
With a mask, transformers already groups the queries; this makes both cases do it.
Prefill (several query tokens) is left to transformers' own sdpa path. The arithmetic is
the same softmax attention; only the kernel's work layout changes. With float32 keys (the
lean forward keeps its cache in float32) a decode step uses two plain matrix products
instead, which measured a little faster than the flash kernel there (a batch of 12 over
900 tokens: 69.7 against 74.6 ms per step of the default model).
"""

from __future__ import annotations

from typing import Any, Optional

NAME = "simstudent_sdpa"
_registered = False


def grouped_decode_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Optional[Any],
                             dropout: float = 0.0, scaling: Optional[float] = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers' attention-function signature: ``query`` is (batch, heads, q, dim),
    ``key``/``value`` (batch, kv_heads, k, dim); returns (batch, q, heads, dim)."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, q_len, dim = query.shape
    groups = heads // key.shape[1]
    plain = kwargs.get("softcap") is None and kwargs.get("position_bias") is None
    mask_ok = attention_mask is None or (attention_mask.dim() == 4 and attention_mask.shape[1] == 1)
    if q_len != 1 or groups == 1 or heads != groups * key.shape[1] or not (plain and mask_ok):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    # query head h uses key/value head h // groups (transformers' repeat_kv order)
    grouped = query.reshape(batch, heads // groups, groups, dim)
    if key.dtype == torch.float32 and dropout == 0.0:
        # plain matrix products: in float32 a little faster than the flash kernel for a
        # decode step (in bf16 they are slower)
        scores = torch.matmul(grouped, key.transpose(-1, -2)) * (scaling if scaling is not None else dim ** -0.5)
        if attention_mask is not None:
            scores = scores.masked_fill(~attention_mask, float("-inf")) if attention_mask.dtype == torch.bool \
                else scores + attention_mask
        out = torch.matmul(torch.softmax(scores, -1), value)
    else:
        out = torch.nn.functional.scaled_dot_product_attention(grouped, key, value, attn_mask=attention_mask,
                                                               dropout_p=dropout, scale=scaling)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


def register() -> str:
    """Registers the function (and sdpa's mask builder) with transformers under
    :data:`NAME`, once; returns the name to load a model with."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(NAME, grouped_decode_attention)
        AttentionMaskInterface.register(NAME, sdpa_mask)
        _registered = True
    return NAME
