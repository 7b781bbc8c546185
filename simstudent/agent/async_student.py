"""The simulated student for async code: a tutor whose ``hint`` is a coroutine (it
calls a model or a web service), a web app that must not block its event loop.

Generation and grading are blocking (torch, the sandbox), so each attempt runs in a
worker thread (:func:`asyncio.to_thread`); the tutor's hint is awaited on the loop.
One attempt at a time per student, as in :class:`SimulatedStudent`, whose state
(trajectory, stop reason, seeds) this wraps.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Optional

from simstudent.agent.student import SimulatedStudent
from simstudent.schema import Attempt, Problem, Trajectory


async def ask_tutor(tutor: Any, problem: Problem, trajectory: Trajectory) -> Optional[str]:
    """``tutor.hint(problem, trajectory)``, awaited when the tutor is async."""
    hint = tutor.hint(problem, trajectory)
    if inspect.isawaitable(hint):
        hint = await hint
    return hint


class AsyncSimulatedStudent:
    """Async step API over a :class:`SimulatedStudent` (same constructor arguments)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.student = SimulatedStudent(*args, **kwargs)

    @property
    def trajectory(self) -> Trajectory:
        return self.student.trajectory

    @property
    def done(self) -> bool:
        return self.student.done

    def start(self, problem: Problem, max_attempts: Optional[int] = None) -> Trajectory:
        return self.student.start(problem, max_attempts)

    async def next_attempt(self, extra_feedback: Optional[str] = None) -> Attempt:
        """Make, grade and record one attempt without blocking the event loop."""
        return await asyncio.to_thread(self.student.next_attempt, extra_feedback)

    async def solve(self, problem: Problem, tutor: Any = None, max_attempts: Optional[int] = None) -> Trajectory:
        """Work ``problem`` until a stop rule fires, asking ``tutor`` (sync or async)
        before every attempt. A backend failure ends the trajectory ("error")."""
        self.start(problem, max_attempts)
        while not self.done:
            hint = await ask_tutor(tutor, problem, self.trajectory) if tutor is not None else None
            try:
                await self.next_attempt(hint)
            except RuntimeError:
                break  # recorded: stop reason "error", the message in trajectory.meta["error"]
        return self.trajectory
