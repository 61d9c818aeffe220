#!/usr/bin/env bash
# Stop the private Postfix instance started by postfix/up.sh (idempotent).
#
#   postfix/down.sh           # stop; keep $STATE/postfix (mail, log) and the CA
#   postfix/down.sh --purge   # stop and delete $STATE/postfix
set -euo pipefail
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

need_root
CONF="$STATE/postfix/conf"
if [ -f "$CONF/main.cf" ] && command -v postfix >/dev/null && postfix -c "$CONF" status >/dev/null 2>&1; then
    postfix -c "$CONF" stop >/dev/null 2>&1 || true
    for _ in $(seq 200); do postfix -c "$CONF" status >/dev/null 2>&1 || break; sleep 0.05; done
    postfix -c "$CONF" status >/dev/null 2>&1 && die "postfix ($CONF) is still running after 10 s."
    echo "postfix stopped (ports $POSTFIX_PLAIN_PORT, $POSTFIX_SUB_PORT free)"
else
    echo "postfix (smtpstep instance) was not running"
fi
if [ "${1:-}" = --purge ]; then rm -rf "$STATE/postfix"; echo "removed $STATE/postfix"; fi
