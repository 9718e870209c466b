#!/usr/bin/env bash
# Regenerate into the work tree and fail if anything under clients/ then differs from what
# is committed: generated code is never edited by hand, and a proto change must ship with
# its regenerated code.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv} scripts/gen_python.sh >/dev/null 2>&1
changed=$(git status --porcelain --untracked-files=all -- clients)
if [ -n "$changed" ]; then
  echo "generated code differs from the committed code; run 'make generate' and commit:" >&2
  echo "$changed" >&2
  exit 1
fi
echo "generated code is up to date"
