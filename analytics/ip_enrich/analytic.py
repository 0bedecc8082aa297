"""IP enrichment from a local table, no network: the offline stand-in for domain lookups.

For every IP address column (`*.ip`, `*_ref.value`, `src_ip`/`dst_ip`…) the destination's
(or else the first) address is looked up in a CSV table with columns
`ip,domain_name,organization` (WITH table=<path>; default `known_hosts.csv` beside this
file). Adds `x_domain_name`, `x_domain_organization` and `x_ip_scope` (private, public,
loopback, link-local, multicast). Returns an HTML table of the addresses as its display.
"""
import html
import ipaddress
import os

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))


def _ip_column(df):
    cands = [c for c in df.columns
             if c.endswith(".ip") or c.endswith("_ref.value") or c in ("src_ip", "dst_ip", "ip")]
    for pref in ("dst", "dest"):
        for c in cands:
            if c.startswith(pref):
                return c
    return cands[0] if cands else None


def _scope(v):
    try:
        a = ipaddress.ip_address(str(v))
    except ValueError:
        return None
    if a.is_loopback:
        return "loopback"
    if a.is_link_local:
        return "link-local"
    if a.is_multicast:
        return "multicast"
    if a.is_private:
        return "private"
    return "public"


def enrich(df, table=None):
    col = _ip_column(df)
    if col is None:
        raise ValueError("no IP address column (*.ip, *_ref.value, src_ip, dst_ip)")
    path = table or os.environ.get("table") or os.path.join(HERE, "known_hosts.csv")
    known = pd.read_csv(path, dtype=str).set_index("ip")
    df = df.copy()
    ips = df[col].astype("string")
    df["x_domain_name"] = ips.map(known["domain_name"]).astype(object)
    df["x_domain_organization"] = ips.map(known["organization"]).astype(object)
    df["x_ip_scope"] = df[col].map(_scope)
    rows = "".join(
        f"<tr><td>{html.escape(str(ip))}</td><td>{html.escape(str(s))}</td>"
        f"<td>{html.escape(str(o)) if isinstance(o, str) else ''}</td></tr>"
        for ip, s, o in df[[col, "x_ip_scope", "x_domain_organization"]]
        .drop_duplicates().itertuples(index=False)
    )
    display = f"<table><tr><th>{html.escape(col)}</th><th>scope</th><th>organization</th></tr>{rows}</table>"
    return df, display
