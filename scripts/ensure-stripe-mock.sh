#!/usr/bin/env bash
# Prints the path of a working stripe-mock (Stripe's API stand-in the billing tests talk to), providing it on first use:
#   1. $STRIPE_MOCK if set;  2. the project-local build in .cache/bin;  3. build it from the Go module proxy.
# Everything but the final path goes to stderr, so callers can do: mock="$(scripts/ensure-stripe-mock.sh)".
# The version is pinned: stripe-mock's bundled OpenAPI spec decides which request parameters it accepts.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${STRIPE_MOCK_VERSION:-v0.203.0}"
bin_dir="$root/.cache/bin"
local_mock="$bin_dir/stripe-mock"

works() { [ -x "$1" ] && "$1" -version >/dev/null 2>&1; }

if [ -n "${STRIPE_MOCK:-}" ]; then
  if works "$STRIPE_MOCK"; then echo "$STRIPE_MOCK"; exit 0; fi
  echo "STRIPE_MOCK=$STRIPE_MOCK does not run ('$STRIPE_MOCK -version' failed)." >&2
  exit 1
fi

if works "$local_mock"; then echo "$local_mock"; exit 0; fi

if command -v go >/dev/null 2>&1; then
  mkdir -p "$bin_dir"
  echo "Building stripe-mock $version with Go (first run only, a minute or two)…" >&2
  if GOBIN="$bin_dir" GOFLAGS="${GOFLAGS:-} -mod=mod" go install "github.com/stripe/stripe-mock@$version" >&2 && works "$local_mock"; then
    echo "$local_mock"; exit 0
  fi
fi

cat >&2 <<MSG
Could not provide stripe-mock (needed by the billing tests).
Install Go (https://go.dev/dl) and run the command again, or build it yourself:
  go install github.com/stripe/stripe-mock@$version
and point STRIPE_MOCK at the binary.
MSG
exit 1
