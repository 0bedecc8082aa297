"""Drives the Kestrel kernel with the real jupyter_client.

Usage: kernel.py KESTREL CONFIG WORKDIR
Installs the kernelspec with `kestrel jupyter install --prefix WORKDIR/prefix`, finds it
through JUPYTER_PATH, starts it with KernelManager, and checks kernel_info, execute (results,
summary, errors, the kernel staying up), complete, is_complete, inspect, interrupt (a
statement that never ends) and restart. Exits non-zero at the first failed check.
"""
import json
import os
import subprocess
import sys
import time

from jupyter_client.manager import KernelManager

kestrel, config, work = sys.argv[1:4]
prefix = os.path.join(work, "prefix")
subprocess.run([kestrel, "jupyter", "install", "--prefix", prefix], check=True)
spec_dir = os.path.join(prefix, "share", "jupyter", "kernels", "kestrel")
spec = json.load(open(os.path.join(spec_dir, "kernel.json")))
assert spec["display_name"] == "Kestrel", spec
assert spec["language"] == "kestrel", spec
assert spec["argv"][1:] == ["jupyter", "kernel", "-f", "{connection_file}"], spec
lab = os.path.join(prefix, "share", "jupyter", "labextensions", "kestrel-jupyterlab")
lab_pkg = json.load(open(os.path.join(lab, "package.json")))
check_entry = os.path.join(lab, lab_pkg["jupyterlab"]["_build"]["load"])
assert os.path.isfile(check_entry), check_entry
assert "text/x-kestrel" in open(os.path.join(lab, "static", [f for f in os.listdir(os.path.join(lab, "static")) if f[0].isdigit()][0])).read()
os.environ["JUPYTER_PATH"] = os.path.join(prefix, "share", "jupyter")
os.environ["KESTREL_CONFIG"] = config


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what.splitlines()[0][:100]}")


km = KernelManager(kernel_name="kestrel")
started = time.time()
km.start_kernel()
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=60)
print(f"[driver] kernel ready {time.time() - started:.2f} s after start")

# kernel_info
msg_id = kc.kernel_info()
info = kc.get_shell_msg(timeout=10)["content"]
check(info["language_info"]["name"] == "kestrel", f"language kestrel: {info}")
check(info["language_info"]["file_extension"] == ".hf", "file extension .hf")
check(info["status"] == "ok", "kernel_info status ok")


def execute(code, timeout=60):
    """Runs a cell; returns (reply content, [iopub messages of the cell])."""
    outputs = []
    reply = kc.execute_interactive(
        code, timeout=timeout, output_hook=lambda m: outputs.append(m)
    )
    return reply["content"], outputs


def displays(outputs):
    return [m["content"]["data"] for m in outputs if m["msg_type"] == "display_data"]


# execute: a cell of several statements, a display and the summary.
cell = """proclist = NEW process [ {"name": "cmd.exe", "pid": "123"}
                       , {"name": "explorer.exe", "pid": "99"}
                       , {"name": "firefox.exe", "pid": "201"}
                       , {"name": "chrome.exe", "pid": "205"}
                       ]
browsers = GET process FROM proclist WHERE [process:name IN ('firefox.exe', 'chrome.exe')]
DISP browsers ATTR name, pid"""
started = time.time()
reply, outputs = execute(cell)
print(f"[driver] hello-world cell {time.time() - started:.3f} s")
check(reply["status"] == "ok", f"cell runs: {reply}")
shown = displays(outputs)
check(len(shown) == 2, f"one display and the summary: {shown}")
table, summary = shown
check("<table" in table["text/html"] and "<td>chrome.exe</td>" in table["text/html"], table["text/html"])
check("<td>firefox.exe</td>" in table["text/html"] and "cmd.exe" not in table["text/html"], "only browsers")
check("chrome.exe" in table["text/plain"] and "pid" in table["text/plain"], table["text/plain"])
check("proclist" in summary["text/plain"] and "browsers" in summary["text/plain"], summary["text/plain"])
check("<td>browsers</td><td>process</td><td>2</td><td>2</td>" in summary["text/html"], summary["text/html"])
count = reply["execution_count"]

# An error: ename is the diagnostic code, the traceback the rendered diagnostic.
reply, outputs = execute("DISP nosuch")
check(reply["status"] == "error", f"error reply: {reply}")
check(reply["ename"] == "K0301", f"ename is the code: {reply['ename']}")
check("nosuch" in reply["evalue"], reply["evalue"])
tb = "\n".join(reply["traceback"])
check("^^^^^^" in tb and "DISP nosuch" in tb, tb)
check("1 | DISP nosuch" in tb, f"lines counted within the cell: {tb}")
errors = [m for m in outputs if m["msg_type"] == "error"]
check(len(errors) == 1 and errors[0]["content"]["ename"] == "K0301", "error on iopub")
check(reply["execution_count"] == count + 1, "execution count goes on")

# The kernel stays up and the variables with it.
reply, outputs = execute("firefox = GET process FROM browsers WHERE [process:pid = '201']\nDISP firefox ATTR name, pid")
check(reply["status"] == "ok", f"after the error: {reply}")
shown = displays(outputs)
check("<td>firefox.exe</td>" in shown[0]["text/html"] and "chrome" not in shown[0]["text/html"], shown[0]["text/html"])
check("firefox" in shown[1]["text/plain"], "summary of the new variable")

# EXPLAIN as a text block; a cell with no variable defined has no summary.
reply, outputs = execute("EXPLAIN browsers")
shown = displays(outputs)
check(len(shown) == 1 and "<pre>" in shown[0]["text/html"], f"explain: {shown}")

# complete
kc.complete("DISP bro", 8)
c = kc.get_shell_msg(timeout=10)["content"]
check(c["matches"] == ["browsers"] and c["cursor_start"] == 5 and c["cursor_end"] == 8, f"complete variable: {c}")
code = "DISP browsers ATTR na"
kc.complete(code, len(code))
c = kc.get_shell_msg(timeout=10)["content"]
check("name" in c["matches"], f"complete attribute: {c}")
code = "x = GET proc"
kc.complete(code, len(code))
c = kc.get_shell_msg(timeout=10)["content"]
check("process" in c["matches"], f"complete type: {c}")
code = "x = GET process FROM stixshifter://ev"
kc.complete(code, len(code))
c = kc.get_shell_msg(timeout=10)["content"]
check(c["matches"] == ["stixshifter://events"], f"complete data source: {c}")
code = "kids = FIND process CRE"
kc.complete(code, len(code))
c = kc.get_shell_msg(timeout=10)["content"]
check("CREATED" in c["matches"], f"complete relation: {c}")
# After APPLY: the analytics `kestrel analytics list` shows (the configured profiles).
code = "APPLY py"
kc.complete(code, len(code))
c = kc.get_shell_msg(timeout=10)["content"]
check("python://attribute-plot" in c["matches"] and "python://suspicious-scoring" in c["matches"],
      f"complete analytics: {c}")

# APPLY: a figure shows inline as SVG; an enrichment's attribute is listed by INFO apart.
reply, outputs = execute("APPLY python://attribute-plot ON browsers WITH XPARAM=name, YPARAM=pid", timeout=120)
check(reply["status"] == "ok", f"APPLY runs: {reply}")
shown = displays(outputs)
check(len(shown) == 1 and "<svg" in shown[0].get("image/svg+xml", ""), f"inline SVG: {[list(d) for d in shown]}")
check("attribute-plot" in shown[0]["text/plain"], shown[0]["text/plain"])
reply, outputs = execute("APPLY python://suspicious-scoring ON browsers\nINFO browsers\nDISP browsers ATTR name, x_suspicious_score", timeout=120)
check(reply["status"] == "ok", f"enrichment runs: {reply}")
shown = displays(outputs)
check("<td>Customized Attributes</td><td>x_suspicious_score</td>" in shown[0]["text/html"], shown[0]["text/html"])
check("x_suspicious_score" in shown[1]["text/html"] and "firefox.exe" in shown[1]["text/html"], shown[1]["text/html"])

# is_complete
for code, want in [
    ('x = NEW process [ {"name": "a"}', "incomplete"),
    ("DISP browsers", "complete"),
    ("x = GET process FROM stixshifter://events WHERE", "incomplete"),
    ("DISP )", "invalid"),
]:
    kc.is_complete(code)
    r = kc.get_shell_msg(timeout=10)["content"]
    check(r["status"] == want, f"is_complete {code!r}: {r}")

# inspect: an attribute resolves to columns; a variable shows its type.
code = "x = GET process FROM stixshifter://events WHERE process:name = 'bash'"
kc.inspect(code, code.index("process:name") + 3)
r = kc.get_shell_msg(timeout=10)["content"]
check(r["found"] and "process.name" in r["data"]["text/plain"], f"inspect attribute: {r}")
kc.inspect("DISP browsers", 7)
r = kc.get_shell_msg(timeout=10)["content"]
check(r["found"] and "process" in r["data"]["text/plain"], f"inspect variable: {r}")

# interrupt: a statement that never ends is stopped by interrupt_request (the kernelspec
# says signal, so jupyter_client sends SIGINT; a message on control is tried as well).
def interrupted_cell(how):
    msg_id = kc.execute("p = GET process FROM stixshifter://slow WHERE pid < 0\nDISP p ATTR pid")
    time.sleep(2.0)
    started = time.time()
    how()
    reply = kc.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=30)
    took = time.time() - started
    r = reply["content"]
    check(r["status"] == "error" and r["ename"] == "KeyboardInterrupt", f"interrupted ({took:.2f} s): {r}")
    reply, _ = execute("DISP browsers ATTR name")
    check(reply["status"] == "ok", f"the session goes on after an interrupt: {reply}")


interrupted_cell(km.interrupt_kernel)


def by_message():
    msg = kc.session.msg("interrupt_request", {})
    kc.control_channel.send(msg)
    r = kc.get_control_msg(timeout=10)
    check(r["msg_type"] == "interrupt_reply", f"interrupt_reply: {r['msg_type']}")


interrupted_cell(by_message)

# restart: a new process, a new session; the old one is gone.
old_pid = km.provisioner.process.pid
km.restart_kernel(now=False)
kc.wait_for_ready(timeout=60)
new_pid = km.provisioner.process.pid
check(new_pid != old_pid, "restart starts a new process")
try:
    os.kill(old_pid, 0)
    gone = False
except ProcessLookupError:
    gone = True
check(gone, "the old kernel process is gone after restart")
reply, _ = execute("DISP browsers")
check(reply["status"] == "error" and reply["ename"] == "K0301", "a restarted kernel starts with no variables")
reply, _ = execute('y = NEW process [ {"name": "a.exe", "pid": 1} ]\nDISP y')
check(reply["status"] == "ok", "the restarted kernel runs cells")

# shutdown while a statement runs: it is stopped and the process ends by itself (well
# before jupyter_client's 5 s grace period after which it would kill it).
pid = km.provisioner.process.pid
kc.execute("p = GET process FROM stixshifter://slow WHERE pid < 0\nDISP p ATTR pid")
kc.execute("DISP y")
time.sleep(1.5)
started = time.time()
km.shutdown_kernel(now=False)
took = time.time() - started
kc.stop_channels()
check(took < 4, f"shutdown during a statement took {took:.2f} s")
time.sleep(0.2)
try:
    os.kill(pid, 0)
    alive = True
except ProcessLookupError:
    alive = False
check(not alive, "nothing left running after shutdown")
print("all kernel checks passed")
