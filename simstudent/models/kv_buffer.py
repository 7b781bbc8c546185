"""Key/value cache layers over preallocated buffers, for the decode loop: new columns
are written in place instead of concatenated (on a CPU, transformers' dynamic cache
copied the whole cache at every step)."""

from __future__ import annotations

from typing import Any, Optional

import torch


def _room(t: torch.Tensor, room: int) -> torch.Tensor:
    """``t`` copied into a buffer with ``room`` spare columns (dim 2)."""
    buf = t.new_zeros((t.shape[0], t.shape[1], t.shape[2] + room, t.shape[3]))
    buf[:, :, : t.shape[2]] = t
    return buf


def _buffer_layer_class() -> type:
    """``_BufferLayer``, defined on first use (transformers is imported lazily)."""
    global _BufferLayerClass
    if _BufferLayerClass is not None:
        return _BufferLayerClass
    from transformers.cache_utils import DynamicLayer

    class _BufferLayer(DynamicLayer):
        """A cache layer over preallocated key/value buffers: ``update`` writes the
        new columns in place and returns views of the used part."""

        def __init__(self, buffers: Optional[tuple[torch.Tensor, torch.Tensor]], length: int, room: int,
                     dtype: Optional[torch.dtype] = None) -> None:
            super().__init__()
            self.kbuf, self.vbuf = buffers if buffers else (None, None)
            self.length = length
            self.room = room
            self.buffer_dtype = dtype  # None: the keys' own dtype
            self._views()

        def _views(self) -> None:
            self.is_initialized = self.kbuf is not None
            if self.kbuf is not None:
                self.keys = self.kbuf[:, :, : self.length]
                self.values = self.vbuf[:, :, : self.length]
                self.device, self.dtype = self.kbuf.device, self.kbuf.dtype

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
            n = key_states.shape[-2]
            end = self.length + n
            if self.kbuf is None:
                dtype = self.buffer_dtype or key_states.dtype
                self.kbuf = _room(key_states[:, :, :0].to(dtype), end + self.room)
                self.vbuf = _room(value_states[:, :, :0].to(dtype), end + self.room)
            elif end > self.kbuf.shape[2]:
                self.kbuf = _room(self.kbuf[:, :, : self.length], n + self.room)
                self.vbuf = _room(self.vbuf[:, :, : self.length], n + self.room)
            self.kbuf[:, :, self.length:end] = key_states
            self.vbuf[:, :, self.length:end] = value_states
            self.length = end
            self._views()
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.length + query_length, 0

    _BufferLayerClass = _BufferLayer
    return _BufferLayer


_BufferLayerClass: Optional[type] = None
