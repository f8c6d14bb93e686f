"""The component's export: the flow's spec and ``run-step``, for componentize-py.

``wflow build`` generates the application module ``wflow_app``::

    from wflow._component import export, sources_at
    sources_at("/0", "/home/you/flows/etl")  # tracebacks name the author's files
    import flow                            # the author's module
    Flow = export(flow)                    # what componentize-py exports as `wflow:flow/flow`
    bundle()                               # lazily imported modules (wflow/_bundle.py)

componentize-py runs that module at build time (pre-initialisation), so a syntax error, a missing
import or an invalid flow class fails ``wflow build`` with its traceback.
"""

import importlib
import inspect
import linecache
import os
import sys
import traceback

import wflow
from componentize_py_types import Err
from wit_world.imports.types import StepError
from wflow import FlowSpec, Inputs, Parameter, _Step


def _doc(obj):
    text = inspect.getdoc(obj) or ""
    # The first paragraph, on one line.
    return " ".join(text.split("\n\n")[0].split())


def _flow_class(module):
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, FlowSpec) and v is not FlowSpec
        and v.__module__ == module.__name__
    ]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise TypeError(
            f"{module.__file__}: a flow file defines exactly one class deriving from "
            f"wflow.FlowSpec (found: {names})"
        )
    return found[0]


def _steps(cls):
    steps = {}
    for klass in reversed(cls.__mro__):
        for name, v in vars(klass).items():
            if isinstance(v, _Step):
                steps[name] = v
    return steps


def _params(cls):
    params = {}
    for klass in reversed(cls.__mro__):
        for name, v in vars(klass).items():
            if isinstance(v, Parameter):
                params[v.name] = v
    return params


def _names(where, option, names):
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where}: `{option}` is a list of names: {option}=[\"a\", \"b\"]")
    return list(names)


def build_spec(cls):
    """The WIT ``flow-spec`` of a flow class; ``TypeError`` / ``ValueError`` if it is malformed."""
    t = wflow._types

    params = []
    for p in _params(cls).values():
        params.append(
            t.ParamSpec(
                name=p.name,
                type={
                    "string": t.ParamType.STRING,
                    "int": t.ParamType.INT,
                    "float": t.ParamType.FLOAT,
                    "bool": t.ParamType.BOOL,
                    "json": t.ParamType.JSON,
                }[p.kind],
                default=p._default_text(),
                help=p.help,
            )
        )
    steps = []
    for name, s in _steps(cls).items():
        o = s.opts
        where = f"step `{name}` of {cls.__name__}"
        given = [k for k in ("next", "foreach", "switch") if o.get(k) is not None]
        if len(given) > 1:
            raise ValueError(f"{where}: give one of `next`, `foreach` and `switch`, not {' and '.join(given)}")
        if o.get("max_iterations") is not None and o.get("switch") is None:
            raise ValueError(f"{where}: `max_iterations` goes with `switch` (it bounds a loop)")
        if o.get("switch") is not None:
            choices = o["switch"]
            if isinstance(choices, str) or not all(isinstance(c, str) for c in choices):
                raise ValueError(f"{where}: `switch` is a list of step names: @step(switch=[\"a\", \"b\"])")
            bound = o.get("max_iterations")
            if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool) or bound < 1):
                raise ValueError(f"{where}: `max_iterations` is a whole number of at least 1, not {bound!r}")
            transition = t.Transition_Switch(t.SwitchSpec(choices=list(choices), max_iterations=bound))
        elif o.get("foreach") is not None:
            if not o.get("items"):
                raise ValueError(f"{where}: a foreach step names its items: @step(foreach=…, items=\"artifact\")")
            transition = t.Transition_Foreach(o["foreach"])
        elif o.get("next") is not None:
            nxt = o["next"]
            nxt = [nxt] if isinstance(nxt, str) else list(nxt)
            if not nxt or not all(isinstance(n, str) for n in nxt):
                raise ValueError(f"{where}: `next` is a step name or a list of step names")
            transition = t.Transition_Next(nxt)
        else:
            transition = t.Transition_End()
        if o.get("items") and o.get("foreach") is None:
            raise ValueError(f"{where}: `items` goes with `foreach`")
        nargs = len(inspect.signature(s.fn).parameters)
        if bool(o.get("join")) != (nargs == 2):
            raise TypeError(
                f"{where}: a join step takes (self, inputs), any other step only (self)"
            )
        dirs = [t.DirGrant(host_path=h, guest_path=g, writable=bool(w)) for (h, g, w) in o.get("dirs", [])]
        steps.append(
            t.StepSpec(
                name=name,
                doc=_doc(s.fn),
                transition=transition,
                join=bool(o.get("join")),
                retries=int(o.get("retries", 0)),
                timeout_secs=o.get("timeout"),
                memory_mb=o.get("memory"),
                cpu=o.get("cpu"),
                catch=o.get("catch"),
                compute=o.get("compute"),
                capabilities=t.Capabilities(
                    env=list(o.get("env", [])),
                    dirs=dirs,
                    network=list(o.get("network", [])),
                    clock=bool(o.get("clock", False)),
                    random=bool(o.get("random", False)),
                    secrets=_names(where, "secrets", o.get("secrets", [])),
                ),
            )
        )
    if not steps:
        raise ValueError(f"flow {cls.__name__} has no steps: mark methods with @wflow.step")
    return t.FlowSpec(name=cls._wflow_name, doc=_doc(cls), parameters=params, steps=steps)


def _run(cls, steps, step_name):
    s = steps.get(step_name)
    if s is None:
        raise wflow.WflowError("invalid", f"flow {cls._wflow_name} has no step `{step_name}`")
    flow = cls()
    choices = s.opts.get("switch")
    if choices is not None:
        object.__setattr__(flow, "_wflow_choices", list(choices))
    wflow._cards._clear()
    if s.opts.get("join"):
        s.fn(flow, Inputs())
    else:
        s.fn(flow)
    if choices is not None and flow._wflow_next is None:
        raise wflow.WflowError(
            "invalid",
            f"switch step `{step_name}` finished without choosing its successor: set `self.next` "
            f"to {wflow._listed(choices)}",
        )
    if s.opts.get("foreach") is not None:
        items_name = s.opts["items"]
        items = getattr(flow, items_name)
        try:
            items = list(items)
        except TypeError:
            raise TypeError(
                f"foreach step `{step_name}`: artifact `{items_name}` is a {type(items).__name__}, not a list"
            ) from None
        foreach = wflow._foreach

        values = [wflow._encode_value(x, f"item {i} of `{items_name}`") for i, x in enumerate(items)]
        flow._wflow_save()
        wflow._save_cards()
        try:
            foreach.declare_items(values)
        except Exception as e:
            raise wflow._host_error(e, "declaring the foreach items") from None
    else:
        flow._wflow_save()
        wflow._save_cards()


# Where the sources were staged for the build (`/0/`) and where the author keeps them: tracebacks
# name the author's files. Set by `sources_at`.
_staged = [None, None]


def sources_at(staged, root):
    """Called by the entry module at build time: the author's files, staged under ``staged``, are
    in ``root``. Their lines are kept (for tracebacks: there are no files at run time)."""
    _staged[:] = [staged.rstrip("/") + "/", root.rstrip("/") + "/"]
    for folder, _, files in os.walk(_staged[0]):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    lines = f.readlines()
                # No modification time: `linecache.checkcache` keeps the entry though the file is gone.
                linecache.cache[path] = (sum(map(len, lines)), None, lines, path)


def _report(e, hide_sdk=False):
    """Prints the traceback with the author's paths; returns the step's error message, which names
    the innermost frame in the author's files. ``hide_sdk``: without the frames of wflow's own
    modules and of the import machinery (a flow's module that failed to load)."""
    staged, root = _staged
    tb = traceback.TracebackException.from_exception(e)
    if hide_sdk:
        sdk = os.path.dirname(__file__) + os.sep
        tb.stack = traceback.StackSummary.from_list([
            f for f in tb.stack
            if not f.filename.startswith((sdk, "<frozen")) and "/importlib/" not in f.filename
        ])
    text = "".join(tb.format())
    message = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    if staged:
        text = text.replace(f'File "{staged}', f'File "{root}')
        mine = [f for f in tb.stack if f.filename.startswith(staged)]
        if mine:
            f = mine[-1]
            message += f" (at {root}{f.filename[len(staged):]}:{f.lineno}, in {f.name})"
    sys.stderr.write(text)
    return message


def check_flow_name(name, path):
    """Refuses a flow module ``name`` (the author's file ``path``) named like a module Python finds
    first (``secrets.py``, ``json.py``): importing it would import that module instead."""
    if name in sys.stdlib_module_names or name in sys.modules:
        whose = "Python's standard library" if name in sys.stdlib_module_names else "the component"
        raise ImportError(
            f"{path}: a flow file cannot be named `{name}.py`: `{name}` is a module of {whose}, "
            f"which `import {name}` finds before your file. Rename the file (for example to "
            f"`{name}_flow.py`)",
            name=name,
        )


def import_flow(name, path):
    """Imports the flow's module ``name`` (the author's file ``path``), after
    :func:`check_flow_name`."""
    check_flow_name(name, path)
    return importlib.import_module(name)


def export(module, check=True):
    """The class componentize-py exports for the flow defined in ``module``. ``check``: build the
    spec now (at build time: a malformed flow fails the build); else on the first ``spec()`` call
    (the quick form, ``wflow/_quick.py``, which imports the module in every instance: a task's
    ``run-step`` does not need the spec, which the host read when it loaded the component)."""
    cls = _flow_class(module)
    spec = [build_spec(cls)] if check else []
    steps = _steps(cls)

    class Flow:
        def spec(self):
            if not spec:
                spec.append(build_spec(cls))
            return spec[0]

        def run_step(self, step):
            try:
                _run(cls, steps, step)
            except BaseException as e:  # noqa: BLE001 — every failure becomes the step's error
                message = _report(e)
                sys.stderr.flush()
                sys.stdout.flush()
                raise Err(StepError(message=message)) from None
            finally:
                sys.stdout.flush()

    return Flow
