#!/usr/bin/env bash
# Stop the Exim daemon started by exim/up.sh (idempotent).
#
#   exim/down.sh           # stop; keep $STATE/exim (mail, logs, greylist DB) and the CA
#   exim/down.sh --purge   # stop and delete $STATE/exim
set -euo pipefail
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

need_root
EX="$STATE/exim"
if stop_exim; then
    echo "exim stopped (ports $EXIM_PLAIN_PORT, $EXIM_SUB_PORT free)"
else
    echo "exim (smtpstep instance) was not running"
fi
if [ "${1:-}" = --purge ]; then rm -rf "$EX"; echo "removed $EX"; fi
