"""Suspicious-process scoring: rules over command lines, adds `x_suspicious_score`.

Each rule that matches a process's command line (or, without one, its name) adds its
weight; the score is the sum. WITH threshold=N keeps only processes scoring at least N
(default: keep all). Works on the OCSF names kestrel uses (`cmd_line`, `name`) and on the
STIX names of the original (`command_line`).
"""
import os
import re

import pandas as pd

RULES = [
    (r"-e(nc|ncodedcommand)?\s+[A-Za-z0-9+/=]{16,}", 8, "encoded PowerShell"),
    (r"\b(invoke-expression|iex)\b", 5, "PowerShell expression"),
    (r"downloadstring|downloadfile|invoke-webrequest", 5, "PowerShell download"),
    (r"\b(curl|wget)\b.*https?://", 4, "download tool fetching a URL"),
    (r"\|\s*(ba)?sh\b", 5, "piped into a shell"),
    (r"/etc/(passwd|shadow)", 6, "reads account files"),
    (r"\b(whoami|net\s+user|net\s+group|nltest|quser)\b", 3, "account discovery"),
    (r"\b(ipconfig|ifconfig|netstat|arp\s+-a|route\s+print)\b", 2, "network discovery"),
    (r"\bping\b", 1, "ping"),
    (r"\bpathping\b|\btracert\b|\btraceroute\b", 2, "route discovery"),
    (r"\b(nc|ncat|netcat)\b.*\s-e\s", 9, "reverse shell"),
    (r"certutil.*-urlcache", 8, "certutil download"),
    (r"rundll32|regsvr32\s+/s", 4, "proxy execution"),
    (r"mimikatz|sekurlsa|lsass", 10, "credential dumping"),
    (r"chmod\s+\+x\s+/tmp", 5, "executable in /tmp"),
    (r"\buname\s+-a\b", 2, "system discovery"),
    (r"\bschtasks\b.*/create|\bcrontab\b", 4, "persistence"),
    (r"vssadmin.*delete|wbadmin.*delete", 9, "backup deletion"),
]
COMPILED = [(re.compile(p, re.IGNORECASE), w) for p, w, _ in RULES]


def _score(text):
    if not isinstance(text, str):
        return 0
    return sum(w for rx, w in COMPILED if rx.search(text))


def score(df, threshold=None):
    col = next((c for c in ("cmd_line", "command_line", "process.command_line", "name")
                if c in df.columns), None)
    if col is None:
        raise ValueError("no command line column (cmd_line, command_line or name)")
    df = df.copy()
    df["x_suspicious_score"] = df[col].map(_score).astype("int64")
    threshold = threshold if threshold is not None else os.environ.get("threshold")
    if threshold:
        df = df[df["x_suspicious_score"] >= int(threshold)]
    return df


if __name__ == "__main__":
    dfi = pd.read_parquet("/data/input/0.parquet.gz")
    score(dfi).to_parquet("/data/output/0.parquet.gz", compression="gzip")
