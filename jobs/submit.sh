#!/usr/bin/env bash
# Submit an hpray study with Ray's own job CLI (`hpray submit` does the same and more: it checks
# the config first, quotes the overrides, and returns the study's exit code).
#
#   export RAY_ADDRESS=http://127.0.0.1:8265      # the cluster's job server (dashboard) URL
#   jobs/submit.sh study.storage=/mnt/shared/studies study.shared_storage=true model=cnn
#
# The cluster's token is read from RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token.
# Ray joins the words after `--` with spaces: an override with a space in it needs
# `hpray submit`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec ray job submit --runtime-env "$here/runtime_env.yaml" -- hpray tune "$@"
