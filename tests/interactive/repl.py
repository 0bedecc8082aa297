"""Drives `kestrel repl` through a pseudo-terminal (pexpect), as a hunter types.

Usage: repl.py KESTREL CONFIG STATE_DIR [--only-interrupt]
CONFIG defines data sources `events` (the ECS fixture) and `slow` (a view that never
ends). Exits non-zero with a message at the first check that fails.
"""
import os
import sys
import time

import pexpect

kestrel, config, state = sys.argv[1:4]
only_interrupt = "--only-interrupt" in sys.argv
PROMPT = "kestrel> "


def spawn(colour=False):
    env = dict(os.environ, XDG_STATE_HOME=state, TERM="xterm")
    env.pop("NO_COLOR", None)
    if not colour:
        env["NO_COLOR"] = "1"
    child = pexpect.spawn(
        kestrel,
        ["repl", "--config", config],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 220),
    )
    child.logfile_read = sys.stdout
    child.expect_exact(PROMPT)
    return child


def run(child, line, *expected):
    child.sendline(line)
    for e in expected:
        child.expect_exact(e)
    child.expect_exact(PROMPT)


child = spawn()

# A statement over several lines: the prompt waits until the parser says it is complete.
child.sendline('browsers = NEW process [ {"name": "firefox.exe", "pid": 201}')
time.sleep(0.3)
run(child, '  , {"name": "chrome.exe", "pid": 205} ]')

if not only_interrupt:
    run(child, "DISP browsers ATTR name, pid SORT BY pid ASC", "firefox.exe", "chrome.exe")

    # Completion: a variable, then an attribute of that variable (TAB completes a
    # single candidate in place; `bro` alone would be an unknown variable).
    child.send("DISP bro\t")
    child.expect_exact("browsers")
    child.send(" ATTR pi\t")
    child.expect_exact("pid")
    run(child, " SORT BY pid ASC", "201", "205")

    # An entity type and a data source name from the configuration.
    child.send("x = GET proc\t")
    child.expect_exact("process")
    child.send(" FROM stixshifter://ev\t")
    child.expect_exact("stixshifter://events")
    run(child, " WHERE name = 'bash'")
    run(child, "DISP x ATTR name LIMIT 1", "bash")

    # An error prints its diagnostic (caret under the input) and the session goes on.
    child.sendline("DISP nosuch")
    child.expect_exact("error[K0301]")
    child.expect_exact("^^^^^^")
    child.expect_exact(PROMPT)
    run(child, "DISP browsers ATTR name SORT BY name ASC", "chrome.exe", "firefox.exe")

    # Dot commands.
    run(child, ".vars", "browsers", "process")
    run(child, ".config", "data sources:", "events")
    run(child, ".explain browsers", "SELECT")
    run(child, ".help", ".explain V")

# Ctrl-C during a statement that never ends: back to the prompt, variables intact.
child.sendline("p = GET process FROM stixshifter://slow WHERE pid < 0")
child.expect_exact(PROMPT)
child.sendline("DISP p ATTR pid")
time.sleep(2.0)
started = time.time()
child.sendintr()
child.expect_exact("interrupted", timeout=20)
child.expect_exact(PROMPT)
print(f"\n[driver] the statement stopped {time.time() - started:.2f} s after Ctrl-C")
run(child, "DISP browsers ATTR name SORT BY name ASC", "chrome.exe", "firefox.exe")

# Ctrl-C while typing drops the line; Ctrl-D exits.
child.send("DISP brow")
child.sendintr()
child.expect_exact(PROMPT)
child.sendcontrol("d")
child.expect(pexpect.EOF)
child.close()
assert child.exitstatus == 0, f"exit status {child.exitstatus}"

history = open(os.path.join(state, "kestrel", "history"), encoding="utf-8").read()
assert "DISP browsers ATTR name SORT BY name ASC" in history, history

if not only_interrupt:
    # Highlighting on a colour terminal: a keyword in bold blue as it is typed.
    child = spawn(colour=True)
    child.send("DISP")
    child.expect_exact("\x1b[1;34mDISP\x1b[0m")
    child.sendintr()
    child.expect_exact(PROMPT)
    child.sendline(".quit")
    child.expect(pexpect.EOF)

    # `kestrel` alone on a terminal is the REPL.
    env = dict(os.environ, XDG_STATE_HOME=state, TERM="xterm", NO_COLOR="1", KESTREL_CONFIG=config)
    child = pexpect.spawn(kestrel, [], env=env, encoding="utf-8", timeout=30)
    child.expect_exact(PROMPT)
    child.sendline(".config")
    child.expect_exact("events")
    child.expect_exact(PROMPT)
    child.sendline(".quit")
    child.expect(pexpect.EOF)

print("\n[driver] all REPL checks passed")
