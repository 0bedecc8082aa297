# kestrel's python:// analytics driver: runs one analytic function in this process.
#
# argv[1]: a JSON file {"module", "func", "name", "inputs": [parquet paths],
#          "outputs": [parquet paths], "display_dir", "params": [[k, v], ...]}.
# argv[2]: where to write the result JSON:
#   {"ok": true, "outputs": [bool per input], "display": path or null}
#   {"ok": false, "kind": "import"|"exception"|"return"|"load", "message", "package",
#    "traceback"}
# Data only ever travels in the Parquet files; nothing is pasted into code.
import importlib.util
import inspect
import json
import os
import sys
import traceback


def fail(result_path, kind, message, package=None, tb=""):
    with open(result_path, "w") as f:
        json.dump({"ok": False, "kind": kind, "message": message, "package": package,
                   "traceback": tb}, f)
    sys.exit(0)


def trimmed_traceback(exc, module_dir):
    # Only the analytic's own frames (and what it called), not the driver's.
    frames = traceback.extract_tb(exc.__traceback__)
    here = os.path.abspath(__file__)
    keep = [f for f in frames if os.path.abspath(f.filename) != here]
    lines = traceback.format_list(keep)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def main():
    spec_path, result_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    module_path = os.path.abspath(spec["module"])
    module_dir = os.path.dirname(module_path)
    for k, v in spec["params"]:
        os.environ[k] = v

    try:
        import pandas as pd
    except ImportError as e:
        fail(result_path, "import", str(e), e.name)

    sys.path.insert(0, module_dir)
    os.chdir(module_dir)
    try:
        mod_spec = importlib.util.spec_from_file_location("kestrel_analytic_" + spec["name"].replace("-", "_"), module_path)
        if mod_spec is None or mod_spec.loader is None:
            fail(result_path, "load", f"cannot load {module_path} as a Python module")
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    except ImportError as e:
        fail(result_path, "import", str(e), e.name, trimmed_traceback(e, module_dir))
    except SystemExit:
        raise
    except BaseException as e:
        fail(result_path, "exception", f"{type(e).__name__}: {e}", None,
             trimmed_traceback(e, module_dir))
    func = getattr(module, spec["func"], None)
    if not callable(func):
        fail(result_path, "load", f"{module_path} has no function `{spec['func']}`")

    frames = [pd.read_parquet(p) for p in spec["inputs"]]
    kwargs = {}
    try:
        sig = inspect.signature(func)
        takes_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        named = {n for n, p in sig.parameters.items()
                 if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        positional = [n for n, p in sig.parameters.items()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for k, v in spec["params"]:
            if (k in named and k not in positional[:len(frames)]) or takes_any:
                kwargs[k] = v
    except (TypeError, ValueError):
        pass

    try:
        ret = func(*frames, **kwargs)
    except BaseException as e:
        fail(result_path, "exception", f"{type(e).__name__}: {e}", None,
             trimmed_traceback(e, module_dir))

    items = list(ret) if isinstance(ret, (tuple, list)) else [ret]
    dfs, displays = [], []
    for item in items:
        if isinstance(item, pd.DataFrame):
            dfs.append(item)
        elif item is None:
            continue
        elif isinstance(item, (str, bytes)) or type(item).__name__ == "Figure":
            displays.append(item)
        else:
            fail(result_path, "return", f"a value of type {type(item).__name__}, which is "
                 "neither a DataFrame nor a display (an HTML string or a matplotlib Figure)")
    if dfs and len(dfs) != len(frames):
        fail(result_path, "return", f"{len(dfs)} DataFrame(s) for {len(frames)} variable(s)")
    if len(displays) > 1:
        fail(result_path, "return", f"{len(displays)} displays (at most one is allowed)")

    written = []
    for df, out in zip(dfs, spec["outputs"]):
        df = df.copy()
        for col in df.columns:
            s = df[col]
            kind = s.dtype.kind
            if kind in "biufM":
                continue
            # Anything else (objects, categoricals, lists) travels as text.
            df[col] = s.map(lambda v: None if v is None or (isinstance(v, float) and v != v)
                            else str(v))
        df.columns = [str(c) for c in df.columns]
        df.to_parquet(out, compression="gzip", index=False)
        written.append(True)
    written += [False] * (len(frames) - len(written))

    display = None
    if displays:
        d = displays[0]
        if isinstance(d, (str, bytes)):
            display = os.path.join(spec["display_dir"], "display.html")
            with open(display, "wb") as f:
                f.write(d.encode() if isinstance(d, str) else d)
        else:
            display = os.path.join(spec["display_dir"], "display.svg")
            d.savefig(display, format="svg", bbox_inches="tight")

    with open(result_path, "w") as f:
        json.dump({"ok": True, "outputs": written, "display": display}, f)


if __name__ == "__main__":
    main()
