"""simstudent: simulated novice programmers.

Importing this package is cheap: heavy libraries (torch, transformers, vllm) load
only when a backend, trainer or embedder is first used.
"""

from simstudent.schema import (
    Attempt,
    Dataset,
    Example,
    GradeResult,
    Persona,
    Problem,
    Stream,
    Submission,
    TestCase,
    Trajectory,
)

__version__ = "0.1.0"

__all__ = [
    "Attempt",
    "Dataset",
    "Example",
    "GradeResult",
    "Persona",
    "Problem",
    "Stream",
    "Submission",
    "TestCase",
    "Trajectory",
    "__version__",
]
