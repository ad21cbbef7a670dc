#!/usr/bin/env bash
# Bakes a template pack's garment into the pack's `baked/` folder (what the baked
# renderer draws it with): a thin call of `render-engine template bake`.
#
#   scripts/blender/bake.sh [PACK-DIR] [template bake options, e.g. --frames 36]
#
# PACK-DIR is a template pack folder (holding template.json); without it, the built-in
# classic-tee pack (assets/templates/classic-tee) is re-baked. `render-engine template bake
# --help` lists the options. Needs Blender 3.4 or newer (scripts/ensure-blender installs
# it); takes about 10 minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pack="$root/assets/templates/classic-tee"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  pack="$1"
  shift
fi
exec cargo run --quiet --manifest-path "$root/Cargo.toml" -p render-engine-cli -- \
  template bake "$pack" "$@"
