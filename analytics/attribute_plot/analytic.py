"""Attribute plot (seed 002's `attribute-plot`): a scatter plot of two attributes.

WITH XPARAM=<attr>, YPARAM=<attr>. Returns a matplotlib figure (kestrel shows it as
SVG) and leaves the variable unchanged. Timestamps on an axis are plotted as times.
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


def _axis(series):
    if series.dtype == object:
        t = pd.to_datetime(series, errors="coerce", utc=True)
        if t.notna().mean() > 0.9:
            return t
        num = pd.to_numeric(series, errors="coerce")
        if num.notna().mean() > 0.9:
            return num
    return series


def plot(df, XPARAM=None, YPARAM=None):
    x = XPARAM or os.environ["XPARAM"]
    y = YPARAM or os.environ["YPARAM"]
    df = df.copy()
    for c in (x, y):
        if c not in df.columns:
            raise KeyError(f"no attribute {c} (attributes: {', '.join(df.columns)})")
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.scatter(_axis(df[x]), _axis(df[y]).astype(str) if df[y].dtype == object else df[y], s=12)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{y} by {x} ({len(df)} records)")
    fig.autofmt_xdate()
    return fig
