"""Experiments: the seed paper's exp1/exp2, closed-loop rollouts, and the report.

- ``inputs``: dataset + problem specs + split + test examples;
- ``runner``: exp1/exp2 runs (generate, grade) into a run folder (``runfolder``);
- ``rollout`` / ``rollout_measure``: closed-loop runs of the SimulatedStudent;
- ``measure``: graded items -> ``metrics.json`` (engine and schema: ``simstudent.metrics``);
- ``report``: tables, figures, HTML and Markdown from runs' metrics.

Heavy dependencies (torch, transformers, matplotlib) are imported lazily.
"""
