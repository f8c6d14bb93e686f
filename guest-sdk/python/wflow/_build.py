"""What a flow's module may do while ``wflow build`` runs it.

componentize-py runs the flow's module (its top-level code) once, at build time, and freezes the
interpreter's memory into the component. So while it runs, the module may not write or change
files, use the network or start processes: nothing it opened would exist at run time (a socket or
a lookup made then makes every later run trap), and the build must not change the machine it runs
on. Clocks read a fixed time and random bytes come from a fixed seed, so what the module computes
does not depend on when or where it was built. ``wflow build``'s generated entry module wraps the
import of the flow's module in :func:`guarded`; steps run later, in the task's sandbox, unaffected.

This is the clear error for honest mistakes; the wall is elsewhere: ``wflow build`` runs
componentize-py so that it reaches only a staging copy of the sources (docs/polyglot.md).
"""

import contextlib
import os
import sys
import time

_active = [False]

# Every flag of `os.open` that writes or creates.
_WRITE_FLAGS = 0
for _name in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC", "O_EXCL"):
    _WRITE_FLAGS |= getattr(os, _name, 0)

_CHANGES = (
    "os.mkdir", "os.rmdir", "os.remove", "os.rename", "os.symlink", "os.link", "os.truncate",
    "os.chmod", "os.chown", "os.chflags", "os.lchflags", "os.utime", "os.mkfifo", "os.mknod",
    "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.copytree", "shutil.move",
    "shutil.rmtree", "shutil.make_archive", "shutil.unpack_archive",
)
_PROCESSES = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
              "os.forkpty", "os.startfile", "pty.spawn")


def _deny(what):
    raise PermissionError(
        f"wflow build: {what} is denied while the flow is built: a flow module's top-level code "
        "runs at build time, where it may not write files, use the network or start processes "
        "(whatever it opened would be frozen into the component); do it inside a step"
    )


def _hook(event, args):
    if not _active[0]:
        return
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, 0))[:3]
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(
            (flags or 0) & _WRITE_FLAGS)
        if writes:
            _deny(f"writing the file {path!r}")
    elif event.startswith("socket."):
        shown = ", ".join(repr(a) for a in args[:2] if isinstance(a, (str, bytes, int, tuple)))
        _deny(f"the network ({event}{'(' + shown + ')' if shown else ''})")
    elif event in _CHANGES:
        _deny(f"changing files ({event} {args[0]!r})" if args else f"changing files ({event})")
    elif event in _PROCESSES:
        _deny(f"starting a process ({event})")


def _fixed(real, value):
    def clock(*args):
        return value if _active[0] else real(*args)

    clock.__name__ = getattr(real, "__name__", "clock")
    clock.__doc__ = getattr(real, "__doc__", None)
    return clock


def _install():
    sys.addaudithook(_hook)
    for name in ("time", "monotonic", "perf_counter", "process_time", "thread_time"):
        if hasattr(time, name):
            setattr(time, name, _fixed(getattr(time, name), 0.0))
        if hasattr(time, name + "_ns"):
            setattr(time, name + "_ns", _fixed(getattr(time, name + "_ns"), 0))
    real_urandom = os.urandom
    seeded = []

    def urandom(n):
        if not _active[0]:
            return real_urandom(n)
        import random

        if not seeded:
            seeded.append(random.Random(0))
        return seeded[0].randbytes(n)

    os.urandom = urandom


_install()


@contextlib.contextmanager
def guarded():
    """Runs the body as build-time code: see the module's docs."""
    import random

    random.seed(0)
    sys.dont_write_bytecode = True
    _active[0] = True
    try:
        yield
    finally:
        _active[0] = False
