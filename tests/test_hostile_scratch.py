"""Nothing a submission writes is seen by a later one, on the same worker or another.

A writer submission leaves a marker in every place it can write: ``/tmp``,
``/dev/shm``, its working directory, ``~``, a POSIX message queue, a SysV shared
memory segment and, under bubblewrap, every writable directory of the whole
sandbox it can find. Reader submissions, graded afterwards on every worker, look
for any of it. Runs at each namespaced level that starts here, as whatever user
runs the tests (CI runs this file as root and, through scripts/ci_nonroot.sh, as an
ordinary user).
"""

from __future__ import annotations

import os
import textwrap
import uuid

import pytest

import test_hostile as hostile
from simstudent.grader import Grader
from simstudent.grader.doctests import parse_doctests
from simstudent.grader.sandbox import probe
from simstudent.schema import Problem

PROBE = Problem(id="probe", function_name="probe", tests=parse_doctests(">>> probe()\n'ok'"))
PREFIX = "simstudent-marker-"

# The places every namespaced level promises to keep private and fresh.
_COMMON = r'''
import ctypes, ctypes.util, os, time
MARK = "{mark}"
NAMED = ["/tmp", "/dev/shm", ".", os.path.expanduser("~")]

def rw_mounts():
    """Mount points of writable mounts, from /proc/self/mountinfo."""
    out = []
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        if "rw" in f[5].split(",") and f[4] not in ("/proc", "/sys") and not f[4].startswith(("/proc/", "/sys/")):
            out.append(f[4])
    return out

def every_dir():
    """Under bubblewrap: every directory of the sandbox that is, or leads to, a writable mount."""
    mounts = rw_mounts()
    for root, dirs, files in os.walk("/"):
        keep = []
        for d in dirs:
            p = os.path.join(root, d)
            if any(m == p or m.startswith(p + "/") for m in mounts) or not os.statvfs(p).f_flag & os.ST_RDONLY:
                keep.append(d)
        dirs[:] = [d for d in keep if os.path.join(root, d) not in ("/proc", "/sys")]
        yield root
'''

WRITER = _COMMON + r'''
def write_everywhere():
    wrote, failed = [], []
    time.sleep(0.2)  # keep this worker busy so the batch spreads over every worker
    for d in NAMED:
        os.makedirs(d, exist_ok=True)
        try:
            with open(os.path.join(d, MARK + "named"), "w") as fh:
                fh.write("left for the next submission")
            wrote.append(d)
        except OSError as exc:
            failed.append((d, str(exc)))
    if {walk}:
        for d in every_dir():
            try:
                with open(os.path.join(d, MARK + "walk"), "w") as fh:
                    fh.write("x")
                wrote.append(d)
            except OSError:
                pass
    libc = ctypes.CDLL(None, use_errno=True)
    # A SysV shared-memory segment (key from the marker) and a POSIX message queue.
    if libc.shmget(0x5157, 4096, 0o1666) < 0:
        failed.append(("shmget", ctypes.get_errno()))
    try:
        rt = ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1", use_errno=True)
        if rt.mq_open(("/" + MARK + "mq").encode(), os.O_CREAT | os.O_RDWR, 0o666, None) < 0:
            failed.append(("mq_open", ctypes.get_errno()))
    except OSError:
        pass  # no librt here: nothing to leave that way
    return wrote, failed

WROTE, FAILED = write_everywhere()

def probe():
    return "ok" if not FAILED and len(WROTE) >= 4 else (WROTE, FAILED)
'''

READER = _COMMON + r'''
def look():
    time.sleep(0.1)
    seen = []
    places = set(NAMED) | {{"/dev/mqueue"}}
    if {walk}:
        places |= set(every_dir())
    for d in places:
        try:
            seen += [os.path.join(d, n) for n in os.listdir(d) if n.startswith("{prefix}") or n == "~"]
        except OSError:
            pass
    for kind in ("shm", "msg", "sem"):
        try:
            rows = open("/proc/sysvipc/" + kind).read().splitlines()[1:]
        except OSError:
            continue
        seen += ["sysv " + kind + ": " + r.split()[0] for r in rows]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.shmget(0x5157, 0, 0) >= 0:
        seen.append("shmget found the writer's segment")
    return seen

SEEN = look()

def probe():
    return "ok" if not SEEN else SEEN
'''


def _levels():
    return ["bubblewrap", "unshare"]


@pytest.fixture(scope="module", params=_levels())
def level_grader(request):
    ok, why = probe(request.param)
    if not ok:
        pytest.skip(f"isolation {request.param!r} unavailable here: {why}")
    g = Grader(hostile.hostile_config(request.param).model_copy(update={"workers": 2, "wall_clock_s": 6.0,
                                                                        "per_test_timeout_s": 2.0}))
    yield g
    g.close()


def _code(template: str, level: str, mark: str) -> str:
    # Only bubblewrap promises that nothing outside the named places is writable: at
    # `unshare` the walk would write into the host's world-writable folders.
    return textwrap.dedent(template.format(mark=mark, walk=level == "bubblewrap", prefix=PREFIX))


def test_writer_then_readers_on_every_worker_see_nothing(level_grader):
    mark = PREFIX + uuid.uuid4().hex[:8] + "-"
    level = level_grader.isolation
    workers = level_grader.config.workers
    writers = level_grader.grade_many([(PROBE, _code(WRITER, level, mark))] * (2 * workers))
    for r in writers:  # the writer really wrote (else the readers prove nothing)
        assert r.error_type == "no_error", r.feedback
    readers = level_grader.grade_many([(PROBE, _code(READER, level, mark))] * (3 * workers))
    for r in readers:
        assert r.error_type == "no_error", r.feedback
    hostile.assert_serving(level_grader)


def test_markers_do_not_reach_the_host(level_grader):
    """The writer's named places are the sandbox's own, not the host's /tmp or /dev/shm."""
    mark = PREFIX + uuid.uuid4().hex[:8] + "-"
    level = level_grader.isolation
    assert level_grader.grade(PROBE, _code(WRITER, level, mark)).error_type == "no_error"
    for d in ("/tmp", "/dev/shm", "/var/tmp"):
        if os.path.isdir(d):
            assert not [n for n in os.listdir(d) if n.startswith(mark)], d


def test_a_job_cannot_reach_its_workers_memory(level_grader):
    """Jobs share the worker's uid when the grader is not root: the worker must still
    be out of reach (no ptrace, no /proc/<worker>/mem), or a job could change what
    later jobs on that worker see."""
    code = textwrap.dedent('''
        import ctypes, os
        worker = os.getppid()
        reached = []
        for name in ("mem", "environ", "maps"):
            try:
                with open("/proc/%d/%s" % (worker, name), "rb") as fh:
                    fh.read(1)
                reached.append(name)
            except OSError:
                pass
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, worker, None, None) == 0:  # PTRACE_ATTACH
            reached.append("ptrace")
        def probe():
            return "ok" if not reached else reached
        ''')
    r = level_grader.grade(PROBE, code)
    assert r.error_type == "no_error", r.feedback
    hostile.assert_serving(level_grader)
