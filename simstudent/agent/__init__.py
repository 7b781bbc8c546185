"""agent stage: the closed-loop simulated student, cohorts, tutors, exports.

- :class:`SimulatedStudent` / :class:`StudentConfig` (``student``): one student, attempt
  by attempt, graded in the sandbox, until ``<SUBMIT>``, a pass, a stall or the budget.
- :class:`Cohort` / :class:`CohortConfig` (``cohort``): many students x problems, one
  batched generate call per step, append-only and resumable output.
- :class:`Tutor`, :data:`TUTORS`, :class:`RuleBasedTutor`, :func:`compare_with_tutor` (``tutor``).
- :func:`export_progsnap2`, :func:`export_jsonl` (``export``); :class:`GapSampler` (``timing``).

See docs/agent.md.
"""

from simstudent.agent.cohort import Cohort, CohortConfig, load_cohort_config, load_trajectories, run_cohort
from simstudent.agent.export import export_jsonl, export_progsnap2, trajectories_to_dataset
from simstudent.agent.prompting import PromptSettings
from simstudent.agent.student import SimulatedStudent, StudentConfig
from simstudent.agent.timing import GapSampler
from simstudent.agent.tutor import TUTORS, RuleBasedTutor, Tutor, TutorComparison, compare_with_tutor, summarise

__all__ = [
    "Cohort",
    "CohortConfig",
    "GapSampler",
    "PromptSettings",
    "RuleBasedTutor",
    "SimulatedStudent",
    "StudentConfig",
    "TUTORS",
    "Tutor",
    "TutorComparison",
    "compare_with_tutor",
    "export_jsonl",
    "export_progsnap2",
    "load_trajectories",
    "run_cohort",
    "summarise",
    "trajectories_to_dataset",
]
