"""A lean forward pass for Llama-architecture models (SmolLM2 is one), for the loop
decoder on a CPU.

Why: decoding the default 135M model on a CPU, a step is a few dozen small matrix
products, and transformers' module-by-module forward (a dozen modules per layer, each
with its hooks and keyword plumbing, a cache object per layer, a mask builder) added
about 8 ms to a 45 ms step. This pass does the same arithmetic from the same weights
with less around it:

- the query/key/value projections are one matrix product, and so are the MLP's gate
  and up projections (their weights concatenated once, at build time);
- rotary embeddings, RMS norm and the residual stream follow transformers' Llama code
  operation for operation (same dtypes, same order);
- with one torch thread and bf16/fp16 weights, keys and values are kept in float32
  buffers: the same numbers (a bf16 value is exact in float32), and there torch's CPU
  attention made a decode step of 12 rows over 900 tokens 66 instead of 77 ms; queries
  are raised to float32 for attention and the output rounded back to the weights' dtype,
  as transformers does after its float32 softmax. With two or more threads the two
  measured the same (16 rows: 54 vs 52 ms) and the float32 cache took about a third more
  memory in a cohort (peak 5.3 against 3.6 GB), so keys and values stay in the weights'
  dtype there;
- a decode step attends through :func:`simstudent.models.attention.grouped_decode_attention`.

Only plain Llama configurations are taken (SiLU MLP, no biases, default RoPE, no
sliding window); :func:`lean_forward_for` returns None for anything else and the loop
uses transformers' forward. tests/test_lean_llama.py checks the logits against
transformers' on a tiny random Llama and on the default model.
"""

from __future__ import annotations

from typing import Any, Optional

import torch


def _base(model: Any) -> Any:
    """The transformers model inside a peft wrapper (the model itself otherwise)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _weight(linear: Any) -> torch.Tensor:
    """A linear layer's weight; for a peft LoRA layer its base layer's (only used with
    the adapter disabled)."""
    return (linear.base_layer if hasattr(linear, "base_layer") else linear).weight


def unsupported(model: Any) -> Optional[str]:
    """Why ``model`` cannot run here (None when it can)."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) != "llama":
        return "not a Llama model"
    rope = getattr(config, "rope_parameters", None) or {}
    checks = {
        "activation": getattr(config, "hidden_act", "silu") == "silu",
        "attention bias": not getattr(config, "attention_bias", False),
        "mlp bias": not getattr(config, "mlp_bias", False),
        "rope type": rope.get("rope_type", "default") == "default",
        "pretraining_tp": getattr(config, "pretraining_tp", 1) == 1,
    }
    bad = [name for name, ok in checks.items() if not ok]
    return f"unsupported: {', '.join(bad)}" if bad else None


class LeanLlama:
    """``forward(ids, mask, pos, past, room)`` with the decode loop's conventions: ``mask``
    covers the cached columns and the new ones (1 = a real token), ``pos`` the new
    tokens' positions, ``past`` = (per-layer (key, value) buffers, used length) or None.
    Returns (logits of each row's last token, (buffers, used length))."""

    def __init__(self, model: Any) -> None:
        from simstudent.models.kv_buffer import _buffer_layer_class

        base = _base(model)
        config = base.config
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.scaling = self.head_dim ** -0.5
        self.dtype = base.lm_head.weight.dtype
        # keys/values in float32 for bf16/fp16 weights at one thread (see the module docstring)
        low = self.dtype in (torch.bfloat16, torch.float16)
        self.kv_dtype = torch.float32 if low and torch.get_num_threads() == 1 else self.dtype
        inner = base.model
        self.embed = inner.embed_tokens.weight
        self.norm = (inner.norm.weight, inner.norm.variance_epsilon)
        self.head = base.lm_head.weight
        rotary = inner.rotary_emb
        self.inv_freq = rotary.inv_freq.float()
        self.rope_scaling = float(rotary.attention_scaling)
        self.layers = []
        for layer in inner.layers:
            att, mlp = layer.self_attn, layer.mlp
            with torch.no_grad():
                qkv = torch.cat([_weight(att.q_proj), _weight(att.k_proj), _weight(att.v_proj)])
                gate_up = torch.cat([_weight(mlp.gate_proj), _weight(mlp.up_proj)])
            self.layers.append((
                (layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon), qkv, _weight(att.o_proj),
                (layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon),
                gate_up, _weight(mlp.down_proj),
            ))
        self._cache_layer = _buffer_layer_class()

    @staticmethod
    def _rms(x: torch.Tensor, norm: tuple[torch.Tensor, float]) -> torch.Tensor:
        weight, eps = norm
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
        return weight * h.to(x.dtype)

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin

    def _attention_mask(self, mask: torch.Tensor, length: int, new: int) -> tuple[Optional[torch.Tensor], bool]:
        """(mask [batch, 1, new, columns] or None, is_causal) for the new tokens: additive
        (0 / -inf, in the cache's dtype) for a decode step, boolean for a prefill."""
        cols = mask.bool()
        if new == 1:  # additive: torch converts a boolean mask at every layer
            if bool(cols.all()):
                return None, False
            blocked = torch.zeros(cols.shape, dtype=self.kv_dtype, device=mask.device)
            return blocked.masked_fill_(~cols, float("-inf"))[:, None, None, :], False
        if length == 0 and bool(cols.all()):
            return None, True
        q = torch.arange(new, device=mask.device)[:, None] + length
        k = torch.arange(cols.shape[1], device=mask.device)[None, :]
        return cols[:, None, None, :] & (k <= q)[None, None], False

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor,
                 past: Optional[tuple[list, int]], room: int) -> tuple[torch.Tensor, tuple[list, int]]:
        from simstudent.models.attention import grouped_decode_attention

        buffers, length = past if past else (None, 0)
        batch, new = ids.shape
        x = torch.nn.functional.embedding(ids, self.embed)
        freqs = pos[..., None].float() * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = (emb.cos() * self.rope_scaling).to(self.dtype)[:, None]
        sin = (emb.sin() * self.rope_scaling).to(self.dtype)[:, None]
        attn_mask, causal = self._attention_mask(mask, length, new)
        groups = self.heads // self.kv_heads
        q_size, kv_size = self.heads * self.head_dim, self.kv_heads * self.head_dim
        out_layers = []
        for i, (norm1, qkv_w, o_w, norm2, gate_up_w, down_w) in enumerate(self.layers):
            h = self._rms(x, norm1)
            q, k, v = torch.nn.functional.linear(h, qkv_w).split([q_size, kv_size, kv_size], dim=-1)
            q = q.view(batch, new, self.heads, self.head_dim).transpose(1, 2)
            k = k.view(batch, new, self.kv_heads, self.head_dim).transpose(1, 2)
            v = v.view(batch, new, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = self._rotate(q, cos, sin), self._rotate(k, cos, sin)
            cache = self._cache_layer(buffers[i] if buffers else None, length, room, dtype=self.kv_dtype)
            keys, values = cache.update(k, v)
            out_layers.append((cache.kbuf, cache.vbuf))
            q = q.to(self.kv_dtype)
            if new == 1:
                att, _ = grouped_decode_attention(None, q, keys, values, attn_mask, scaling=self.scaling)
            else:
                if attn_mask is None:
                    att = torch.nn.functional.scaled_dot_product_attention(
                        q, keys, values, is_causal=causal, scale=self.scaling, enable_gqa=groups > 1)
                else:
                    att = torch.nn.functional.scaled_dot_product_attention(
                        q, keys.repeat_interleave(groups, 1), values.repeat_interleave(groups, 1),
                        attn_mask=attn_mask, scale=self.scaling)
                att = att.transpose(1, 2)
            att = att.to(self.dtype).reshape(batch, new, q_size)
            x = x + torch.nn.functional.linear(att, o_w)
            h = self._rms(x, norm2)
            gate, up = torch.nn.functional.linear(h, gate_up_w).chunk(2, dim=-1)
            x = x + torch.nn.functional.linear(torch.nn.functional.silu(gate) * up, down_w)
        last = self._rms(x[:, -1], self.norm)
        logits = torch.nn.functional.linear(last, self.head)
        return logits, (out_layers, length + new)


def lean_forward_for(model: Any) -> Optional[LeanLlama]:
    """A :class:`LeanLlama` over ``model``'s weights, or None when it is not a plain
    Llama (the loop then runs transformers' forward)."""
    return None if unsupported(_base(model)) is not None else LeanLlama(model)
