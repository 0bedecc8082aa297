#!/usr/bin/env python3
"""Prints, as JSON, OCSF's numbers for the event classes named on the command line, read
from the OCSF schema JSON that the PyPI package pydantic-ocsf ships (ocsf/schemas/v1_1_0.json,
without importing the package): per class its class_uid (category uid * 1000 + class uid),
caption, category uid and caption, and activities (caption -> activity_id).

OCSF 1.1's file lists some classes' activities through an `$include` it does not resolve
(Network Activity); those come from the nearest version whose file lists them (1.0, then
1.4), where OCSF did not renumber them.

    .venv/bin/python tests/ocsf/schema_numbers.py process_activity network_activity
"""
import importlib.util
import json
import os
import sys


def schema(version):
    spec = importlib.util.find_spec("ocsf")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the PyPI package pydantic-ocsf is not installed (pip install -r requirements-dev.txt)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "schemas", f"v{version}.json")
    with open(path) as f:
        return json.load(f)


def main(names):
    base = schema("1_1_0")
    others = [schema("1_0_0"), schema("1_4_0")]
    cats = base["categories_meta"]["attributes"]
    events = base["events"]
    out = {}
    for name in names:
        ev = events[name]
        # The category is that of the nearest ancestor naming one (`extends` chain).
        cat, e = None, ev
        while cat is None and e is not None:
            cat = e.get("category")
            e = events.get(e.get("extends"))
        if name == "base_event":
            cat_uid, cat_name, uid = 0, "Uncategorized", 0
        else:
            cat_uid, cat_name, uid = cats[cat]["uid"], cats[cat]["caption"], cats[cat]["uid"] * 1000 + ev["uid"]
        enum = ev["attributes"].get("activity_id", {}).get("enum")
        for other in others:
            if enum:
                break
            enum = other["events"].get(name, {}).get("attributes", {}).get("activity_id", {}).get("enum")
        activities = {v["caption"]: int(k) for k, v in (enum or {}).items()}
        # 0 Unknown and 99 Other are every class's (the dictionary's activity_id).
        for k, v in base["dictionary"]["attributes"]["activity_id"]["enum"].items():
            activities.setdefault(v["caption"], int(k))
        out[name] = {"uid": uid, "name": ev["caption"], "category_uid": cat_uid,
                     "category_name": cat_name, "activities": activities}
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
