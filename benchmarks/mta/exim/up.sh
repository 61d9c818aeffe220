#!/usr/bin/env bash
# Start Exim (unpacked from Debian's exim4-daemon-light by install.sh, not apt-installed,
# because the exim4 packages conflict with postfix) on 127.0.0.1:11025 plain / :11587 submission.
#
#   exim/up.sh      # idempotent: rewrites the config, (re)starts, prints ports + CA
#
# Config, spool, hints DBs (greylisting), mail and logs live in $STATE/exim
# (default /tmp/smtpstep-mtas/exim). The daemon runs as root (as Exim's daemon always does)
# and drops to the Debian-exim user for receiving and delivering. Needs root.
set -euo pipefail
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

need_root
[ -x "$EXIM_BIN" ] || die "the unpacked Exim binary $EXIM_BIN is missing; run $MTA_DIR/install.sh first."
id Debian-exim >/dev/null 2>&1 || die "the Debian-exim user is missing (Exim's compiled-in user); run $MTA_DIR/install.sh first."
missing_libs="$(ldd "$EXIM_BIN" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')"
[ -z "$missing_libs" ] || die "Exim needs libraries that are not installed ($missing_libs); run $MTA_DIR/install.sh first."
command -v openssl >/dev/null || die "openssl is missing; run $MTA_DIR/install.sh first."

EX="$STATE/exim"
CONF="$EX/exim.conf"
GREY_DELAY="${SMTPSTEP_EXIM_GREY_DELAY:-2s}"   # minimum wait before a greylisted retry is accepted

stop_exim || true
for p in "$EXIM_PLAIN_PORT" "$EXIM_SUB_PORT"; do
    port_busy "$p" && die "port $p on this machine is already in use by another program (see: ss -ltnp 'sport = :$p')."
done

ensure_ca
install -d -m 0755 "$EX" "$EX/tls"
install -d -m 0750 -o Debian-exim -g Debian-exim "$EX/spool" "$EX/log" "$EX/mail"
install -m 0644 "$STATE/ca/server.pem" "$EX/tls/server.pem"
install -m 0640 -o root -g Debian-exim "$STATE/ca/server.key" "$EX/tls/server.key"

mailboxes="$(printf '%s : ' "${MAILBOXES[@]}")"; mailboxes="${mailboxes% : }"
sed -e "s|@EXIM_BIN@|$EXIM_BIN|g" -e "s|@EX@|$EX|g" \
    -e "s|@PLAIN_PORT@|$EXIM_PLAIN_PORT|g" -e "s|@SUB_PORT@|$EXIM_SUB_PORT|g" \
    -e "s|@GREY_DELAY@|$GREY_DELAY|g" -e "s|@MAILBOXES@|$mailboxes|g" \
    -e "s|@USER@|$SASL_USER|g" -e "s|@PASS@|$SASL_PASS|g" \
    "$MTA_DIR/exim/exim.conf.in" > "$CONF.tmp"
chmod 0644 "$CONF.tmp"; mv "$CONF.tmp" "$CONF"

"$EXIM_BIN" -C "$CONF" -bV >/dev/null 2>"$EX/config-check.txt" \
    || die "Exim rejects $CONF: $(head -c 300 "$EX/config-check.txt")"
# -bd: daemon; -q1m: a queue run a minute (each one logs "lost privilege", see ../README.md).
"$EXIM_BIN" -C "$CONF" -bd -q1m || die "Exim did not start; see $EX/log/paniclog and $EX/log/mainlog."
wait_ports 10 "$EXIM_PLAIN_PORT" "$EXIM_SUB_PORT" \
    || die "Exim started but $LISTEN:$EXIM_PLAIN_PORT/$EXIM_SUB_PORT do not listen; see $EX/log/paniclog."

cat > "$EX/env" <<EOF
SMTPSTEP_EXIM_HOST=$LISTEN
SMTPSTEP_EXIM_PLAIN_PORT=$EXIM_PLAIN_PORT
SMTPSTEP_EXIM_SUBMISSION_PORT=$EXIM_SUB_PORT
SMTPSTEP_MTA_CA=$CA_PEM
SMTPSTEP_MTA_USER=$SASL_USER
SMTPSTEP_MTA_PASSWORD=$SASL_PASS
SMTPSTEP_EXIM_MAILDIRS=$EX/mail
EOF
version="$("$EXIM_BIN" -C "$CONF" -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p')"
echo "exim $version up: plain $LISTEN:$EXIM_PLAIN_PORT, submission $LISTEN:$EXIM_SUB_PORT (STARTTLS then AUTH $SASL_USER/$SASL_PASS), CA $CA_PEM, mail $EX/mail, log $EX/log/mainlog"
