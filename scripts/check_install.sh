#!/usr/bin/env bash
# Checks that Hydra finds hpray's sweeper however hpray is installed: from a wheel, a regular
# install from the source tree, and editable installs in both of setuptools' modes (lenient,
# the default, and strict). Each is installed into one fresh venv in turn (dependencies once,
# from constraints.txt), and an example app is asked from a directory outside the repository
# to compose its config with hydra/sweeper=hpray (--cfg hydra), which fails with "Could not find
# 'hydra/sweeper/hpray'" when the plugin is hidden. Prints one line per way; exits 1 if any
# fails. The venv is .venv-install; nothing else is touched.
#
#   scripts/check_install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
venv="$repo/.venv-install"
rm -rf "$venv"
python3 -m venv "$venv"
pip=("$venv/bin/pip" install -q)
"${pip[@]}" "$(grep -E '^torch==' constraints.txt)"
"${pip[@]}" -c constraints.txt ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/pip" uninstall -q -y hpray
wheels=$(mktemp -d)
"$venv/bin/pip" wheel -q --no-deps --no-build-isolation -w "$wheels" . 2>&1 | grep -v "^WARNING" || true

outside=$(mktemp -d)
cp -r examples/hydra_plain "$outside/app"
failed=0
check() {  # $1: how it is installed; the rest: pip install's arguments
    local how=$1
    shift
    "${pip[@]}" --no-deps "$@" 2>&1 | grep -v "^WARNING" || true
    if (cd "$outside/app" && "$venv/bin/python" train.py hparams_search=diabetes \
        --cfg hydra > "$outside/out.txt" 2>&1) && grep -q "HpraySweeper" "$outside/out.txt"; then
        echo "found: $how"
    else
        echo "NOT FOUND: $how"
        tail -5 "$outside/out.txt"
        failed=1
    fi
    "$venv/bin/pip" uninstall -q -y hpray
}
check "wheel" "$wheels"/hpray-*.whl
check "regular install of the source tree" "$repo"
check "editable, lenient (setuptools' default)" -e "$repo"
check "editable, strict" -e "$repo" --config-settings editable_mode=strict
check "editable, compat" -e "$repo" --config-settings editable_mode=compat
rm -rf "$outside" "$wheels"
exit "$failed"
