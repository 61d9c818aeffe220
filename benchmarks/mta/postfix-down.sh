#!/usr/bin/env bash
# Stop the loopback test MTA started by postfix-up.sh.
#
#   benchmarks/mta/postfix-down.sh [--purge] [CA_PATH]
#
# --purge also deletes the generated CA/server keys (/etc/postfix/smtpstep) and the
# CA file + mta.env (default /tmp/smtpstep-mta), so the next postfix-up.sh makes a new CA.
# Packages, the mtauser account and its Maildir are left alone.
set -euo pipefail

PURGE=0
if [ "${1:-}" = "--purge" ]; then PURGE=1; shift; fi
CA_PATH="${1:-${SMTPSTEP_MTA_CA:-/tmp/smtpstep-mta/ca.pem}}"

log() { printf '[postfix-down] %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { log "ERROR: must run as root" >&2; exit 1; }

if ! command -v postfix >/dev/null 2>&1; then
    log "postfix is not installed; nothing to stop"
elif postfix status >/dev/null 2>&1; then
    log "stopping Postfix"
    postfix stop
    for _ in $(seq 100); do postfix status >/dev/null 2>&1 || break; sleep 0.1; done
    if postfix status >/dev/null 2>&1; then
        log "ERROR: Postfix still running" >&2; exit 1
    fi
    log "Postfix stopped"
else
    log "Postfix is not running"
fi

if [ "$PURGE" = 1 ]; then
    log "purging generated certificates and $CA_PATH"
    rm -rf /etc/postfix/smtpstep
    rm -f "$CA_PATH" "$(dirname "$CA_PATH")/mta.env"
    rmdir "$(dirname "$CA_PATH")" 2>/dev/null || true
fi
