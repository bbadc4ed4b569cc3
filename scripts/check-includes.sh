#!/usr/bin/env bash
# Include hygiene: the headers in src/<component>/ are private to that
# component, except the ones src/shared_headers.txt lists as shared. Fails
# (exit 1, one "file:line: ..." per offence) when
#   - a file under src/<a>/ includes a private header of src/<b>/ (b != a);
#   - a file under tests/<x>/ includes a private header of src/<b>/ (b != x):
#     a test may include its own component's private headers; tests/support
#     and the headers under tests/ are not components and are shared;
#   - src/shared_headers.txt names a header that does not exist.
# "pending" entries of the list are private here (the build still exports
# them until their includers are fixed). Needs no build: run it from anywhere.
#   scripts/check-includes.sh
set -euo pipefail
cd "$(dirname "$0")/.."

list=src/shared_headers.txt
declare -A shared=()
failures=0

lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  line="${line%%#*}"
  read -r first second _ <<<"$line" || true
  [ -n "${first:-}" ] || continue
  if [ "$first" = pending ]; then
    header="${second:-}"
  else
    header="$first"
    shared["$header"]=1
  fi
  if [ -z "$header" ] || [ ! -f "src/$header" ]; then
    echo "$list:$lineno: src/$header is listed but does not exist"
    failures=$((failures + 1))
  fi
done <"$list"

# The component a file belongs to: src/<a>/... -> a, tests/<x>/... -> x.
component_of() {
  local rest="${1#*/}"
  case "$rest" in
    */*) echo "${rest%%/*}" ;;
    *) echo "" ;;  # directly under src/ or tests/: no component
  esac
}

while IFS= read -r -d '' file; do
  owner="$(component_of "$file")"
  dir="$(dirname "$file")"
  # Quoted includes only: <...> are system and library headers.
  while IFS=: read -r num text; do
    target="$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$text")"
    # Resolved as the compiler does for quoted includes: beside the file
    # first, then from the include roots (src/ is the one that matters here).
    if [ -f "$dir/$target" ]; then
      resolved="$(realpath -m --relative-to=. "$dir/$target")"
    elif [ -f "src/$target" ]; then
      resolved="src/$target"
    else
      continue
    fi
    case "$resolved" in
      src/*/*) ;;
      *) continue ;;
    esac
    header="${resolved#src/}"
    home="${header%%/*}"
    [ "$home" != "$owner" ] || continue
    [ -z "${shared[$header]:-}" ] || continue
    echo "$file:$num: includes \"$target\", a private header of src/$home/"
    failures=$((failures + 1))
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(find src tests -type f \( -name '*.h' -o -name '*.hh' -o -name '*.hpp' -o -name '*.cc' \
  -o -name '*.cpp' -o -name '*.c' \) -print0 | sort -z)

if [ "$failures" -gt 0 ]; then
  echo "check-includes: $failures include(s) across components; share the header in $list" \
    "or include what the component exports"
  exit 1
fi
echo "check-includes: ok"
