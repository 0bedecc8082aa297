"""Executes examples/tutorial.ipynb headless with nbclient on the Kestrel kernel and checks
its outputs; the displays must match what `kestrel run` prints for the same statements.

Usage: notebook.py KESTREL NOTEBOOK WORKDIR
WORKDIR holds target/demo-lake.db (the shipped sample) and is the kernel's working
directory; KESTREL_CONFIG names examples/kestrel.yaml.
"""
import os
import re
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

kestrel, notebook, work = sys.argv[1:4]
prefix = os.path.join(work, "prefix")
subprocess.run([kestrel, "jupyter", "install", "--prefix", prefix], check=True)
os.environ["JUPYTER_PATH"] = os.path.join(prefix, "share", "jupyter")

nb = nbformat.read(notebook, as_version=4)
client = NotebookClient(nb, timeout=120, kernel_name="kestrel", resources={"metadata": {"path": work}})
client.execute()
nbformat.write(nb, os.path.join(work, "executed.ipynb"))

code_cells = [c for c in nb.cells if c.cell_type == "code"]


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what.splitlines()[0][:100]}")


def displays(cell):
    return [o["data"] for o in cell.outputs if o["output_type"] == "display_data"]


for i, cell in enumerate(code_cells):
    errors = [o for o in cell.outputs if o["output_type"] == "error"]
    check(not errors, f"cell {i} runs without error: {errors}")
    check(cell.execution_count == i + 1, f"cell {i} execution count")

hello, firefox, mshta, kids, merged, scored, plot = (displays(c) for c in code_cells)
check("<td>chrome.exe</td><td>205</td>" in hello[0]["text/html"], hello[0]["text/html"])
check("<td>firefox.exe</td><td>201</td>" in hello[0]["text/html"], "firefox in browsers")
check("cmd.exe" not in hello[0]["text/html"], "cmd.exe is not a browser")
check("<td>proclist</td><td>process</td><td>4</td><td>4</td>" in hello[1]["text/html"], hello[1]["text/html"])
check("<td>browsers</td><td>process</td><td>2</td><td>2</td>" in hello[1]["text/html"], "browsers summary")
check("firefox.exe" in firefox[0]["text/plain"] and "chrome" not in firefox[0]["text/plain"], firefox[0]["text/plain"])
check("Entity Type" in mshta[0]["text/plain"], f"INFO: {mshta[0]['text/plain']}")
check("<td>mshta.exe</td>" in mshta[1]["text/html"], "mshta displayed")
check("powershell.exe" in kids[0]["text/plain"] and "Get-Service sysmon" in kids[0]["text/plain"], kids[0]["text/plain"])
check("<td>both</td>" in merged[1]["text/html"], "summary of the merged variable")
check("mshta.exe" in merged[0]["text/plain"] and "powershell.exe" in merged[0]["text/plain"], merged[0]["text/plain"])
# APPLY: the scores (encoded PowerShell scores high) and an inline SVG figure.
check("x_suspicious_score" in scored[0]["text/html"] and "<td>powershell.exe</td>" in scored[0]["text/html"], scored[0]["text/html"])
check("explorer.exe" not in scored[0]["text/html"], "only processes scoring 2 or more are kept")
check("<td>procs</td>" in scored[1]["text/html"], "summary of the scored variable")
check(len(plot) == 1 and "<svg" in plot[0].get("image/svg+xml", ""), f"inline figure: {[list(d) for d in plot]}")

# The same statements as one hunt through `kestrel run`: the same tables.
hunt = "\n".join(c.source for c in code_cells) + "\n"
path = os.path.join(work, "tutorial.hf")
open(path, "w").write(hunt)
run = subprocess.run([kestrel, "run", "--no-summary", "--display-dir", os.path.join(work, "displays"), path], cwd=work, capture_output=True, text=True, check=True)
run_text = re.sub(r"\n*display \(image/svg\+xml\): \S+attribute-plot\.svg\n", "\n", run.stdout)
shown = []
for c in code_cells:
    ds = displays(c)
    # Every display but the summary a cell defining variables ends with.
    if any("[SUMMARY]" in d["text/plain"] for d in ds):
        ds = ds[:-1]
    # `kestrel run` writes figures to files; the notebook shows them inline.
    shown.extend(d["text/plain"] for d in ds if "image/svg+xml" not in d)
notebook_text = "\n".join(shown)
check(notebook_text == run_text, f"notebook displays equal `kestrel run`:\n{notebook_text}\n---\n{run.stdout}")
check(any(f.endswith(".svg") for f in os.listdir(os.path.join(work, "displays"))), "kestrel run wrote the figure")
print("all notebook checks passed")
