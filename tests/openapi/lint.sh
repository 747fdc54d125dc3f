#!/usr/bin/env bash
# Lint openapi.yaml with Redocly CLI (the version pinned in package-lock.json)
# and the rules in tests/openapi/redocly.yaml. Exits non-zero on any problem.
#
# Installs the pinned tools with `npm ci` when they are missing. Needs
# Node.js 18 or later and npm; it never installs them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true
export NO_UPDATE_NOTIFIER=1

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "lint.sh: node and npm are required" >&2
	exit 1
fi

if [ ! -x node_modules/.bin/redocly ]; then
	npm ci --ignore-scripts --no-audit --no-fund >&2
fi

node_modules/.bin/redocly lint openapi.yaml \
    --config tests/openapi/redocly.yaml --format stylish
