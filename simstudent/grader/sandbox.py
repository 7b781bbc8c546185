"""Which isolation is available, and the command line that starts a worker in it.

Levels, strongest first:

- ``bubblewrap``: ``bwrap`` with its own pid, network, IPC and UTS namespaces, only
  read-only system and Python paths, a private size-capped tmpfs ``/tmp``, a new
  session, no environment, and (as root) every capability dropped except the few
  the worker needs to de-privilege and clean up after each job;
- ``unshare``: util-linux ``unshare`` with pid, network, IPC, UTS and mount
  namespaces (plus a user namespace when not root) and a private tmpfs ``/tmp``
  mounted by the worker; system paths stay writable to whoever may write them;
- ``none``: a plain process (reported loudly): only the per-job limits, the
  privilege drop when root, and the kill-everything cleanup protect the machine.

A level is "available" only if a real worker starts in it and says it is ready: the
probe runs the exact command the pool would.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from simstudent.grader import wire
from simstudent.grader.config import GraderConfig
from simstudent.errors import ConfigError, SimstudentError

GRADER_DIR = Path(__file__).resolve().parent
SANDBOX_FILES = ("worker.py", "harness.py", "wire.py", "sysutil.py")
SANDBOX_DIR = "/opt/simstudent-grader"  # where the worker files appear inside bwrap
LEVELS = ("bubblewrap", "unshare", "none")
# What the worker keeps under bwrap as root: become the job's uid, signal and clean up after it.
WORKER_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
# Every place a job can write inside a namespaced sandbox: private per worker, emptied
# after every job (the worker also removes SysV IPC objects), so nothing one submission
# writes is seen by the next. Under bubblewrap everything else is read-only; under
# unshare the worker mounts these privately and the rest of the host stays as it is.
SCRATCH_DIRS = ("/tmp", "/dev/shm", "/dev/mqueue")
UNSHARE_PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
WORKER_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}


class IsolationUnavailable(SimstudentError, RuntimeError):
    """The isolation level asked for cannot start here (the message says why)."""


@dataclass
class LaunchSpec:
    """How to start one worker: argv, environment, and a scratch dir to remove later."""

    level: str
    argv: list[str]
    env: dict[str, str]
    scratch: str | None = None
    opts: dict = field(default_factory=dict)


def is_root() -> bool:
    return os.geteuid() == 0


def python_executable() -> str:
    """The real interpreter (not a pyenv/venv shim): what workers and baselines run."""
    return os.path.realpath(sys.executable)


def _python_flags(cfg: GraderConfig) -> list[str]:
    # -s: no user site; -S: no site-packages (stdlib only) unless allowed; -B: no .pyc writes.
    return ["-s", "-B"] + ([] if cfg.allow_site_packages else ["-S"])


def _python_roots(cfg: GraderConfig) -> list[str]:
    roots = {os.path.realpath(sys.base_prefix), os.path.dirname(os.path.dirname(python_executable()))}
    if cfg.allow_site_packages:
        roots.add(os.path.realpath(sys.prefix))
        roots.update(os.path.realpath(p) for p in sys.path if p and os.path.isdir(p))
    # Drop paths already inside another root (and those under /usr, bound anyway).
    keep = []
    for root in sorted(roots):
        if root == "/" or root.startswith("/usr/") or any(root.startswith(k + "/") for k in keep):
            continue
        keep.append(root)
    return keep


def _worker_opts(cfg: GraderConfig, index: int, *, pidns: bool, userns: bool, **extra) -> dict:
    uid = cfg.sandbox_uid - index if is_root() else None
    return dict(uid=uid, pidns=pidns, userns=userns, workdir="/tmp", tmp_mb=cfg.tmp_size_mb,
                scratch=list(SCRATCH_DIRS), **extra)


def bubblewrap_argv(cfg: GraderConfig, opts: dict) -> list[str]:
    """The full bwrap command line for one worker."""
    bwrap = shutil.which("bwrap") or "bwrap"
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if is_root():
        # No user namespace as root: the worker setuid()s each job to a real unprivileged uid.
        argv += ["--cap-drop", "ALL"]
        for cap in WORKER_CAPS:
            argv += ["--cap-add", cap]
    else:
        argv += ["--unshare-user"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    for extra in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(extra):
            argv += ["--ro-bind", extra, extra]
    made: set[str] = set()
    for root in _python_roots(cfg):
        # Parents such as /root (mode 0700) would be created with their host mode and
        # lock the job's uid out of the interpreter's stdlib: create them traversable.
        for parent in reversed(Path(root).parents):
            p = str(parent)
            if p != "/" and p not in made and not p.startswith("/usr"):
                made.add(p)
                argv += ["--perms", "0755", "--dir", p]
        argv += ["--ro-bind", root, root]
    for name in SANDBOX_FILES:
        argv += ["--ro-bind", str(GRADER_DIR / name), f"{SANDBOX_DIR}/{name}"]
    size = str(cfg.tmp_size_mb * 1024 * 1024)
    # /tmp and /dev/shm: private size-capped tmpfs; /dev/mqueue: this IPC namespace's
    # POSIX message queues, mounted so the worker can list and remove them. Then the
    # root and /dev are made read-only: as an ordinary user the sandbox's root tmpfs
    # belongs to the job's uid, which could otherwise write anywhere in it.
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
             "--mqueue", "/dev/mqueue", "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
             "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    for key, value in WORKER_ENV.items():
        argv += ["--setenv", key, value]
    argv += [python_executable(), *_python_flags(cfg), f"{SANDBOX_DIR}/worker.py", json.dumps(opts)]
    return argv


def launch_spec(level: str, cfg: GraderConfig, index: int = 0, *, oneshot: bool = False) -> LaunchSpec:
    """The command that starts worker ``index`` at isolation ``level``."""
    extra = {"oneshot": True, "preload": False} if oneshot else {}
    worker = str(GRADER_DIR / "worker.py")
    if level == "bubblewrap":
        opts = _worker_opts(cfg, index, pidns=True, userns=not is_root(), **extra)
        return LaunchSpec(level, bubblewrap_argv(cfg, opts), dict(WORKER_ENV), opts=opts)
    if level == "unshare":
        private = [d for d in UNSHARE_PRIVATE_DIRS if os.path.isdir(d)]
        opts = _worker_opts(cfg, index, pidns=True, userns=not is_root(), private_tmp=True, private_dirs=private,
                            expose=_python_roots(cfg), **extra)
        opts["scratch"] = private
        argv = [shutil.which("unshare") or "unshare", "--fork", "--pid", "--mount-proc", "--net", "--ipc", "--uts",
                "--propagation", "private", "--kill-child"]
        if not is_root():
            argv += ["--user", "--map-root-user"]
        argv += [python_executable(), *_python_flags(cfg), worker, json.dumps(opts)]
        return LaunchSpec(level, argv, dict(WORKER_ENV), opts=opts)
    if level == "none":
        scratch = tempfile.mkdtemp(prefix="simstudent-grader-")
        opts = _worker_opts(cfg, index, pidns=False, userns=False, pdeathsig=True, **extra)
        opts["workdir"] = scratch
        opts["scratch"] = [scratch]  # the host's /tmp and /dev/shm stay shared: no isolation at this level
        if opts["uid"] is not None:
            os.chown(scratch, opts["uid"], opts["uid"])
        argv = [python_executable(), *_python_flags(cfg), worker, json.dumps(opts)]
        return LaunchSpec(level, argv, dict(WORKER_ENV), scratch=scratch, opts=opts)
    raise ConfigError(f"unknown isolation level {level!r} (choose from {', '.join(LEVELS)})")


def _start_and_check(spec: LaunchSpec, timeout: float = 20.0) -> tuple[bool, str, dict]:
    """Start a worker from ``spec``, wait for its ready frame, stop it: (ok, why, ready frame)."""
    try:
        proc = subprocess.Popen(spec.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=spec.env, start_new_session=True)
    except OSError as exc:
        return False, f"cannot run {spec.argv[0]}: {exc}", {}
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return False, f"worker did not become ready within {timeout:.0f} s", {}
    finally:
        if spec.scratch:
            shutil.rmtree(spec.scratch, ignore_errors=True)
    try:
        ready = wire.decode(out[wire.HEADER.size :]) if len(out) > wire.HEADER.size else {}
    except wire.FrameError:
        ready = {}
    if ready.get("ready"):
        notes = "; ".join(ready.get("notes") or [])
        uid = ready.get("job_uid")
        who = f"jobs run as uid {uid}" if uid is not None else "jobs keep the worker's uid"
        return True, f"worker started and reported ready ({who}{'; ' + notes if notes else ''})", ready
    detail = (err.decode(errors="replace").strip().splitlines() or [ready.get("error") or f"exit status {proc.returncode}"])[-1]
    return False, detail, {}


@functools.lru_cache(maxsize=None)
def _probe_cached(level: str, site: bool) -> tuple[bool, str, dict]:
    cfg = GraderConfig(allow_site_packages=site, cache_path=None, workers=1)
    if level == "bubblewrap" and not shutil.which("bwrap"):
        return False, "bwrap not found on PATH (install bubblewrap: apt-get install -y bubblewrap)", {}
    if level == "unshare" and not shutil.which("unshare"):
        return False, "unshare (util-linux) not found on PATH", {}
    return _start_and_check(launch_spec(level, cfg, oneshot=True))


def probe(level: str, cfg: GraderConfig | None = None) -> tuple[bool, str]:
    """(available, why) for ``level``; cached per process."""
    return _probe_cached(level, bool(cfg and cfg.allow_site_packages))[:2]


def probe_info(level: str, cfg: GraderConfig | None = None) -> dict:
    """What a worker at ``level`` reported when it started: ``job_uid`` (the uid jobs
    run as; None = the worker's own) and ``notes``. Empty if it did not start."""
    return dict(_probe_cached(level, bool(cfg and cfg.allow_site_packages))[2])


def how_to_fix(level: str, why: str) -> str:
    """What to install or change so ``level`` can start, from the probe's reason."""
    text = why.lower()
    if "not found on path" in text:
        return ("install bubblewrap (Debian/Ubuntu: apt-get install -y bubblewrap; Fedora: dnf install bubblewrap)"
                if level == "bubblewrap" else "install util-linux (it provides unshare)")
    if not is_root() and any(s in text for s in ("user namespace", "uid map", "operation not permitted",
                                                  "permission denied", "no permissions")):
        return ("allow unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 (Debian), "
                "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 23.10+), "
                "or raise user.max_user_namespaces above 0; in a container, run it with --privileged "
                "or a seccomp profile that allows unshare/clone(CLONE_NEWUSER)")
    if "cannot read" in text or "no such file" in text:
        return ("make the interpreter readable to the sandbox's uid (chmod o+rX along its path) "
                "or run the grader with a system Python (/usr/bin/python3)")
    return "run `simstudent doctor` for details"


def resolve_isolation(choice: str, cfg: GraderConfig | None = None) -> tuple[str, list[str]]:
    """The level to use for ``choice`` ("auto" picks the strongest that works) and
    the reasons stronger levels were passed over.

    Raises :class:`IsolationUnavailable` when the requested level, or with "auto"
    every sandboxed level, cannot start: running without a sandbox is never chosen
    silently, only by asking for ``isolation="none"``.
    """
    if choice == "none":
        return "none", ["isolation 'none' requested"]
    if choice != "auto":
        ok, why = probe(choice, cfg)
        if not ok:
            raise IsolationUnavailable(f"isolation {choice!r} is not available here: {why}; to fix: "
                                       f"{how_to_fix(choice, why)} (see `simstudent doctor`)")
        return choice, []
    reasons = []
    for level in ("bubblewrap", "unshare"):
        ok, why = probe(level, cfg)
        if ok:
            return level, reasons
        reasons.append(f"{level}: {why} (to fix: {how_to_fix(level, why)})")
    raise IsolationUnavailable(
        "no sandbox can start here, so submissions will not be run: " + "; ".join(reasons)
        + ". To grade without any sandbox (untrusted code then runs with your rights), ask for it explicitly: "
        "--isolation none, or GraderConfig(isolation='none')")


def userns_status() -> str:
    """Whether unprivileged user namespaces are allowed, from the kernel's knobs."""
    parts = []
    for knob in ("/proc/sys/user/max_user_namespaces", "/proc/sys/kernel/unprivileged_userns_clone",
                 "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"):
        try:
            parts.append(f"{Path(knob).name}={Path(knob).read_text().strip()}")
        except OSError:
            continue
    if not parts:
        return "unknown (no user-namespace knobs in /proc/sys)"
    blocked = any(p in parts for p in ("max_user_namespaces=0", "unprivileged_userns_clone=0",
                                       "apparmor_restrict_unprivileged_userns=1"))
    return ("blocked for unprivileged users" if blocked else "allowed") + " (" + ", ".join(parts) + ")"


def diagnose() -> list[tuple[str, str]]:
    """(what, finding) lines for `simstudent doctor`'s isolation section."""
    lines = [("running as root", f"yes (uid 0): jobs drop to uid {GraderConfig().sandbox_uid} and below"
              if is_root() else f"no (uid {os.geteuid()}): jobs keep this uid; namespaces come from a user namespace")]
    bwrap = shutil.which("bwrap")
    version = ""
    if bwrap:
        try:
            version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            version = "version unknown"
    lines.append(("bwrap", f"{bwrap} ({version})" if bwrap else "not found (apt-get install -y bubblewrap)"))
    lines.append(("unshare", shutil.which("unshare") or "not found (util-linux)"))
    lines.append(("user namespaces", userns_status()))
    for level in ("bubblewrap", "unshare"):
        ok, why = probe(level)
        lines.append((f"{level} sandbox", ("works: " if ok else "unavailable: ") + why))
        if not ok:
            lines.append((f"  to enable {level}", how_to_fix(level, why)))
    try:
        level, _ = resolve_isolation("auto")
    except IsolationUnavailable:
        lines.append(("isolation in force (auto)", "none available: grading refuses to run (WARNING) unless "
                                                   "--isolation none is given"))
        return lines
    lines.append(("isolation in force (auto)", level))
    info = probe_info(level)
    uid = info.get("job_uid")
    if uid is not None:
        lines.append(("submissions run as", f"uid {uid} (worker i: uid {uid} - i)"))
    elif is_root():
        lines.append(("submissions run as", "uid 0: WARNING: the sandbox uid cannot read the interpreter ("
                      + "; ".join(info.get("notes") or []) + "); fix: chmod o+rX along the interpreter's path "
                      "or use a system Python"))
    else:
        lines.append(("submissions run as", f"uid {os.geteuid()} (this user, inside a user namespace)"))
    unreadable = [r for r in _python_roots(GraderConfig(cache_path=None, workers=1)) if not os.access(r, os.R_OK | os.X_OK)]
    if unreadable:
        lines.append(("interpreter paths", "not readable by this user: " + ", ".join(unreadable) + " (WARNING)"))
    return lines
