#!/usr/bin/env bash
# npm run demo: prepare the example store (install, database, migrations, seed, build)
# and serve it with its admin on 127.0.0.1:${DEMO_PORT:-9000} until stopped.
set -euo pipefail
STORE="$(cd "$(dirname "$0")/.." && pwd)"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/render_engine_demo}"
export RENDER_ENGINE_DATA="${RENDER_ENGINE_DATA:-$STORE/render-engine-data}"
export DEMO_PORT="${DEMO_PORT:-9000}"
# (ensure-postgres does nothing when DATABASE_URL is set)
env -u DATABASE_URL "$STORE/../../../scripts/ensure-postgres"
"$STORE/../scripts/prepare-store"
cd "$STORE/.medusa/server"
echo "Admin: http://127.0.0.1:$DEMO_PORT/app  (${DEMO_ADMIN_EMAIL:-admin@example.com} / \$DEMO_ADMIN_PASSWORD, default supersecret)"
# Plain http on loopback: the session cookie must not be `Secure` (see medusa-config.ts).
# Memory as the plugin's README recommends for the server (not for the build above):
# two allocator arenas and a V8 heap cap.
exec env NODE_ENV=production PORT="$DEMO_PORT" HOST=127.0.0.1 DEMO_INSECURE_COOKIES=true \
  MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" \
  NODE_OPTIONS="--max-old-space-size=${DEMO_HEAP_MB:-384} ${NODE_OPTIONS:-}" \
  node node_modules/@medusajs/cli/cli.js start
