"""Beyond one machine: cohorts on Ray actors, evaluations through Ray Data + vLLM,
grading and embedding as Ray tasks.

Nothing here imports Ray at module load (``pip install -e ".[ray]"`` adds it); the
functions that need it import it when called.
"""

from simstudent.scale.cohort import RayCohort, RayConfig, RayUnavailable, run_cohort_on_ray
from simstudent.scale.embedding import RayEmbedder, RayEmbeddingConfig, RayEmbeddingError
from simstudent.scale.grading import RayGrader, RayGradingConfig, RayGradingError

__all__ = ["RayCohort", "RayConfig", "RayEmbedder", "RayEmbeddingConfig", "RayEmbeddingError", "RayGrader",
           "RayGradingConfig", "RayGradingError", "RayUnavailable", "run_cohort_on_ray"]
