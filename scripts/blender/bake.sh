#!/usr/bin/env bash
# Rebuilds the classic-tee garment and re-bakes its views into the built-in pack.
#
#   scripts/blender/bake.sh [extra bake_views.py options, e.g. --frames 36]
#
# Needs Blender 3.4 (Debian: apt-get install -y --no-install-recommends blender
# python3-numpy). Takes about 10 minutes on 2 cores. Blender is a build-time tool only:
# the library reads the committed bake output and never runs Blender.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/assets/templates/classic-tee/baked"
command -v blender >/dev/null || { echo "bake.sh: blender is not on PATH (apt-get install blender)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
blender -b --factory-startup --python-exit-code 1 \
  --python "$here/bake_views.py" -- --out "$tmp/baked" "$@"
rm -rf "$out"
mv "$tmp/baked" "$out"
du -sh "$out"
