#!/usr/bin/env bash
# Makes pnpm 10.34.9 available and the workspace's node_modules current.
# Sourced by the other scripts (`source infra/scripts/ensure-pnpm.sh`) so that the PATH change of
# the npx fallback reaches them; `bash infra/scripts/ensure-pnpm.sh` works too.
# Not corepack: its signature check fails on some registries ("No compatible signature found").

# Strict mode only when executed: sourced, it must not change an interactive shell's options.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then set -euo pipefail; fi

_gh_pnpm_version=10.34.9
_gh_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if [ "$(pnpm --version 2>/dev/null || true)" != "$_gh_pnpm_version" ]; then
  echo "ensure-pnpm: installing pnpm@$_gh_pnpm_version with npm" >&2
  npm install -g --no-fund --no-audit "pnpm@$_gh_pnpm_version" >&2 || true
  hash -r # forget where bash last found pnpm
  if [ "$(pnpm --version 2>/dev/null || true)" != "$_gh_pnpm_version" ]; then
    # An executable shim, not a shell function: turbo runs `pnpm` itself, from PATH.
    echo "ensure-pnpm: npm install -g did not work, falling back to npx -y pnpm@$_gh_pnpm_version" >&2
    _gh_shim="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/bin"
    mkdir -p "$_gh_shim"
    printf '#!/bin/sh\nexec npx -y pnpm@%s "$@"\n' "$_gh_pnpm_version" >"$_gh_shim/pnpm"
    chmod +x "$_gh_shim/pnpm"
    export PATH="$_gh_shim:$PATH"
    unset _gh_shim
  fi
fi

# Install only when needed: pnpm writes node_modules/.modules.yaml on install, so a lockfile
# newer than it means the dependencies changed since. pnpm 10 writes the lockfile a few ms after
# .modules.yaml though, and its .pnpm-workspace-state-v1.json last: the newer of the two counts.
_gh_stamp="$_gh_root/node_modules/.modules.yaml"
if [ "$_gh_root/node_modules/.pnpm-workspace-state-v1.json" -nt "$_gh_stamp" ]; then
  _gh_stamp="$_gh_root/node_modules/.pnpm-workspace-state-v1.json"
fi
if [ ! -f "$_gh_root/node_modules/.modules.yaml" ] || [ "$_gh_root/pnpm-lock.yaml" -nt "$_gh_stamp" ]; then
  _gh_frozen=()
  if [ "${CI:-}" = true ]; then _gh_frozen=(--frozen-lockfile); fi
  if (cd "$_gh_root" && pnpm install "${_gh_frozen[@]}") >&2; then
    # An install with nothing to do may leave the file's mtime alone: don't reinstall every run.
    touch "$_gh_root/node_modules/.modules.yaml"
  else
    echo "ensure-pnpm: pnpm install failed" >&2
    # shellcheck disable=SC2317 # return when sourced, exit when executed
    return 1 2>/dev/null || exit 1
  fi
fi
unset _gh_root _gh_frozen _gh_stamp
