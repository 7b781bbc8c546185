"""Small Linux process and mount helpers for the sandboxed worker.

Stdlib only (bind-mounted into the sandbox with ``worker.py``); ctypes is imported
on first use.
"""

from __future__ import annotations

import os

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
_libc = None


def prctl(option: int, arg: int) -> bool:
    global _libc
    try:
        if _libc is None:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
        return _libc.prctl(option, arg, 0, 0, 0) == 0
    except Exception:  # no libc/prctl: the caller falls back
        return False


def drop_capabilities() -> bool:
    """Clear every capability of this process (effective, permitted, inheritable; the
    ambient set follows). For a job that keeps the worker's uid: in ``unshare``'s user
    namespace that uid is root there, with every capability of the namespace."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable} words, all zero
        return libc.capset(ctypes.byref(header), ctypes.byref(data)) == 0
    except Exception:
        return False


def mount_private(dirs: list[str], size_mb: int) -> list[str]:
    """A fresh tmpfs on each of ``dirs`` (an mqueue file system on ``/dev/mqueue``);
    needs a private mount namespace and CAP_SYS_ADMIN in it. Returns the ones that failed."""
    failed = []
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    except Exception:
        return list(dirs)
    for d in dirs:
        if d == "/dev/mqueue":
            ok = libc.mount(b"mqueue", d.encode(), b"mqueue", 0, None) == 0
        else:
            ok = libc.mount(b"tmpfs", d.encode(), b"tmpfs", 0, f"size={size_mb}m,mode=1777".encode()) == 0
        if not ok:
            failed.append(f"{d} (errno {ctypes.get_errno()})")
    return failed


def remove_sysv_ipc() -> int:
    """Remove every SysV shared-memory segment, message queue and semaphore set this
    IPC namespace holds (the sandbox's own: none of them is the host's). Returns how
    many were removed; only objects this uid owns (or may control) can go."""
    import ctypes

    ipc_rmid, removed = 0, 0
    libc = None
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 2:
                continue
            if libc is None:
                libc = ctypes.CDLL(None, use_errno=True)
            ident = int(fields[1])
            if kind == "shm":
                ok = libc.shmctl(ident, ipc_rmid, None) == 0
            elif kind == "msg":
                ok = libc.msgctl(ident, ipc_rmid, None) == 0
            else:
                ok = libc.semctl(ident, 0, ipc_rmid) == 0
            removed += ok
    return removed


def sysv_ipc_in_use() -> bool:
    """Does this IPC namespace hold any SysV object? (Cheap: three small /proc reads.)"""
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                if len(fh.read().splitlines()) > 1:
                    return True
        except OSError:
            continue
    return False


def expose(roots: list[str]) -> list[str]:
    """In our private mount namespace, cover each root's first non-traversable
    ancestor (e.g. /root, mode 0700) with an empty tmpfs and move the root back in:
    the job's uid can then read the interpreter, and nothing else of that home."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    MS_BIND, MS_MOVE, MS_REC = 4096, 8192, 16384
    notes = []
    for i, root in enumerate(roots):
        parts = root.strip("/").split("/")
        hidden = None
        for k in range(1, len(parts)):
            anc = "/" + "/".join(parts[:k])
            if not os.stat(anc).st_mode & 0o001:
                hidden = anc
                break
        if hidden is None:
            continue
        stash = f"/tmp/.simstudent-expose-{i}"
        os.mkdir(stash)
        ok = libc.mount(root.encode(), stash.encode(), None, MS_BIND | MS_REC, None) == 0
        ok = ok and libc.mount(b"tmpfs", hidden.encode(), b"tmpfs", 0, b"mode=0755,size=1m") == 0
        if ok:
            os.makedirs(root, exist_ok=True)
            ok = libc.mount(stash.encode(), root.encode(), None, MS_MOVE, None) == 0
        os.rmdir(stash)
        notes.append(f"{hidden} hidden, {root} exposed" if ok else f"could not expose {root}: errno {ctypes.get_errno()}")
    return notes


def uid_can_run_python(uid: int) -> bool:
    """Can a process with ``uid`` read this interpreter's stdlib (e.g. not under /root)?"""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            lib = os.path.dirname(os.__file__)
            os._exit(0 if os.access(lib, os.R_OK | os.X_OK) and os.listdir(lib) else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def children() -> list[int]:
    """Direct children of this worker (orphans land here: we are a subreaper)."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:  # kernel without CONFIG_PROC_CHILDREN: scan /proc
        kids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat") as fh:
                        stat = fh.read()
                    if int(stat[stat.rindex(")") + 2 :].split()[1]) == me:
                        kids.append(int(name))
                except (OSError, ValueError):
                    pass
        return kids


def count_uid_tasks(uid: int) -> int:
    """Tasks (threads included) owned by ``uid``: RLIMIT_NPROC counts these."""
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                pass
    return n


def rmtree_contents(path: str) -> None:
    """Empty ``path`` without following symlinks, restoring modes the job removed
    (a directory chmod-ed to 0 must be opened before it can be emptied)."""
    import shutil

    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            try:
                os.chmod(p, 0o700)
                for root, dirs, _ in os.walk(p):  # top-down: fix a directory before entering it
                    for d in dirs:
                        if not os.path.islink(os.path.join(root, d)):
                            os.chmod(os.path.join(root, d), 0o700)
            except OSError:
                pass
            shutil.rmtree(p, ignore_errors=True)
        else:
            try:
                os.unlink(p)
            except OSError:
                pass
