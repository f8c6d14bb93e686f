"""Standard-library (and the flow's own) modules that are imported lazily, bundled as source.

componentize-py freezes the interpreter after the flow's module was imported: only the modules
loaded by then are in the component, and at run time there is no file system to load others from.
A module that imports another *inside a function* (``collections.Counter.most_common`` imports
``heapq``; a step may ``import statistics``) would fail with ``ModuleNotFoundError`` when that
function runs. So at build time :func:`bundle` reads the source of every loaded module, finds every
``import`` in it (at any depth), and keeps the source of each module it names that is not loaded —
and of the modules those name, to a fixed point — compressed, in a table that a finder on
``sys.meta_path`` serves at run time. A bundled module is compiled when first imported, so it costs
nothing until then; built-in (C) modules need no source and are not bundled.
"""

import importlib.abc
import importlib.util
import os
import re
import sys
import zlib

# Interactive, GUI and test-suite modules a step has no use for.
_NEVER = frozenset({
    "__main__", "antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test",
    "ensurepip", "venv", "lib2to3", "_pyrepl", "pydoc_data",
})


class Finder(importlib.abc.MetaPathFinder, importlib.abc.InspectLoader):
    """Serves modules from ``table``: ``name -> (filename, is_package, source bytes)``, as kept
    by :meth:`source_bytes` (here as they are; compressed in :class:`_Bundled`)."""

    def __init__(self, table):
        self.table = table

    def source_bytes(self, entry):
        return entry[2]

    def find_spec(self, name, path=None, target=None):
        entry = self.table.get(name)
        if entry is None:
            return None
        filename, is_pkg, _ = entry
        spec = importlib.util.spec_from_loader(name, self, origin=filename, is_package=is_pkg)
        spec.has_location = True
        if is_pkg:
            spec.submodule_search_locations = []
        return spec

    def get_source(self, name):
        entry = self.table.get(name)
        if entry is None:
            raise ImportError(f"no bundled module {name}", name=name)
        return self.source_bytes(entry).decode("utf-8")

    def get_code(self, name):
        entry = self.table[name]
        return compile(self.source_bytes(entry), entry[0], "exec", dont_inherit=True)

    def is_package(self, name):
        return self.table[name][1]

    def get_filename(self, name):
        return self.table[name][0]


class _Bundled(Finder):
    """Serves the bundled modules, their sources compressed."""

    def source_bytes(self, entry):
        return zlib.decompress(entry[2])


def _source_of(name, path):
    """The file of module ``name`` under the folders of ``path``: ``(filename, is_package)``."""
    parts = name.split(".")
    for root in path:
        if not isinstance(root, str) or not root:
            continue
        base = os.path.join(root, *parts)
        for filename, is_pkg in ((base + ".py", False), (os.path.join(base, "__init__.py"), True)):
            if os.path.isfile(filename):
                return filename, is_pkg
    return None


# `import a.b, c as d` and `from .a import b, (c as d`, at any indentation. A regular expression
# rather than `ast`: parsing every module would leave megabytes of freed memory in the snapshot.
_IMPORT = re.compile(
    rb"^[ \t]*(?:import[ \t]+([\w. \t,]+)|from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]*\(?([\w. \t,]*))",
    re.M,
)


def _imported_names(source, package):
    """Every module an ``import`` in ``source`` may name (for ``from a import b``: ``a`` and
    ``a.b``)."""
    for m in _IMPORT.finditer(source):
        plain, base, names = m.groups()
        if plain is not None:
            for part in plain.decode("ascii", "replace").split(","):
                name = part.split(" as ")[0].strip()
                if name:
                    yield name
            continue
        base = base.decode("ascii", "replace")
        if base.startswith("."):
            try:
                base = importlib.util.resolve_name(base, package or "")
            except (ImportError, ValueError):
                continue
        if not base:
            continue
        yield base
        for part in names.decode("ascii", "replace").split(","):
            name = part.split(" as ")[0].strip()
            if name and name != "*":
                yield f"{base}.{name}"


def _read(filename):
    try:
        with open(filename, "rb") as f:
            return f.read()
    except OSError:
        return None


def bundle():
    """Bundles every module that a loaded or bundled module imports and that is not loaded; installs
    the finder. Returns the names bundled."""
    table = {}
    todo = []
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str) and filename.endswith(".py"):
            package = module.__package__ if module.__package__ is not None else ""
            todo.append((filename, package))
    builtin = set(sys.builtin_module_names)
    seen = set()
    while todo:
        filename, package = todo.pop()
        if filename in seen:
            continue
        seen.add(filename)
        source = _read(filename)
        if source is None:
            continue
        for name in _imported_names(source, package):
            # Each enclosing package too: `import a.b.c` runs a/__init__ and a/b/__init__.
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                sub = ".".join(parts[:i])
                if sub in table or sub in sys.modules or sub in builtin or parts[0] in _NEVER:
                    continue
                found = _source_of(sub, sys.path)
                if found is None:
                    break
                path, is_pkg = found
                text = _read(path)
                if text is None:
                    break
                table[sub] = (path, is_pkg, zlib.compress(text, 9))
                todo.append((path, sub if is_pkg else sub.rpartition(".")[0]))
    sys.meta_path.insert(0, _Bundled(table))
    return sorted(table)


def bundle_all():
    """Bundles every module of the standard library that is not loaded (but those of ``_NEVER``),
    for the base component of ``wflow/_quick.py``, which cannot know what a flow will import;
    installs the finder. Returns the names bundled."""
    import json  # not frozen (`os` is, with a path where no file is): its folder is the library's

    lib = os.path.dirname(os.path.dirname(json.__file__))
    builtin = set(sys.builtin_module_names)
    table = {}
    for folder, dirs, files in os.walk(lib):
        rel = os.path.relpath(folder, lib)
        parts = [] if rel == "." else rel.split(os.sep)
        if parts and (parts[0] in _NEVER or not all(p.isidentifier() for p in parts)):
            dirs[:] = []
            continue
        if parts and "__init__.py" not in files:
            dirs[:] = []
            continue
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".py") or not name[:-3].isidentifier():
                continue
            is_pkg = name == "__init__.py"
            mod = parts if is_pkg else parts + [name[:-3]]
            if not mod or mod[0] in _NEVER:
                continue
            full = ".".join(mod)
            if full in sys.modules or full in builtin or full in table:
                continue
            path = os.path.join(folder, name)
            text = _read(path)
            if text is not None:
                table[full] = (path, is_pkg, zlib.compress(text, 9))
    sys.meta_path.insert(0, _Bundled(table))
    return sorted(table)
