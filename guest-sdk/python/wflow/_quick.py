"""The quick form of a Python flow: one pre-initialised component for every flow, sources patched in.

componentize-py pre-initialises the interpreter for each build (10–15 s, most of it compiling the
interpreter to run it once), though only the flow's own module changes between two builds. So
``wflow run`` on this machine builds a *base* component once per componentize-py and SDK version —
this module, the SDK and the whole standard library (``wflow/_bundle.py``), with no flow in it —
and for each flow writes the flow's sources into :data:`_slot`, a buffer of :data:`SLOT_BYTES`
in the base's memory snapshot, in place: same length, same code, so the compiled interpreter is
reused whole. The sources are part of the component's bytes, and so of its digest (a changed
source is a different component for the records, the task cache and ``resume``); nothing is read
from outside the component at run time.

In each instance (each task, and the host's ``spec()`` call), the first call imports the flow's
module from the slot, under the same guard as a build (``wflow/_build.py``: no writes, network or
processes; fixed clocks and random bytes), and then behaves like the full build's export
(``wflow/_component.py``).

The slot: :data:`MAGIC_LEN` bytes of magic (made byte by byte here, so they appear once in the
snapshot, where the slot is), then the payload's length (u32, little-endian) and the payload:
fields, each a u32 length and its bytes — the flow's module name, the folder of its sources (for
tracebacks), then each source's path relative to that folder and its text, then for each source
compiled at build time :data:`CODE` and its path, and its code (``marshal``). An unpatched slot
holds ``0xa5`` after the magic.

Compiling a flow's module took ~0.3–0.5 ms of each task's ~2.3 ms, so ``wflow build`` compiles
the sources once: it runs the component's ``run-step`` with :data:`COMPILE_STEP`, which prints
each source's code (:func:`_compile_sources`), and writes the code into the slot beside the
sources. A task then loads the code rather than compiling; a source without code (it did not
compile, or the slot had no room) is compiled as before.
"""

import linecache
import marshal
import os
import sys

from componentize_py_types import Err
from wit_world.imports.types import StepError

from wflow import _build, _bundle, _component

SLOT_BYTES = 1 << 20
MAGIC_LEN = 32
# The magic is these bytes, each xor 0xff (so the text below is not the magic).
_SEED = b"wflow: a flow's sources go here."
_FILL = 0xA5
# A field naming compiled code: this, then the source's path.
CODE = "\0code:"
# The step `wflow build` runs to have the sources compiled (no flow has a step of this name).
COMPILE_STEP = "\0wflow:compile"


def _make_slot():
    slot = bytearray(b"\xa5") * SLOT_BYTES
    for i in range(MAGIC_LEN):
        slot[i] = _SEED[i] ^ 0xFF
    return slot


_slot = _make_slot()


def _fields(data):
    at = 0
    while at < len(data):
        n = int.from_bytes(data[at:at + 4], "little")
        yield bytes(data[at + 4:at + 4 + n])
        at += 4 + n


def _payload():
    """``(module, root, {relative path: source bytes})`` from the slot."""
    view = memoryview(_slot)
    n = int.from_bytes(view[MAGIC_LEN:MAGIC_LEN + 4], "little")
    if view[MAGIC_LEN] == _FILL and n == int.from_bytes(bytes([_FILL] * 4), "little"):
        raise RuntimeError("this is wflow's base component for Python flows: it holds no flow")
    fields = list(_fields(view[MAGIC_LEN + 4:MAGIC_LEN + 4 + n]))
    module, root = fields[0].decode(), fields[1].decode()
    files = {fields[i].decode(): fields[i + 1] for i in range(2, len(fields) - 1, 2)}
    return module, root, files


def _compile_sources():
    """For :data:`COMPILE_STEP`: prints each source's path and code (hex), one per line. A source
    that does not compile is left out: importing it reports the error as without this step."""
    _, root, files = _payload()
    for rel, source in files.items():
        if not rel.endswith(".py") or rel.startswith(CODE):
            continue
        try:
            code = compile(source, f"{root}/{rel}", "exec", dont_inherit=True)
        except Exception:  # noqa: BLE001 — reported when the module is imported
            continue
        print(f"{rel}\t{marshal.dumps(code).hex()}")
    sys.stdout.flush()


class _Sources(_bundle.Finder):
    """Serves the flow's modules from the slot, named by the author's paths."""

    def __init__(self, root, files):
        table = {}
        self.code = {}
        for rel, source in files.items():
            if rel.startswith(CODE) or not rel.endswith(".py"):
                continue
            parts = rel[:-3].split("/")
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts.pop()
            if parts and all(p.isidentifier() for p in parts):
                name = ".".join(parts)
                table[name] = (f"{root}/{rel}", is_pkg, source)
                code = files.get(CODE + rel)
                if code is not None:
                    self.code[name] = code
        super().__init__(table)

    def get_code(self, name):
        code = self.code.get(name)
        if code is not None:
            try:
                code = marshal.loads(code)
            except (ValueError, EOFError, TypeError):
                code = None
            if isinstance(code, type(_fields.__code__)):
                return code
        return super().get_code(name)


_loaded = []


def _flow():
    """The flow's export class, importing the flow's module on first use in this instance."""
    if _loaded:
        return _loaded[0]
    module, root, files = _payload()
    finder = _Sources(root, files)
    for filename, _, source in finder.table.values():
        lines = source.decode("utf-8", "replace").splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)
    _component._staged[:] = [root + "/", root + "/"]
    sys.meta_path.insert(0, finder)
    with _build.guarded():
        flow_module = _component.import_flow(module, f"{root}/{module}.py")
    # The spec is built when `spec()` asks for it (when the host loads the component), not in
    # every task.
    _loaded.append(_component.export(flow_module, check=False)())
    return _loaded[0]


class Flow:
    """What componentize-py exports: the flow in the slot."""

    def spec(self):
        try:
            return _flow().spec()
        except BaseException as e:  # noqa: BLE001 — the host reads the traceback from stderr
            _component._report(e, hide_sdk=True)
            sys.stderr.flush()
            # `spec` has no error to return: end the instance (the host shows what it printed),
            # rather than let componentize-py print the exception again and panic.
            os._exit(1)

    def run_step(self, step):
        if step == COMPILE_STEP:
            _compile_sources()
            return None
        try:
            flow = _flow()
        except BaseException as e:  # noqa: BLE001 — a flow that does not load fails the task
            message = _component._report(e, hide_sdk=True)
            sys.stderr.flush()
            raise Err(StepError(message=message)) from None
        return flow.run_step(step)
