#!/usr/bin/env bash
# Builds a template pack's garment from its pattern and bakes its views into the pack's
# `baked/` folder (what the baked renderer draws the garment with).
#
#   scripts/blender/bake.sh [PACK-DIR] [extra bake_views.py options, e.g. --frames 36]
#
# PACK-DIR is a template pack folder (holding template.json); without it, the built-in
# classic-tee pack (assets/templates/classic-tee) is re-baked. The bake is written to a
# temporary folder and moved into place only when it is complete: an interrupted bake
# leaves the pack's previous bake as it was.
#
# Needs Blender 3.4 (Debian: apt-get install -y --no-install-recommends blender
# python3-numpy). Takes about 10 minutes on 2 cores. Blender is a build-time tool only:
# the library reads the committed bake output and never runs Blender for it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
pack="$root/assets/templates/classic-tee"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  pack="$(cd "$1" && pwd)"
  shift
fi
[ -f "$pack/template.json" ] || { echo "bake.sh: $pack holds no template.json (not a template pack folder)" >&2; exit 1; }
command -v blender >/dev/null || { echo "bake.sh: blender is not on PATH (apt-get install blender)" >&2; exit 1; }
out="$pack/baked"
tmp="$(mktemp -d "$pack/.bake-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
blender -b --factory-startup --python-exit-code 1 \
  --python "$here/bake_views.py" -- --template "$pack/template.json" --out "$tmp/baked" "$@"
rm -rf "$out"
mv "$tmp/baked" "$out"
du -sh "$out"
