"""Beyond one machine: cohorts on Ray actors, evaluations through Ray Data + vLLM,
grading as Ray tasks.

Nothing here imports Ray at module load (``pip install -e ".[ray]"`` adds it); the
functions that need it import it when called.
"""

from simstudent.scale.cohort import RayCohort, RayConfig, RayUnavailable, run_cohort_on_ray
from simstudent.scale.grading import RayGrader, RayGradingConfig, RayGradingError

__all__ = ["RayCohort", "RayConfig", "RayGrader", "RayGradingConfig", "RayGradingError", "RayUnavailable",
           "run_cohort_on_ray"]
