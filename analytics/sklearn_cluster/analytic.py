"""K-means clustering over chosen numeric attributes (the analytic seed 003 builds).

WITH n=<clusters>, columns=<attr>,<attr>... Adds `cluster` (0 .. n-1). Rows with a
missing value in a chosen column go in cluster -1. As a docker analytic it reads
/data/input/0.parquet.gz and writes /data/output/0.parquet.gz, parameters from the
environment, exactly as the blog post's code does.
"""
import os

import pandas as pd
from sklearn.cluster import KMeans

INPUT_DATA_PATH = "/data/input/0.parquet.gz"
OUTPUT_DATA_PATH = "/data/output/0.parquet.gz"


def cluster(df, n=None, columns=None):
    n = int(n if n is not None else os.environ.get("n", "2"))
    cols = (columns if columns is not None else os.environ["columns"]).split(",")
    cols = [c.strip() for c in cols if c.strip()]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"no column {', '.join(missing)} (columns: {', '.join(df.columns)})")
    df = df.copy()
    data = df[cols].apply(pd.to_numeric, errors="coerce")
    ok = data.notna().all(axis=1)
    df["cluster"] = -1
    if ok.sum() >= n:
        km = KMeans(n_clusters=n, n_init=10, random_state=0).fit(data[ok])
        df.loc[ok, "cluster"] = km.labels_
    df["cluster"] = df["cluster"].astype("int64")
    return df


if __name__ == "__main__":
    dfi = pd.read_parquet(INPUT_DATA_PATH)
    dfo = cluster(dfi)
    dfo.to_parquet(OUTPUT_DATA_PATH, compression="gzip")
