#!/usr/bin/env bash
# Builds the docker analytics image `kestrel-analytics-<name>` offline, for the docker://
# tests: no registry, no network.
#
#   tests/docker/build-image.sh <name> <analytic.py> [python]
#
# One `docker import` of a root filesystem assembled from this machine: the Python
# interpreter and standard library, the site-packages of [python] (default
# .venv/bin/python: pandas, pyarrow, scikit-learn; not matplotlib, pip, tests, headers,
# Cython sources), every shared library they link (found with ldd), and the
# analytic at /opt/analytics/analytic.py, run as `python /opt/analytics/analytic.py`. One
# layer (the vfs storage driver copies every layer whole). Rebuilt only when the analytic,
# the interpreter or the packages changed: the label `kestrel.build` holds their hash.
set -euo pipefail
name=$1
analytic=$2
python=${3:-$(dirname "$0")/../../.venv/bin/python}
docker=$(command -v docker)


image="kestrel-analytics-$name"
exe=$(readlink -f "$("$python" -c 'import sys; print(sys.executable)')")
stdlib=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
want=$( (echo "v4 $exe"; ls "$site"; cat "$analytic") | sha256sum | cut -c1-16)
have=$("$docker" image inspect -f '{{ index .Config.Labels "kestrel.build" }}' "$image" 2>/dev/null || true)
[ "$have" = "$want" ] && exit 0

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
    --exclude='./pillow*' --exclude='./fontTools' --exclude='./kiwisolver*' \
    --exclude='./contourpy*' --exclude='./pyparsing*' --exclude='./cycler*' \
    --exclude='*/tests' --exclude='./pyarrow/include' --exclude='./pyarrow/src' \
    --exclude='*.pxd' --exclude='*.pyx' .) \
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
cp "$analytic" "$root/opt/analytics/analytic.py"
tar -C "$root" -cf - . | "$docker" import \
  --change 'ENV PYTHONPATH=/usr/lib/python3/dist-packages' \
  --change 'ENV PYTHONDONTWRITEBYTECODE=1' --change 'ENV MPLBACKEND=Agg' \
  --change 'WORKDIR /opt/analytics' --change "LABEL kestrel.build=$want" \
  --change 'CMD ["python", "/opt/analytics/analytic.py"]' \
  - "$image" >/dev/null
# The image this one replaces, if any, is left untagged: remove it.
"$docker" image prune -f --filter "label=kestrel.build" >/dev/null 2>&1 || true
