#!/usr/bin/env bash
# Runs the unit tests and the searcher contract test against other releases of what hpray
# builds on, in a fresh venv, before a bound in pyproject.toml is moved:
#
#   scripts/check_releases.sh latest   # the newest releases, past pyproject.toml's upper bounds
#   scripts/check_releases.sh oldest   # the lower bounds of Ray, Optuna, Hydra, Lightning, BoTorch
#
# torch stays at constraints.txt's release (a CPU build installs in seconds; a newer one from
# PyPI is a CUDA build of several GB): HPRAY_CHECK_TORCH=latest or =oldest moves it too.
# The venv is kept in .venv-<which> for a look afterwards; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-latest}
case "$which" in latest | oldest) ;; *) echo "usage: $0 latest|oldest" >&2; exit 2 ;; esac

venv=".venv-$which"
rm -rf "$venv"
python3 -m venv "$venv"
pip=("$venv/bin/pip" install -q)
# The direct requirements whose bounds this checks, as pyproject.toml names them.
checked=(ray optuna optuna-integration hydra-core omegaconf lightning botorch torch)

bounds() {  # "name lower upper" for each checked requirement of pyproject.toml
    "$venv/bin/python" - "${checked[@]}" <<'PY'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
for req in reqs:
    name = re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower()
    if name in sys.argv[1:]:
        low = re.search(r">=\s*([\w.]+)", req)
        high = re.search(r"<\s*([\w.]+)", req)
        print(name, low.group(1) if low else "-", high.group(1) if high else "-")
PY
}

torch_pin=$(grep -E '^torch==' constraints.txt)
if [ "${HPRAY_CHECK_TORCH:-}" = "" ]; then
    "${pip[@]}" "$torch_pin"
fi

if [ "$which" = oldest ]; then
    pins="$venv/oldest.txt"
    bounds | sort -u | while read -r name low _; do
        [ "$low" = - ] && continue
        [ "$name" = torch ] && [ "${HPRAY_CHECK_TORCH:-}" != oldest ] && continue
        echo "$name==$low"
    done > "$pins"
    [ "${HPRAY_CHECK_TORCH:-}" = "" ] && echo "$torch_pin" >> "$pins"
    echo "== installing the lower bounds: $(tr '\n' ' ' < "$pins")"
    "${pip[@]}" -c "$pins" -e ".[dev]"
else
    "${pip[@]}" -e ".[dev]"
    # Past the upper bounds: pip warns that hpray asks for less, and installs them anyway.
    newest=(ray[tune,default] optuna optuna-integration hydra-core omegaconf lightning botorch)
    [ "${HPRAY_CHECK_TORCH:-}" = latest ] && newest+=(torch)
    echo "== installing the newest releases of: ${newest[*]}"
    "${pip[@]}" --upgrade "${newest[@]}" 2>&1 | grep -v "^WARNING: Location" || true
fi

echo "== installed:"
"$venv/bin/pip" list 2>/dev/null | grep -iE "^($(IFS='|'; echo "${checked[*]}")) " | sed 's/^/   /'
echo "== pyproject.toml's bounds (name, lower, upper):"
bounds | sed 's/^/   /'

"$venv/bin/python" -m pytest -p no:cacheprovider -q tests/unit \
    tests/integration/test_searchers.py::test_a_searcher_runs_resumes_and_grows_a_study
