"""agent stage: the closed-loop simulated student, cohorts, tutors, exports.

- :class:`SimulatedStudent` / :class:`StudentConfig` (``student``): one student, attempt
  by attempt, graded in the sandbox, until ``<SUBMIT>``, a pass, a stall or the budget;
  :class:`AsyncSimulatedStudent` (``async_student``) for async code.
- :func:`run_step` / :func:`run_continuous` (``step``): the one closed-loop step (batched
  generate, parallel grading, records) that students, cohorts and the rollout experiment
  share; continuously scheduled on a backend that supports it.
- :func:`resolve_persona` (``personas``): bundled personas and real students (``itap:S002``).
- :func:`summarise` / :class:`CohortOutcome` (``summary``): pass, gave-up, truncation rates.
- :class:`Cohort` / :class:`CohortConfig` (``cohort``): many students x problems, one
  batched generate call per step, append-only and resumable output.
- :class:`Tutor`, :data:`TUTORS`, :class:`RuleBasedTutor`, :func:`compare_with_tutor` (``tutor``).
- :func:`export_progsnap2`, :func:`export_jsonl` (``export``); :class:`GapSampler` (``timing``).

See docs/agent.md.
"""

from simstudent.agent.async_student import AsyncSimulatedStudent
from simstudent.agent.cohort import Cohort, CohortConfig, load_cohort_config, load_trajectories, run_cohort
from simstudent.agent.export import export_jsonl, export_progsnap2, trajectories_to_dataset
from simstudent.agent.personas import resolve_persona
from simstudent.agent.prompting import PromptSettings
from simstudent.agent.step import run_continuous, run_step
from simstudent.agent.student import SimulatedStudent, StudentConfig
from simstudent.agent.timing import GapSampler
from simstudent.agent.summary import CohortOutcome, summarise
from simstudent.agent.tutor import TUTORS, RuleBasedTutor, Tutor, TutorComparison, compare_with_tutor, tutor_fingerprint

__all__ = [
    "AsyncSimulatedStudent",
    "Cohort",
    "CohortOutcome",
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
    "load_cohort_config",
    "load_trajectories",
    "resolve_persona",
    "run_continuous",
    "run_step",
    "run_cohort",
    "summarise",
    "trajectories_to_dataset",
    "tutor_fingerprint",
]
