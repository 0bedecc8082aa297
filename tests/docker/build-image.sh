#!/usr/bin/env bash
# Builds the docker analytics image `kestrel-analytics-<name>` offline, for the docker://
# tests: no registry, no network.
#
#   tests/docker/build-image.sh <name> <analytic.py> [python]
#
# 1. A base image `kestrel-analytics-pybase:<hash>` is imported (`docker import`) from a
#    root filesystem assembled from this machine: the Python interpreter and standard
#    library, the site-packages of [python] (default .venv/bin/python: pandas, pyarrow,
#    scikit-learn), and every shared library they link (found with ldd). Made once; the
#    tag carries a hash of what went in.
# 2. The analytic image adds the analytic file and runs it: `python /opt/analytics/analytic.py`
#    (the classic builder, FROM the local base image). Rebuilt only when the file changed.
set -euo pipefail
name=$1
analytic=$2
python=${3:-$(dirname "$0")/../../.venv/bin/python}
docker=$(command -v docker)

hash_of() { sha256sum "$@" | sha256sum | cut -c1-12; }

image="kestrel-analytics-$name"
want=$(hash_of "$analytic")
have=$("$docker" image inspect -f '{{ index .Config.Labels "kestrel.analytic" }}' "$image" 2>/dev/null || true)
[ "$have" = "$want" ] && exit 0

exe=$(readlink -f "$("$python" -c 'import sys; print(sys.executable)')")
stdlib=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
base_hash=$( (echo "$exe v2"; ls "$site") | sha256sum | cut -c1-12)
base="kestrel-analytics-pybase:$base_hash"
if ! "$docker" image inspect "$base" >/dev/null 2>&1; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/usr/bin" "$root/usr/lib/python3/dist-packages" "$root/tmp" "$root/data" "$root/opt/analytics"
  chmod 1777 "$root/tmp"
  cp "$exe" "$root/usr/bin/python3"
  ln -s python3 "$root/usr/bin/python"
  mkdir -p "$root$stdlib"
  (cd "$stdlib" && tar cf - --exclude=./test --exclude=./idlelib --exclude=./tkinter \
      --exclude=./ensurepip --exclude=./site-packages --exclude=./dist-packages .) \
    | (cd "$root$stdlib" && tar xf -)
  (cd "$site" && tar cf - --exclude='./pip*' --exclude='./matplotlib*' --exclude='./PIL' \
      --exclude='./pillow*' --exclude='./fontTools' --exclude='*/tests' .) \
    | (cd "$root/usr/lib/python3/dist-packages" && tar xf -)
  # Every shared library the interpreter and the extension modules link.
  find "$root" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 \
    | xargs -0 ldd "$root/usr/bin/python3" 2>/dev/null \
    | awk '/=> \// { print $3 } /^\s*\/lib/ { print $1 }' | sort -u \
    | while read -r lib; do
        case "$lib" in "$root"*) continue ;; esac
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
      done
  mkdir -p "$root/lib64"
  cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
  tar -C "$root" -cf - . | "$docker" import \
    --change 'ENV PYTHONPATH=/usr/lib/python3/dist-packages' --change 'ENV PYTHONDONTWRITEBYTECODE=1' --change 'ENV MPLBACKEND=Agg' \
    - "$base" >/dev/null
fi

ctx=$(mktemp -d)
cp "$analytic" "$ctx/analytic.py"
cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY analytic.py /opt/analytics/analytic.py
WORKDIR /opt/analytics
LABEL kestrel.analytic=$want
CMD ["python", "/opt/analytics/analytic.py"]
DOCKERFILE
DOCKER_BUILDKIT=0 "$docker" build -q -t "$image" "$ctx" >/dev/null 2>&1 || DOCKER_BUILDKIT=0 "$docker" build -t "$image" "$ctx"
rm -rf "$ctx"
