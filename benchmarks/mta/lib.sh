# Sourced by install.sh, postfix/*.sh and exim/*.sh: shared settings, messages, the test CA.
# Everything made at run time lives under $STATE (default $TMPDIR/smtpstep-mtas), none of it in the repository.
# shellcheck shell=bash

MTA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Everything these scripts create at run time lives under this one folder.
STATE="${SMTPSTEP_MTA_STATE:-${TMPDIR:-/tmp}/smtpstep-mtas}"
CA_PEM="$STATE/ca/ca.pem"

LISTEN=127.0.0.1
MAIL_DOMAIN=smtpstep.test
SASL_USER=student
SASL_PASS=classroom
# Mailboxes that exist on both MTAs (anything else @smtpstep.test is "unknown user").
MAILBOXES=(student alice bob carol dave grey postmaster)

POSTFIX_PLAIN_PORT="${SMTPSTEP_POSTFIX_PLAIN_PORT:-10025}"
POSTFIX_SUB_PORT="${SMTPSTEP_POSTFIX_SUBMISSION_PORT:-10587}"
EXIM_PLAIN_PORT="${SMTPSTEP_EXIM_PLAIN_PORT:-11025}"
EXIM_SUB_PORT="${SMTPSTEP_EXIM_SUBMISSION_PORT:-11587}"

EXIM_DIST="${SMTPSTEP_EXIM_DIST:-$STATE/exim-dist}"   # dpkg -x target (install.sh)
EXIM_BIN="$EXIM_DIST/usr/sbin/exim4"

# one clear sentence and a non-zero exit
die() { printf '%s: %s\n' "$(basename "$(dirname "$0")")/$(basename "$0")" "$*" >&2; exit 1; }
say() { printf '[smtpstep-mta %s] %s\n' "$(basename "$0")" "$*"; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it starts a daemon that binds ports and switches users)."; }

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# alive PID: running and not a zombie (a stopped daemon stays a zombie until PID 1 reaps it,
# which took ~1.5 s in this sandbox; kill -0 alone would count that as running)
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# stop_exim: stop the Exim daemon whose pid file is in $STATE/exim, if it runs; true if it did run.
stop_exim() {
    local pid
    pid="$(cat "$STATE/exim/exim.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && alive "$pid" && grep -q exim4 "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 250); do alive "$pid" || break; sleep 0.02; done
        alive "$pid" && die "Exim (pid $pid) did not stop within 5 s."
        rm -f "$STATE/exim/exim.pid"   # the daemon, no longer root, cannot remove it itself
        return 0
    fi
    rm -f "$STATE/exim/exim.pid"
    return 1
}

# wait_ports SECONDS PORT... : true once every port listens on 127.0.0.1
wait_ports() {
    local end=$(( $(date +%s%N) + $1 * 1000000000 )); shift
    while :; do
        local ok=1 p
        for p in "$@"; do
            ss -Hltn "src $LISTEN and sport = :$p" 2>/dev/null | grep -q . || { ok=0; break; }
        done
        [ "$ok" = 1 ] && return 0
        [ "$(date +%s%N)" -ge "$end" ] && return 1
        sleep 0.05
    done
}

# ensure_ca: one CA shared by both MTAs, made once and kept across up/down runs
# (delete $STATE/ca, or run a down.sh --purge, to get a new one), plus one server
# certificate for localhost, 127.0.0.1 and both MTA host names.
ensure_ca() {
    command -v openssl >/dev/null || die "openssl is missing; run install.sh first."
    install -d -m 0755 "$STATE" "$STATE/ca"
    (
        flock 9
        cd "$STATE/ca"
        if [ ! -s ca.pem ] || [ ! -s ca.key ]; then
            rm -f ca.pem ca.key server.pem server.key
            openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout ca.key -out ca.pem -days 3650 -subj "/O=smtpstep test CA/CN=smtpstep test CA" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null \
                || die "openssl could not make the test CA."
            chmod 0600 ca.key; chmod 0644 ca.pem
        fi
        if [ ! -s server.pem ] || [ ! -s server.key ] || [ server.pem -ot ca.pem ]; then
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
            printf '%s\n' \
                "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:postfix.smtpstep.test,DNS:exim.smtpstep.test" \
                "basicConstraints=critical,CA:FALSE" \
                "keyUsage=critical,digitalSignature" \
                "extendedKeyUsage=serverAuth" > server.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                -days 825 -extfile server.ext -out server.pem 2>/dev/null \
                || die "openssl could not issue the server certificate."
            rm -f server.csr server.ext
            # readable by the MTAs' unprivileged users (test key, loopback only)
            chmod 0644 server.pem; chmod 0640 server.key
        fi
    ) 9>"$STATE/ca/.lock"
}
