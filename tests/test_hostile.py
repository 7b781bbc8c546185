"""Hostile programs against the grader's sandbox.

Every case asserts three things: the machine is unharmed (containment: no files
written or deleted outside, no secrets read, no connection made, no process left
behind), the verdict is the right one, and the grader still grades a correct
submission afterwards. Runs at the strongest isolation available here ("auto");
``test_hostile_levels.py`` repeats a core of these at the weaker levels.
"""

from __future__ import annotations

import os
import socket
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

from simstudent.grader import Grader, GraderConfig
from simstudent.grader.doctests import parse_doctests
from simstudent.schema import GradeResult, Problem

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-simstudent-fake-" + uuid.uuid4().hex
os.environ["SIMSTUDENT_FAKE_API_KEY"] = SECRET  # must never reach a submission

SQUARE = Problem(id="square", function_name="square",
                 tests=parse_doctests(">>> square(3)\n9\n>>> square(-2)\n4"))
CORRECT = "def square(x):\n    return x * x\n"


def hostile_config(isolation: str = "auto") -> GraderConfig:
    """Small limits so the whole suite stays fast on two cores."""
    return GraderConfig(workers=2, isolation=isolation, per_test_timeout_s=0.5, wall_clock_s=3.0, kill_grace_s=0.3,
                        cpu_s=3, address_space_mb=512, file_size_mb=4, nproc=32, output_cap_bytes=4096,
                        tmp_size_mb=16, cache_path=None)


# -- what the sandbox guarantees at a level ---------------------------------------------
def guarantees(grader: Grader) -> set[str]:
    """What this grader's sandbox promises, from its level and the uid jobs run as."""
    ns = grader.isolation in ("bubblewrap", "unshare")
    drops = grader.job_uid is not None and grader.job_uid != os.geteuid()  # jobs as a uid of their own
    g = set()
    if ns:
        g |= {"no_network", "private_tmp"}
    if ns or drops:
        g |= {"parent_safe", "secrets_safe"}
    if grader.isolation == "bubblewrap" or drops:
        g |= {"host_files_safe", "repo_safe"}
    if not (grader.job_uid is None and os.geteuid() == 0):
        g.add("nproc_bounded")  # RLIMIT_NPROC means nothing to uid 0
    return g


def need(grader: Grader, *what: str) -> None:
    missing = set(what) - guarantees(grader)
    if missing:
        pytest.skip(f"isolation {grader.isolation!r} as uid {os.geteuid()} does not guarantee {sorted(missing)}")


# -- no process left behind --------------------------------------------------------------
def _proc_table() -> dict[int, tuple[int, str, str]]:
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmd = fh.read().decode(errors="replace")
            try:
                exe = os.readlink(f"/proc/{name}/exe")
            except OSError:
                exe = ""
            table[int(name)] = (ppid, cmd, exe)
        except (OSError, ValueError):
            continue
    return table


def leftover_processes() -> list[int]:
    """Processes descended from one of this test process's grader workers (the
    worker itself excluded): anything a submission started and left behind."""
    table = _proc_table()
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)

    def is_worker(pid: int) -> bool:
        _, cmd, exe = table.get(pid, (0, "", ""))
        return "python" in os.path.basename(exe) and "worker.py" in cmd

    mine, stack = [], [os.getpid()]
    while stack:  # every descendant of this test process
        for kid in kids.get(stack.pop(), []):
            mine.append(kid)
            stack.append(kid)
    workers = [p for p in mine if is_worker(p) and not is_worker(table[p][0])]
    left, stack = [], list(workers)
    while stack:
        for kid in kids.get(stack.pop(), []):
            left.append(kid)
            stack.append(kid)
    return left


def assert_no_leftovers() -> None:
    deadline = time.monotonic() + 2.0
    while (left := leftover_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left behind by a submission: {left}"


def assert_serving(grader: Grader) -> None:
    """Nothing left behind, and a correct submission still grades correctly."""
    assert_no_leftovers()
    result = grader.grade(SQUARE, CORRECT)
    assert result.error_type == "no_error" and result.passed == 2, result.feedback


# -- the cases ---------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    code: str
    error_type: str
    timed_out: Optional[bool] = None
    needs: tuple[str, ...] = ()
    check: Optional[Callable[[GradeResult], None]] = None
    max_s: Optional[float] = None  # containment in time, too


def _src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _msg(fragment: str) -> Callable[[GradeResult], None]:
    def check(r: GradeResult) -> None:
        text = (r.error_message or "") + " ".join(o.exception or "" for o in r.tests)
        assert fragment in text, text
    return check


CASES = [
    Case("top_level_infinite_loop", "while True:\n    pass\n", "runtime", True, max_s=2.0),
    Case("infinite_loop_in_test", "def square(x):\n    while True:\n        pass\n", "runtime", True, max_s=2.5),
    Case("sleep", "import time\ndef square(x):\n    time.sleep(100)\n", "runtime", True, max_s=2.5),
    Case("ignores_sigalrm", _src("""
        import signal
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        def square(x):
            while True:
                pass
        """), "runtime", True, max_s=3.5),
    Case("swallows_alarm_and_sigterm", _src("""
        import signal
        signal.signal(signal.SIGALRM, lambda *a: None)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        def square(x):
            while True:
                pass
        """), "runtime", True, max_s=3.5),
    Case("catches_base_exception", _src("""
        def square(x):
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
        """), "runtime", True, max_s=3.5),
    Case("disarms_the_alarm", _src("""
        import signal
        def square(x):
            signal.setitimer(signal.ITIMER_REAL, 0)
            while True:
                pass
        """), "runtime", True, max_s=3.5),
    Case("fork_bomb", "import os\nwhile True:\n    os.fork()\n", "runtime", max_s=4.0, needs=("nproc_bounded",)),
    Case("fork_bomb_that_persists", _src("""
        import os
        def square(x):
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        """), "runtime", True, max_s=4.0, needs=("nproc_bounded",)),
    Case("double_forked_daemon", _src("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1000)
            os._exit(0)
        def square(x):
            return x * x
        """), "no_error", False),
    Case("background_shell_job", _src("""
        import os
        os.system("sleep 1000 &")
        def square(x):
            return x * x
        """), "no_error", False),
    Case("memory_bomb_at_once", "x = bytearray(10 ** 11)\n", "runtime", check=_msg("MemoryError")),
    Case("memory_bomb_gradual", _src("""
        def square(x):
            hog = []
            while True:
                hog.append(bytes(10 ** 8))  # calloc'ed: reaches the address-space limit without touching pages
        """), "runtime", check=_msg("MemoryError")),
    Case("output_flood", "def square(x):\n    while True:\n        print('spam' * 100)\n", "runtime", True,
         check=lambda r: all(len(o.got or "") < 4096 + 100 for o in r.tests), max_s=2.5),
    Case("output_flood_then_answer", "def square(x):\n    print('x' * 10 ** 6)\n    return x * x\n", "logical",
         check=lambda r: all(len(o.got or "") < 4096 + 100 for o in r.tests)),
    Case("raw_writes_to_stdout_stderr", _src("""
        import os
        os.write(1, b"garbage on fd 1\\n" * 1000)
        os.write(2, b"garbage on fd 2\\n" * 1000)
        def square(x):
            return x * x
        """), "no_error", False),
    Case("garbage_on_result_channel", _src("""
        import os
        def square(x):
            os.write(3, b"\\x00\\x00\\x00\\x05hello-not-json")
            return x * x
        """), "runtime", check=_msg("tampered")),
    Case("forged_result_frames", _src("""
        import os, json, struct
        def square(x):
            for frame in ({"phase": "test", "i": 0, "out": "9\\n", "exc": None, "timed_out": False},
                          {"phase": "done"}):
                data = json.dumps(frame).encode()
                os.write(3, struct.pack(">I", len(data)) + data)
            os._exit(0)
        """), "runtime", check=_msg("tampered")),
    Case("closes_result_channel", "import os\nos.close(3)\ndef square(x):\n    return x * x\n", "runtime"),
    Case("always_equal_object", _src("""
        class Anything:
            def __eq__(self, other):
                return True
            __hash__ = object.__hash__
        def square(x):
            return Anything()
        """), "logical"),
    Case("sys_exit_top_level", "import sys\nsys.exit(0)\n", "runtime", check=_msg("SystemExit")),
    Case("sys_exit_in_test", "import sys\ndef square(x):\n    sys.exit(1)\n", "runtime", check=_msg("SystemExit")),
    Case("os_exit_in_test", "import os\ndef square(x):\n    os._exit(0)\n", "runtime", check=_msg("exited")),
    Case("segfault", "import ctypes\ndef square(x):\n    return ctypes.string_at(0)\n", "runtime", check=_msg("SIGSEGV")),
    Case("c_stack_overflow", _src("""
        import sys
        sys.setrecursionlimit(10 ** 7)
        def square(x):
            return square(x) + 1
        """), "runtime"),
    Case("reads_stdin_via_input", "name = input()\ndef square(x):\n    return x * x\n", "runtime",
         check=_msg("EOFError"), max_s=2.0),
    Case("reads_raw_stdin", "import os, sys\ndata = os.read(0, 100) + sys.stdin.read().encode()\n"
         "def square(x):\n    return x * x if not data else -1\n", "no_error", False, max_s=2.0),
    Case("never_ending_thread", _src("""
        import threading, time
        threading.Thread(target=lambda: time.sleep(1000)).start()
        def square(x):
            return x * x
        """), "no_error", False, max_s=2.0),
    Case("busy_thread", _src("""
        import threading
        def spin():
            while True:
                pass
        threading.Thread(target=spin, daemon=False).start()
        def square(x):
            return x * x
        """), "no_error", max_s=3.0),
    Case("kill_minus_one", "import os, signal\nos.kill(-1, signal.SIGKILL)\n", "runtime", needs=("parent_safe", "nproc_bounded")),
    Case("kills_its_parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
         "def square(x):\n    return x * x\n", "runtime", needs=("parent_safe",)),
    Case("raises_limits_and_privileges", _src("""
        import os, resource
        def square(x):
            resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            return x * x
        """), "runtime", needs=("parent_safe",)),
    Case("becomes_root", "import os\nos.setuid(0)\n" + CORRECT, "runtime", needs=("parent_safe",)),
    # Breaking what the harness itself needs breaks the run: a runtime error, not a crash of the grader.
    Case("patches_builtins_the_harness_uses", "import builtins\nbuiltins.len = lambda obj: 0\n" + CORRECT, "runtime"),
    Case("too_many_open_files", "fds = [open('/dev/null') for _ in range(10000)]\n", "runtime", check=_msg("Too many")),
    Case("file_size_bomb", "open('big', 'wb').write(b'x' * (64 * 1024 * 1024))\n", "runtime"),
    Case("hostile_exception_str", _src("""
        class Evil(Exception):
            def __str__(self):
                raise RuntimeError("no")
        def square(x):
            raise Evil()
        """), "runtime"),
    Case("huge_exception_message", "def square(x):\n    raise ValueError('v' * 10 ** 7)\n", "runtime",
         check=lambda r: len(r.feedback) < 20_000),
]


@pytest.fixture(scope="module")
def grader():
    g = Grader(hostile_config())
    yield g
    g.close()


def run_case(grader: Grader, case: Case) -> GradeResult:
    need(grader, *case.needs)
    t0 = time.monotonic()
    result = grader.grade(SQUARE, case.code)
    took = time.monotonic() - t0
    assert result.error_type == case.error_type, result.feedback
    if case.timed_out is not None:
        assert result.timed_out is case.timed_out, result.feedback
    if case.check:
        case.check(result)
    if case.max_s is not None:
        assert took < case.max_s, f"{case.name} took {took:.2f} s"
    assert result.isolation == grader.isolation
    assert_serving(grader)
    return result


def test_enough_hostile_programs():
    assert len(CASES) + 9 >= 30  # plus the dedicated tests below


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_program(grader, case):
    run_case(grader, case)


# -- cases that need a victim or a witness on the host --------------------------------------
def test_writes_outside_the_sandbox(grader):
    need(grader, "repo_safe")
    marker = uuid.uuid4().hex
    targets = [REPO_ROOT / f"pwned_{marker}", Path("/root") / f"pwned_{marker}", REPO_ROOT / "simstudent" / f"pwned_{marker}"]
    code = "def square(x):\n" + "".join(f"    open({str(t)!r}, 'w').write('pwned')\n" for t in targets) + "    return x * x\n"
    result = grader.grade(SQUARE, code)
    assert result.error_type == "runtime"
    # /root is unreadable to an ordinary user running the tests (and so to its jobs): check what we can see.
    assert not any(t.exists() for t in targets if os.access(t.parent, os.X_OK))
    assert_serving(grader)


def test_deletes_outside_the_sandbox(grader, tmp_path):
    need(grader, "host_files_safe")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    repo_file = REPO_ROOT / "pyproject.toml"
    code = f"import os\nos.remove({str(victim)!r})\nos.remove({str(repo_file)!r})\n"
    result = grader.grade(SQUARE, code)
    assert result.error_type == "runtime"
    assert victim.read_text() == "keep me" and repo_file.exists()
    assert_serving(grader)


def test_reads_secrets(grader, tmp_path):
    need(grader, "secrets_safe")
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    code = _src(f"""
        import os
        def square(x):
            found = []
            if {SECRET!r} in repr(dict(os.environ)):
                found.append("environ")
            for p in os.listdir("/proc"):
                try:
                    if {SECRET!r}.encode() in open("/proc/%s/environ" % p, "rb").read():
                        found.append(p)
                except OSError:
                    pass
            try:
                found.append(open({str(secret_file)!r}).read())
            except OSError:
                pass
            try:
                found.append(open("/proc/{os.getpid()}/environ", "rb").read().decode())
            except OSError:
                pass
            return x * x if not found else found
        """)
    result = grader.grade(SQUARE, code)
    assert result.error_type == "no_error", result.feedback
    assert SECRET not in result.feedback
    assert_serving(grader)


def test_loopback_connection(grader):
    need(grader, "no_network")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'leak')\n"
    try:
        result = grader.grade(SQUARE, code)
        assert result.error_type == "runtime"
        assert "ConnectionRefused" in (result.error_message or "") or "unreachable" in (result.error_message or "")
        with pytest.raises(socket.timeout):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()
    assert_serving(grader)


def test_kills_the_grader_process(grader):
    need(grader, "parent_safe")
    code = f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)\n"
    result = grader.grade(SQUARE, code)  # we are still alive to read the verdict
    assert result.error_type == "runtime"
    assert_serving(grader)


def test_state_does_not_leak_between_submissions(grader):
    polluter = _src("""
        import builtins, math, os, sys
        math.pi = 3
        builtins.sorted = lambda *args, **kwargs: []
        sys.setrecursionlimit(50)
        open("leak.txt", "w").write("state")
        os.environ["LEAK"] = "1"
        def square(x):
            return x * x
        """)
    assert grader.grade(SQUARE, polluter).error_type == "no_error"
    probe = _src("""
        import math, os, sys
        clean = (math.pi > 3.14 and sorted([2, 1]) == [1, 2] and sys.getrecursionlimit() >= 1000
                 and not os.path.exists("leak.txt") and "LEAK" not in os.environ)
        def square(x):
            return x * x if clean else -1
        """)
    for _ in range(2 * grader.config.workers):  # every worker, whichever ran the polluter
        assert grader.grade(SQUARE, probe).error_type == "no_error"


def test_private_tmp_is_emptied(grader):
    need(grader, "private_tmp")
    writer = "import os\nos.makedirs('/tmp/d/e', exist_ok=True)\nopen('/tmp/d/e/f', 'w').write('x')\nos.chmod('/tmp/d', 0)\n" + CORRECT
    assert grader.grade(SQUARE, writer).error_type == "no_error"
    reader = "import os\nseen = os.listdir('/tmp')\ndef square(x):\n    return x * x if not seen else seen\n"
    for _ in range(2 * grader.config.workers):
        assert grader.grade(SQUARE, reader).error_type == "no_error"


def test_many_hostile_in_parallel(grader):
    """A batch mixing bombs and correct code: every verdict right, nothing left."""
    need(grader, "nproc_bounded")
    bombs = [c for c in CASES if c.name in ("fork_bomb", "memory_bomb_gradual", "segfault", "garbage_on_result_channel")]
    pairs = [(SQUARE, CORRECT)] * 6 + [(SQUARE, c.code) for c in bombs]
    results = grader.grade_many(pairs)
    assert [r.error_type for r in results[:6]] == ["no_error"] * 6
    assert [r.error_type for r in results[6:]] == [c.error_type for c in bombs]
    assert_no_leftovers()
