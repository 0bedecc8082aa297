"""The oracle of tests/sigma_oracle.rs: pySigma 2 and pySigma-backend-sqlite.

Usage: oracle.py RULES_DIR OUT_DIR [bare]

For every rule under RULES_DIR (Sigma's own rules, Detection Rule License 1.1), this
builds events from the rule's own values -- positives, near misses (case swapped, a
character dropped or added, wildcards written as literal `%`/`_`, a field left out) --
into one SQLite table per logsource category (`OUT_DIR/lake.db`, table `ev_<category>`),
where every other rule's events are the benign background. It converts each rule with
pySigma's SQLite backend (`collate_nocase`: Sigma compares strings ignoring case), runs
the query, and writes `OUT_DIR/cases.json`: per rule, its category and table, and either
the RecordNumbers of the events it matches or why pySigma refused it.

Where a rule's category is one of Sysmon's events (SYSMON_PIPELINE: the categories
pySigma's Sysmon pipeline maps to event ids, and kestrel narrows with `EVENTS`), pySigma
converts it with that pipeline's condition (`EventID IN (…)`, pySigma's own
AddConditionTransformation), and the rule's table also holds copies of the rule's own
events as other Sysmon events (a connection, an exit, a module load, … carrying the same
fields): neither side may select them.

With `bare`, the tables hold only the rules' own fields (and an id): no Channel, EventID
or host columns, as a table pySigma is pointed at may be.

Deterministic: the random choices are seeded per rule from its file name.
"""

import glob
import ipaddress
import json
import os
import random
import re
import sqlite3
import sys
import zlib

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.conditions import ConditionAND
from sigma.rule import SigmaDetection, SigmaDetectionItem
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

SYSMON = "Microsoft-Windows-Sysmon/Operational"
# The Sysmon event a category's rows are (what the winevent layout classifies them by).
EVENT_ID = {
    "process_creation": 1,
    "network_connection": 3,
    "image_load": 7,
    "create_remote_thread": 8,
    "process_access": 10,
    "process_termination": 5,
    "file_event": 11,
    "file_access": 11,
    "file_change": 2,
    "registry_add": 12,
    "registry_delete": 12,
    "registry_event": 13,
    "registry_set": 13,
    "registry_rename": 14,
    "create_stream_hash": 15,
    "pipe_created": 17,
    "dns_query": 22,
    "file_delete": 23,
    "file_executable_detected": 29,
}
# pySigma's Sysmon pipeline (pySigma-pipeline-sysmon): the Sysmon events of the categories
# kestrel narrows to their OCSF event types (mappings/sigma/fieldmap.yaml, `events:`).
SYSMON_PIPELINE = {
    "process_creation": [1],
    "file_change": [2],
    "network_connection": [3],
    "process_termination": [5],
    "image_load": [7],
    "create_remote_thread": [8],
    "process_access": [10],
    "file_event": [11],
    "registry_add": [12],
    "registry_delete": [12],
    "registry_set": [13],
    "registry_rename": [14],
    "registry_event": [12, 13, 14],
    "create_stream_hash": [15],
    "dns_query": [22],
    "file_delete": [23],
}
# Sysmon events of distinct OCSF types, the other events a rule's copies become.
FOREIGN = [1, 2, 3, 5, 7, 8, 10, 11, 12, 13, 14, 22, 23]
# Other Sysmon events of a category's OCSF type, which `EVENTS` cannot tell from its own:
# the layouts class FileCreateStreamHash (15) as File System Activity: Create, like 11.
SAME_TYPE = {"create_stream_hash": [11]}


def sysmon_pipeline(cat):
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import AddConditionTransformation

    return ProcessingPipeline(
        name="Sysmon event ids",
        priority=10,
        items=[
            ProcessingItem(
                identifier="sysmon_" + cat,
                transformation=AddConditionTransformation({"EventID": SYSMON_PIPELINE[cat]}),
                rule_conditions=[LogsourceCondition(category=cat, product="windows")],
            )
        ],
    )


# Columns that hold numbers (INTEGER): the rest are TEXT.
NUMERIC = {"EventID", "RecordNumber", "ProcessId", "ParentProcessId", "DestinationPort", "SourcePort"}
FIXED = ["RecordNumber", "ProcessGuid", "Channel", "EventID", "@timestamp", "Hostname"]

# The channels of service-only logsources, as kestrel's field map (and pySigma) say.
with open(
    os.path.join(os.path.dirname(__file__), "..", "..", "mappings", "sigma", "fieldmap.yaml"),
    encoding="utf-8",
) as _fh:
    import yaml

    SERVICES = yaml.safe_load(_fh)["services"]


class Skip(Exception):
    pass


def gen_string(s, rnd, fill):
    out = []
    for p in s.s:
        if isinstance(p, str):
            out.append(p)
        elif p == SpecialChars.WILDCARD_MULTI:
            out.append(fill)
        elif p == SpecialChars.WILDCARD_SINGLE:
            out.append(rnd.choice("xZ7"))
        else:
            raise Skip("placeholder")
    return "".join(out)


def sample_regex(items, rnd, depth=0):
    """A string matching a parsed regular expression (sre_parse), or Skip."""
    from re import _constants as C

    out = []
    for op, av in items:
        if op == C.LITERAL:
            out.append(chr(av))
        elif op == C.NOT_LITERAL:
            out.append("x" if chr(av) != "x" else "y")
        elif op == C.ANY:
            out.append("a")
        elif op == C.IN:
            ch = None
            negate = any(o == C.NEGATE for o, _ in av)
            for o, a in av:
                if o == C.LITERAL:
                    ch = chr(a)
                elif o == C.RANGE:
                    ch = chr(a[0])
                elif o == C.CATEGORY:
                    ch = {C.CATEGORY_DIGIT: "7", C.CATEGORY_SPACE: " ", C.CATEGORY_WORD: "w",
                          C.CATEGORY_NOT_DIGIT: "d", C.CATEGORY_NOT_SPACE: "s",
                          C.CATEGORY_NOT_WORD: "-"}.get(a, "a")
                if ch is not None:
                    break
            if negate:
                ch = "Q"
            out.append(ch or "a")
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = av
            n = lo if hi == lo else min(max(lo, 1), hi if hi != C.MAXREPEAT else lo + 2)
            for _ in range(n):
                out.append(sample_regex(sub, rnd, depth + 1))
        elif op == C.SUBPATTERN:
            out.append(sample_regex(av[-1], rnd, depth + 1))
        elif op == C.BRANCH:
            out.append(sample_regex(rnd.choice(av[1]), rnd, depth + 1))
        elif op in (C.AT,):
            pass
        elif op == C.ATOMIC_GROUP if hasattr(C, "ATOMIC_GROUP") else False:
            out.append(sample_regex(av, rnd, depth + 1))
        else:
            raise Skip("regex %s" % op)
    return "".join(out)


def gen_regex(r, rnd):
    """A string matching a regular expression where its syntax is simple enough, else its
    literal text with metacharacters dropped."""
    text = str(r.regexp)
    try:
        from re import _parser as sre_parse

        flags = 0
        return sample_regex(sre_parse.parse(text, flags), rnd)
    except Exception:
        pass
    alt = text.split("|")
    t = rnd.choice(alt)
    t = re.sub(r"\\(.)", r"\1", t)
    return re.sub(r"[\^\$\(\)\[\]\{\}\*\+\?]", "", t)


def gen_value(v, rnd):
    """One value that satisfies `v`, or None (the field absent)."""
    fill = rnd.choice(["", " x ", "C:\\Temp\\", "a%b_c"])
    if isinstance(v, SigmaExpansion):
        return gen_value(rnd.choice(v.values), rnd)
    if isinstance(v, (SigmaString, SigmaCasedString)):
        return gen_string(v, rnd, fill)
    if isinstance(v, SigmaNumber):
        return v.number
    if isinstance(v, SigmaCompareExpression):
        n = v.number.number
        return {"LT": n - 1, "LTE": n, "GT": n + 1, "GTE": n}.get(v.op.name, n)
    if isinstance(v, SigmaNull):
        return None
    if isinstance(v, SigmaExists):
        return "present" if v.exists else None
    if isinstance(v, SigmaCIDRExpression):
        net = v.network
        return str(net.network_address + min(1, net.num_addresses - 1))
    if isinstance(v, SigmaRegularExpression):
        return gen_regex(v, rnd)
    if isinstance(v, SigmaBool):
        return "true" if v.boolean else "false"
    raise Skip(type(v).__name__)


def near_misses(value, rnd):
    """Values close to `value` that a correct matcher must tell apart (or not)."""
    if isinstance(value, (int, float)):
        return [value + 1, str(value)]
    if not isinstance(value, str):
        return []
    out = [value.swapcase(), value.upper(), "x" + value, value + "x"]
    if len(value) > 1:
        out += [value[1:], value[:-1], value[: len(value) // 2] + "_" + value[len(value) // 2 + 1 :]]
    out.append(value.replace("\\", "/"))
    out.append(value.replace(" ", "%"))
    return out


def assignments(d, rnd, n=3):
    """Up to n field→value dicts that each satisfy detection `d`."""
    if isinstance(d, SigmaDetectionItem):
        if d.field is None:
            raise Skip("keyword")
        if d.value_linking is ConditionAND:
            parts = [gen_value(v, rnd) for v in d.value]
            if any(not isinstance(p, str) for p in parts):
                return [{d.field: parts[0]}]
            return [{d.field: " ".join(parts)}]
        vals = list(d.value)
        rnd.shuffle(vals)
        return [{d.field: gen_value(v, rnd)} for v in vals[:n]]
    items = d.detection_items
    if d.item_linking is ConditionAND:
        outs = []
        for _ in range(n):
            ev = {}
            for it in items:
                ev.update(rnd.choice(assignments(it, rnd, n)))
            outs.append(ev)
        return outs
    alts = []
    for it in items:
        alts += assignments(it, rnd, n)
    rnd.shuffle(alts)
    return alts[:n]


OTHER = ["C:\\Windows\\System32\\other.exe", "unrelated text", "0"]


def rule_fields(d, out):
    if isinstance(d, SigmaDetectionItem):
        if d.field is not None:
            out.add(d.field)
    else:
        for it in d.detection_items:
            rule_fields(it, out)


def rule_events(rule, rnd):
    dets = list(rule.detection.detections.items())
    fields = set()
    for _, d in dets:
        rule_fields(d, fields)
    alts = {name: assignments(d, rnd) for name, d in dets}
    names = [n for n, _ in dets]
    subsets = []
    if len(names) <= 4:
        for mask in range(1, 1 << len(names)):
            subsets.append([n for i, n in enumerate(names) if mask >> i & 1])
    else:
        subsets = [[n] for n in names] + [names] + [[m for m in names if m != n] for n in names]
        for _ in range(8):
            subsets.append([n for n in names if rnd.random() < 0.5])
    events = []
    for sub in subsets:
        for join in (False, True):
            # Two detections may test one field: once the last one wins, once the values
            # are joined (which satisfies both where they test for parts).
            ev = {}
            for n in sub:
                if alts[n]:
                    for k, v in rnd.choice(alts[n]).items():
                        if join and isinstance(ev.get(k), str) and isinstance(v, str):
                            ev[k] = ev[k] + " " + v
                        else:
                            ev[k] = v
            events.append(ev)
    # Near misses: one field changed, or dropped.
    for ev in list(events):
        if not ev:
            continue
        field = rnd.choice(sorted(ev))
        for m in near_misses(ev[field], rnd):
            e2 = dict(ev)
            e2[field] = m
            events.append(e2)
        e3 = dict(ev)
        del e3[field]
        events.append(e3)
    # Half the events carry the rule's other fields too, with unrelated values: a filter
    # then meets a present field that does not match, not only an absent one.
    for ev in events:
        if rnd.random() < 0.5:
            for f in sorted(fields - set(ev)):
                ev[f] = rnd.choice(OTHER)
    return events[:300]


BACKGROUND = [
    {"Image": "C:\\Windows\\explorer.exe", "CommandLine": "C:\\Windows\\Explorer.EXE", "User": "CORP\\alice"},
    {"Image": "C:\\Windows\\System32\\svchost.exe", "CommandLine": "svchost.exe -k netsvcs -p", "ParentImage": "C:\\Windows\\System32\\services.exe"},
    {"TargetFilename": "C:\\Users\\bob\\Documents\\report.docx", "Image": "C:\\Program Files\\Microsoft Office\\WINWORD.EXE"},
    {"TargetObject": "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\OneDrive", "Details": "C:\\Program Files\\OneDrive.exe"},
    {"DestinationIp": "10.1.2.3", "DestinationPort": 443, "Image": "C:\\Windows\\System32\\svchost.exe"},
    {"QueryName": "www.example.com", "Image": "C:\\Program Files\\Mozilla Firefox\\firefox.exe"},
    {},
]


def main():
    rules_dir, out_dir = sys.argv[1], sys.argv[2]
    bare = sys.argv[3:] == ["bare"]
    fixed = ["RecordNumber", "ProcessGuid", "@timestamp"] if bare else FIXED
    os.makedirs(out_dir, exist_ok=True)
    files = sorted(glob.glob(os.path.join(rules_dir, "**", "*.yml"), recursive=True))
    cases = []
    by_cat = {}
    own = {}
    for f in files:
        rel = os.path.relpath(f, rules_dir)
        case = {"rule": rel}
        cases.append(case)
        try:
            with open(f, encoding="utf-8") as fh:
                coll = SigmaCollection.from_yaml(fh.read())
            rule = coll.rules[0]
            cat = rule.logsource.category
            case["category"] = cat
            case["service"] = rule.logsource.service
            if cat is None:
                if rule.logsource.service not in SERVICES:
                    raise Skip("logsource without category or known service")
                cat = "service_" + rule.logsource.service
            case["pool"] = cat
            rnd = random.Random(zlib.crc32(rel.encode()))
            events = rule_events(rule, rnd)
            narrowed = cat in SYSMON_PIPELINE and not bare
            case["narrowed"] = narrowed
            backend = sqliteBackend(
                processing_pipeline=sysmon_pipeline(cat) if narrowed else None,
                collate_nocase=True,
                table="ev_" + cat,
            )
            sql = backend.convert_rule(rule)[0]
            case["sql"] = sql
            case["fields"] = sorted(set(backend.required_fields(rule)))
            by_cat.setdefault(cat, []).extend(events)
            own[rel] = events
        except Skip as e:
            case["refused"] = "oracle: cannot build events (%s)" % e
        except Exception as e:  # pySigma's own refusal
            case["refused"] = "pySigma: %s: %s" % (type(e).__name__, str(e).splitlines()[0][:200])
    db = os.path.join(out_dir, "lake.db")
    if os.path.exists(db):
        os.remove(db)
    conn = sqlite3.connect(db)

    def regexp(pattern, value):
        if value is None or pattern is None:
            return None
        return re.search(pattern, str(value)) is not None

    conn.create_function("REGEXP", 2, regexp, deterministic=True)
    # One table per rule: its own events, then a sample of its category's other rules'
    # events and a few everyday ones as the benign background.
    record = 0
    for i, case in enumerate(cases):
        if "sql" not in case:
            continue
        cat = case["pool"]
        table = "r%04d" % i
        case["table"] = table
        rnd = random.Random(i)
        pool = by_cat[cat]
        events = own[case["rule"]] + rnd.sample(pool, min(150, len(pool))) + BACKGROUND
        event_ids = [EVENT_ID.get(cat, 0)] * len(events)
        if case.get("narrowed"):
            # The rule's own events again, as other Sysmon events carrying the same fields.
            others = [
                e
                for e in FOREIGN
                if e not in SYSMON_PIPELINE[cat] and e not in SAME_TYPE.get(cat, [])
            ]
            copies = own[case["rule"]][:40]
            events = events + copies
            event_ids += [rnd.choice(others) for _ in copies]
        case["sql"] = case["sql"].replace("ev_" + cat, table, 1)
        cols = list(fixed) + [f for f in case["fields"] if f not in fixed]
        if cat == "network_connection" and not bare:
            cols += [
                c
                for c in ("SourceIp", "SourcePort", "DestinationIp", "DestinationPort")
                if c not in cols
            ]
        for ev in events:
            for k in ev:
                if k not in cols:
                    cols.append(k)
        decl = ", ".join(
            '"%s" %s' % (c, "INTEGER" if c in NUMERIC else "TEXT") for c in cols
        )
        conn.execute('CREATE TABLE "%s" (%s)' % (table, decl))
        rows = []
        for ev, event_id in zip(events, event_ids):
            record += 1
            service = case.get("service") if case.get("category") is None else None
            row = {
                "RecordNumber": record,
                "ProcessGuid": "G%d" % record,
                "Channel": SERVICES[service][0].replace("*", "") if service else SYSMON,
                "EventID": event_id,
                "@timestamp": "2024-07-08T12:00:00.000000Z",
                "Hostname": "host1",
            }
            if cat == "network_connection" and not bare:
                # A connection is its addresses and ports (its identity in kestrel, as in
                # every Sysmon 3 event); the rule's own values, below, replace these.
                row.update(
                    {
                        "SourceIp": "10.9.%d.%d" % (record // 250 % 250, record % 250),
                        "SourcePort": 40000 + record % 20000,
                        "DestinationIp": "192.0.2.%d" % (record % 250),
                        "DestinationPort": 443,
                    }
                )
            for k, v in ev.items():
                # A category's rows keep the Sysmon event that gives them their class; a
                # service's take the rule's event ids.
                if k in ("RecordNumber", "ProcessGuid", "Channel") or (
                    k == "EventID" and not service and not bare
                ):
                    continue
                if isinstance(v, bool):
                    v = str(v).lower()
                if k not in NUMERIC and isinstance(v, (int, float)):
                    v = str(v)
                # A number column holds numbers only (as a server's would).
                if k in NUMERIC and v is not None:
                    try:
                        v = int(v)
                    except (TypeError, ValueError):
                        v = None
                row[k] = v
            if bare:
                for k in ("Channel", "EventID", "Hostname"):
                    if k not in ev and k not in case["fields"]:
                        row.pop(k, None)
            rows.append([row.get(c) for c in cols])
        conn.executemany(
            'INSERT INTO "%s" VALUES (%s)' % (table, ", ".join("?" * len(cols))), rows
        )
    conn.commit()
    for case in cases:
        if "sql" not in case:
            continue
        sql = case["sql"].replace("SELECT * FROM", "SELECT RecordNumber FROM", 1)
        try:
            case["matched"] = sorted(r[0] for r in conn.execute(sql))
        except sqlite3.Error as e:
            case["refused"] = "pySigma's SQL fails on SQLite: %s" % e
    with open(os.path.join(out_dir, "cases.json"), "w") as fh:
        json.dump(cases, fh, indent=1)


if __name__ == "__main__":
    main()
