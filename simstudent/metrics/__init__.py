"""metrics stage: how student-like generated code is (see docs/metrics.md).

- ``embedding`` - KNN distance, coverage, paired cosine distance (d = 1 - cos);
- ``embedders`` - ``EMBEDDERS`` registry (minilm, tfidf, sfr-code), ``embed_codes``;
- ``cache`` - SQLite embedding cache keyed by (embedder, sha256(code));
- ``functional`` - error-type distribution, pass rate under both conventions;
- ``style`` - chars, lines, AST depth/width/nodes, PEP 8, style score (PC1);
- ``progress`` - per normalised step: pass rate, style score, edit distance;
- ``rollout`` / ``similarity`` - closed-loop rollouts vs the real continuation;
- ``memorisation`` - exact / near copies of training code;
- ``items`` / ``compare`` - pairing and the full comparison; ``floor`` - real vs real.

Nothing heavy is imported here; torch/transformers/sklearn load only when an
embedder runs.
"""
