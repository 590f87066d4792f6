#!/usr/bin/env bash
# Regenerates the task-kind tables of docs/config.md from `emsweep kinds --markdown`, or with
# --check fails when the page differs from what the program declares.
# Usage: scripts/config-docs.sh EMSWEEP_BINARY [--check]
set -euo pipefail
bin=${1:?path to the emsweep binary}
doc="$(dirname "$0")/../docs/config.md"
new=$(mktemp); trap 'rm -f "$new"' EXIT
/usr/bin/python3 - "$doc" "$new" "$("$bin" kinds --markdown)" <<'PY'
import sys
doc, out, tables = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(doc).read()
begin, end = "<!-- kinds:begin -->\n", "<!-- kinds:end -->"
a, b = text.index(begin) + len(begin), text.index(end)
open(out, "w").write(text[:a] + tables.rstrip("\n") + "\n" + text[b:])
PY
if [ "${2:-}" = --check ]; then
  diff -u "$doc" "$new" || { echo "docs/config.md is out of date: run scripts/config-docs.sh $bin"; exit 1; }
  echo "docs/config.md matches emsweep kinds"
else
  cp "$new" "$doc"
fi
