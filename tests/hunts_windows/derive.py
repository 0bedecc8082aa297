#!/usr/bin/env python3
"""Expected answers of the hunts in this directory, computed straight from the raw events
in examples/data/*.jsonl.gz, independently of kestrel (no SQL, no mapping files).

    python3 tests/hunts_windows/derive.py            # every hunt
    python3 tests/hunts_windows/derive.py 03         # one hunt, by number

Each answer is the set of distinct rows the hunt's DISP prints, sorted. tests/windows_hunts.rs
holds these rows as its expectations.
"""
import glob
import gzip
import json
import os
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "examples", "data")
SYSMON = "Microsoft-Windows-Sysmon/Operational"


def load():
    events = []
    for path in sorted(glob.glob(os.path.join(DATA, "*.jsonl.gz"))):
        with gzip.open(path, "rt") as f:
            for line in f:
                raw = json.loads(line)
                ev = dict(raw)
                # Winlogbeat nests the event's fields under event_data and names the header
                # fields differently; bring both layouts to NXLog's names.
                data = raw.get("event_data")
                if isinstance(data, dict):
                    for k, v in data.items():
                        ev.setdefault(k, v)
                for nx, wlb in [("Channel", "log_name"), ("EventID", "event_id"),
                                ("Hostname", "computer_name")]:
                    if ev.get(nx) is None and raw.get(wlb) is not None:
                        ev[nx] = raw[wlb]
                # Field names differing only in case are one field (ProcessID/ProcessId).
                if "ProcessID" in ev and "ProcessId" not in ev:
                    ev["ProcessId"] = ev["ProcessID"]
                events.append(ev)
    return events


def base(p):
    if p is None:
        return None
    return p.replace("/", "\\").rsplit("\\", 1)[-1]


def dirname(p):
    if p is None:
        return None
    p2 = p.replace("/", "\\")
    return p2.rsplit("\\", 1)[0] if "\\" in p2 else ""


E = load()


def sysmon(ev, *ids):
    return ev.get("Channel") == SYSMON and ev.get("EventID") in ids


def security(ev, *ids):
    return ev.get("Channel") in ("Security", "security") and ev.get("EventID") in ids


def created():
    """Process creations as (host, guid, pid, name, path, cmdline, parent guid, parent name,
    parent path), Sysmon 1 and Security 4688."""
    out = []
    for e in E:
        if sysmon(e, 1):
            out.append(dict(host=e.get("Hostname"), uid=e.get("ProcessGuid"),
                            name=base(e.get("Image")), path=e.get("Image"),
                            cmd=e.get("CommandLine"), puid=e.get("ParentProcessGuid"),
                            pname=base(e.get("ParentImage")), ppath=e.get("ParentImage"),
                            ppid=e.get("ParentProcessId"), pid=e.get("ProcessId"),
                            product=e.get("Product")))
        elif security(e, 4688):
            out.append(dict(host=e.get("Hostname"), uid=None, name=base(e.get("NewProcessName")),
                            path=e.get("NewProcessName"), cmd=e.get("CommandLine"), puid=None,
                            pname=base(e.get("ParentProcessName")),
                            ppath=e.get("ParentProcessName"), ppid=e.get("ProcessId"),
                            pid=e.get("NewProcessId"), product=None))
    return out


def like(text, needle):
    return text is not None and needle.lower() in text.lower()


def h01():
    return {(p["host"], p["name"], p["pname"]) for p in created()
            if p["name"] == "powershell.exe"
            and (like(p["cmd"], "-enc ") or like(p["cmd"], "-encodedcommand"))}


def h02():
    shells = {"cmd.exe", "powershell.exe", "pwsh.exe", "wscript.exe", "cscript.exe", "mshta.exe"}
    hosts = {"WINWORD.EXE", "EXCEL.EXE", "POWERPNT.EXE", "OUTLOOK.EXE", "wscript.exe",
             "cscript.exe", "mshta.exe"}
    return {(p["host"], p["pname"], p["name"]) for p in created()
            if p["name"] in shells and p["pname"] in hosts}


def h03():
    # Sysmon 10 whose target is lsass.exe: the source process, by GUID (its host and name).
    return {(e.get("Hostname"), base(e.get("SourceImage"))) for e in E
            if sysmon(e, 10) and base(e.get("TargetImage")) == "lsass.exe"}


def h04():
    return {(e.get("Hostname"), base(e.get("SourceImage")), e.get("GrantedAccess")) for e in E
            if sysmon(e, 10) and base(e.get("TargetImage")) == "lsass.exe"
            and e.get("GrantedAccess") == "0x1fffff"}


def h05():
    return {(e.get("Hostname"), base(e.get("Image"))) for e in E
            if sysmon(e, 11) and (e.get("TargetFilename") or "").lower().endswith(".dmp")}


def h06():
    return {(base(e.get("Image")), dirname(e.get("Image"))) for e in E
            if sysmon(e, 7) and base(e.get("ImageLoaded")) == "comsvcs.dll"}


def h07():
    out = set()
    for e in E:
        if not (sysmon(e, 13) or (sysmon(e, 12) and e.get("EventType") == "DeleteValue")):
            continue
        obj = e.get("TargetObject") or ""
        key, value = obj.rsplit("\\", 1)
        if like(key, "\\CurrentVersion\\Run") or value == "UserInitMprLogonScript":
            out.add((e.get("Hostname"), base(e.get("Image")), value, e.get("Details")))
    return out


def h08():
    writers = {e.get("ProcessGuid") for e in E
               if sysmon(e, 12, 13, 14)
               and (e.get("TargetObject") or "").rsplit("\\", 1)[-1] == "UserInitMprLogonScript"}
    return {(p["pname"], dirname(p["ppath"])) for p in created() if p["uid"] in writers}


def h09():
    return {(e.get("Hostname"), base(e.get("Image")), e.get("ProcessGuid"),
             e.get("TargetObject").rsplit("\\", 1)[0]) for e in E
            if sysmon(e, 13) and e.get("TargetObject", "").rsplit("\\", 1)[-1]
            == "UseLogonCredential" and e.get("Details") == "1"}


def powershell_guids():
    # Every process GUID named powershell.exe anywhere a process is recorded: Sysmon's
    # process (Image) or a Sysmon 1's parent, 8/10's target.
    g = set()
    for e in E:
        if base(e.get("Image")) == "powershell.exe" and e.get("ProcessGuid"):
            g.add(e["ProcessGuid"])
        if sysmon(e, 10) and base(e.get("TargetImage")) == "powershell.exe":
            g.add(e.get("TargetProcessGUID"))
    return g


def h10():
    ps = powershell_guids()
    return {(e.get("DestinationIp"), e.get("DestinationPort")) for e in E
            if sysmon(e, 3) and e.get("ProcessGuid") in ps}


def h11():
    # Sysmon 3 (DestinationIp) and Security 5156 (DestAddress): the process (by GUID, or by
    # pid where 5156 has no GUID).
    out = set()
    for e in E:
        if sysmon(e, 3) and e.get("DestinationIp") == "10.0.10.106":
            out.add((e.get("Hostname"), base(e.get("Image")), e.get("ProcessId")))
        if security(e, 5156) and e.get("DestAddress") == "10.0.10.106":
            out.add((e.get("Hostname"), base(e.get("Application")), e.get("ProcessId")))
    return out


def h12():
    iu = {p["uid"] for p in created() if p["name"] == "InstallUtil.exe"
          and like(p["cmd"], "/u ") and like(p["cmd"], ".dll")}
    return {(e.get("SourceIp"), e.get("DestinationIp"), e.get("DestinationPort")) for e in E
            if sysmon(e, 3) and e.get("ProcessGuid") in iu}


def children_of(uids):
    return {p["uid"] for p in created() if p["puid"] in uids and p["uid"]}


def h13():
    hosts = {e.get("ProcessGuid") for e in E
             if base(e.get("Image")) in ("wscript.exe", "cscript.exe", "mshta.exe")}
    kids = children_of(hosts)
    return {(e.get("QueryName"),) for e in E if sysmon(e, 22) and e.get("ProcessGuid") in kids}


def h14():
    ws = {e.get("ProcessGuid") for e in E if base(e.get("Image")) == "wscript.exe"}
    kids = children_of(ws)
    return {(p["pname"], p["name"], p["cmd"]) for p in created() if p["puid"] in kids}


def h15():
    m = {e.get("ProcessGuid") for e in E if base(e.get("Image")) == "mshta.exe"}
    grand = children_of(children_of(m))
    return {(p["name"], p["cmd"]) for p in created() if p["uid"] in grand}


def h16():
    disc = {p["puid"] for p in created()
            if p["name"] in ("whoami.exe", "net.exe", "net1.exe", "ipconfig.exe") and p["puid"]}
    return {(p["host"], p["name"]) for p in created() if p["uid"] in disc}


def h17():
    # GROUP procs BY name WITH COUNT(uid): processes that have a command line (Sysmon 1 and
    # 4688 rows), grouped by image name, counting process GUIDs (4688 has none).
    c = Counter()
    names = set()
    for p in created():
        if p["cmd"] is None:
            continue
        names.add(p["name"])
        if p["uid"]:
            c[p["name"]] += 1
    return {(n, c[n]) for n in names}


def h18():
    # The process of each event: the target in Sysmon 8/10, the new process in 4688, the
    # application in 5156, else the event's Image.
    out = set()
    for e in E:
        if sysmon(e, 8, 10):
            path = e.get("TargetImage")
        elif security(e, 4688):
            path = e.get("NewProcessName")
        elif security(e, 5156):
            path = e.get("Application")
        else:
            path = e.get("Image")
        if path and dirname(path).lower().startswith("c:\\users\\"):
            out.add((base(path), dirname(path)))
    return out


def h19():
    writers = {e.get("ProcessGuid") for e in E
               if sysmon(e, 13) and e.get("TargetObject", "").rsplit("\\", 1)[-1]
               == "UseLogonCredential" and e.get("Details") == "1"}
    return {(e.get("SourceIp"), e.get("DestinationIp"), e.get("DestinationPort")) for e in E
            if sysmon(e, 3) and e.get("ProcessGuid") in writers}


def h20():
    lolbins = ("InstallUtil.exe", "rundll32.exe", "regsvr32.exe", "mshta.exe")
    return {(e.get("Hostname"), base(e.get("Image")), e.get("QueryName"), e.get("QueryResults"))
            for e in E if sysmon(e, 22) and base(e.get("Image")) in lolbins}


def parents_of(uids):
    # FIND process CREATED: the parent recorded by a process creation of a process in
    # `uids` (by GUID: 4688 records none, so it relates nothing here). A record without a
    # parent gives no parent.
    return {(p["host"], p["pname"], p["ppid"], p["puid"]) for p in created()
            if p["uid"] in uids and p["puid"]}


def h21():
    ps = {p["uid"] for p in created() if p["name"] == "powershell.exe" and p["uid"]}
    parents = parents_of(ps)
    grandparents = parents_of({p[3] for p in parents})
    # DISP of the merge: distinct rows.
    return {(h, n, str(pid), u) for (h, n, pid, u) in parents | grandparents}


def h22():
    mshta = {p["uid"] for p in created()
             if p["product"] == "Internet Explorer" and p["name"] == "mshta.exe"}
    return {(p["host"], p["name"], str(p["pid"])) for p in created()
            if p["puid"] in mshta and (p["product"] or "").lower().startswith("microsoft")}


def ocsf(cls, activity):
    """OCSF numbers and names of a class's activity, from the schema JSON (needs the venv's
    pydantic-ocsf: run this file with .venv/bin/python for hunt 23)."""
    sys.path.insert(0, os.path.join(HERE, "..", "ocsf"))
    import io, contextlib
    import schema_numbers
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        schema_numbers.main([cls])
    c = json.loads(buf.getvalue())[cls]
    aid = c["activities"][activity]
    return (str(c["uid"] * 100 + aid), f'{c["name"]}: {activity}', str(c["uid"]),
            str(c["category_uid"]), c["category_name"], str(aid), activity)


def h23():
    # Network Activity: Open — Sysmon 3 and Security 5156 (a connection the firewall
    # permitted), of PowerShell.
    out = set()
    for e in E:
        if sysmon(e, 3) and base(e.get("Image")) == "powershell.exe":
            ip, port = e.get("DestinationIp"), e.get("DestinationPort")
        elif security(e, 5156) and base(e.get("Application")) == "powershell.exe":
            ip, port = e.get("DestAddress"), e.get("DestPort")
        else:
            continue
        out.add((e.get("Hostname"),) + ocsf("network_activity", "Open") + (ip, str(port)))
    return out


def integer(v):
    """A process id as a number: decimal, or hexadecimal with 0x (Security events)."""
    if v is None:
        return None
    s = str(v)
    return int(s, 16) if s.startswith("0x") else int(s)


def own_process(e):
    """The process an event is about, (path, pid): the target in Sysmon 8/10, the new
    process in 4688, the application in 5156, else the event's Image."""
    if sysmon(e, 8, 10):
        return e.get("TargetImage"), e.get("TargetProcessId")
    if security(e, 4688):
        return e.get("NewProcessName"), e.get("NewProcessId")
    if security(e, 5156):
        return e.get("Application"), e.get("ProcessId")
    return e.get("Image"), e.get("ProcessId")


def h24():
    # Two DISPs, as rows of (endpoint.hostname, name, pid, metadata.event_code,
    # process.pid), each DISP's other attributes null: the process (one row, its pid a
    # number), then the event codes of the records whose own process it is.
    procs, events = set(), set()
    for e in E:
        path, pid = own_process(e)
        if base(path) == "rundll32.exe" and integer(pid) == 4824:
            procs.add((e.get("Hostname"), "rundll32.exe", "4824", "<null>", "<null>"))
            events.add(("<null>", "<null>", "<null>", str(e.get("EventID")), "4824"))
    return procs | events


def actor_guid(e):
    """OCSF's actor of an event, by process GUID: the parent of a launch (Sysmon 1), the
    source of a process access or remote thread (10, 8), else the event's process."""
    if sysmon(e, 1):
        return e.get("ParentProcessGuid")
    if sysmon(e, 10):
        return e.get("SourceProcessGUID")
    if sysmon(e, 8):
        return e.get("SourceProcessGuid")
    if security(e, 4688, 5156, 4624, 4625):
        return None
    return e.get("ProcessGuid")


# OCSF class and activity of the Sysmon events hunt 25 meets (numbers: .venv/bin/python, the
# OCSF schema; the registry classes are the Windows extension's, 201001 Registry Key and
# 201002 Registry Value Activity).
def h25():
    reg = {g for e in E for (path, g) in [(e.get("Image"), e.get("ProcessGuid")),
                                         (e.get("ParentImage"), e.get("ParentProcessGuid"))]
           if base(path) == "reg.exe" and g}
    kinds = {1: ("process_activity", "Launch"), 5: ("process_activity", "Terminate"),
             7: ("module_activity", "Load"), 11: ("file_activity", "Create"),
             3: ("network_activity", "Open"), 22: ("dns_activity", "Query")}
    out = set()
    for e in E:
        if actor_guid(e) not in reg or not sysmon(e, *range(1, 30)):
            continue
        eid = e.get("EventID")
        if eid == 13:
            uid, name = "20100202", "Registry Value Activity: Set"
        elif eid == 12 and e.get("EventType") == "CreateKey":
            uid, name = "20100101", "Registry Key Activity: Create"
        else:
            cls, act = kinds[eid]
            n = ocsf(cls, act)
            uid, name = n[0], n[1]
        out.add((str(eid), uid, name))
    return out


HUNTS = {f"{i:02d}": globals()[f"h{i:02d}"] for i in range(1, 26)}

if __name__ == "__main__":
    wanted = sys.argv[1:] or sorted(HUNTS)
    for k in wanted:
        print(f"== {k}")
        for row in sorted(HUNTS[k](), key=lambda r: tuple(str(x) for x in r)):
            print("  ", json.dumps(list(row)))
