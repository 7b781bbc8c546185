"""metrics stage: how student-like generated code is (see docs/metrics.md).

- ``engine`` - every figure from measured items: groups, per-problem cells (KNN
  distance, coverage, paired cosine), functional and style measures, progress, and
  the real-vs-real floor on the model rows' own slots;
- ``records`` - the typed results (``Item``, ``GroupMetrics``, ``CellMetrics``,
  ``FloorGroup``, ``RunMetrics``) that ``simstudent metrics``, ``eval`` and ``report``
  share;
- ``conventions`` - the named measuring conventions (the paper authors' by default);
- ``embedding`` - KNN distance, coverage, paired cosine distance (d = 1 - cos);
- ``embedders`` - ``EMBEDDERS`` registry (minilm, tfidf, sfr-code), ``embed_codes``;
- ``cache`` - SQLite embedding cache keyed by (embedder, sha256(code));
- ``style`` - chars, lines, AST depth/width/nodes, PEP 8, style score (PC1);
- ``progress`` - edit distance, normalised-bin steps;
- ``rollout`` / ``similarity`` - closed-loop rollouts vs the real continuation;
- ``memorisation`` - exact / near copies of training code;
- ``items`` / ``compare`` - two datasets paired into engine items (``simstudent metrics``).

Nothing heavy is imported here; torch/transformers/sklearn load only when an
embedder runs.
"""
