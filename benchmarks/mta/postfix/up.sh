#!/usr/bin/env bash
# Start a private Postfix instance on loopback (127.0.0.1:10025 plain, :10587 submission).
#
#   postfix/up.sh        # idempotent: rewrites the config, (re)starts, prints ports + CA
#
# It never touches /etc/postfix or port 25: it is a second Postfix instance whose config,
# queue, data, mail and log all live in $STATE/postfix (default /tmp/smtpstep-mtas/postfix),
# started with `postfix -c $STATE/postfix/conf start`. Needs root and install.sh's packages.
set -euo pipefail
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

need_root
for c in postfix postconf saslpasswd2 openssl ss; do
    command -v "$c" >/dev/null || die "$c is missing; run $MTA_DIR/install.sh first."
done
[ -e /usr/lib/x86_64-linux-gnu/sasl2/libsasldb.so ] || ls /usr/lib/*/sasl2/libsasldb.so >/dev/null 2>&1 \
    || die "the Cyrus SASL sasldb plugin (libsasl2-modules-db) is missing; run $MTA_DIR/install.sh first."
id postfix >/dev/null 2>&1 || die "the postfix user is missing; run $MTA_DIR/install.sh first."

PF="$STATE/postfix"
CONF="$PF/conf"
MYHOSTNAME=postfix.$MAIL_DOMAIN
PFX=(postfix -c "$CONF")

# Stop our instance if it runs (config changes such as ports need a full restart).
if [ -f "$CONF/main.cf" ] && "${PFX[@]}" status >/dev/null 2>&1; then
    "${PFX[@]}" stop >/dev/null 2>&1 || true
    for _ in $(seq 100); do "${PFX[@]}" status >/dev/null 2>&1 || break; sleep 0.05; done
fi
for p in "$POSTFIX_PLAIN_PORT" "$POSTFIX_SUB_PORT"; do
    port_busy "$p" && die "port $p on this machine is already in use by another program (see: ss -ltnp 'sport = :$p')."
done

ensure_ca
install -d -m 0755 "$PF" "$CONF" "$PF/tls" "$PF/log"
install -d -m 0755 -o root -g root "$PF/queue"
install -d -m 0700 -o postfix -g postfix "$PF/data"
# virtual(8) delivers as nobody into $PF/mail/<user>/Maildir
install -d -m 0755 -o nobody -g nogroup "$PF/mail"
install -m 0644 "$STATE/ca/server.pem" "$PF/tls/server.pem"
install -m 0600 "$STATE/ca/server.key" "$PF/tls/server.key"

# --- SASL (Cyrus, own sasldb, realm = myhostname; clients send just "student") ---
# Debian's Postfix reads smtpd.conf from $config_directory/sasl/ (its patch 07_sasl_config;
# cyrus_sasl_config_path is ignored), so the SASL files live in $CONF/sasl.
install -d -m 0755 "$PF/sasl" "$CONF/sasl"
printf '%s' "$SASL_PASS" | saslpasswd2 -p -c -f "$PF/sasl/sasldb2" -u "$MYHOSTNAME" "$SASL_USER"
chown root:postfix "$PF/sasl/sasldb2"; chmod 0640 "$PF/sasl/sasldb2"
cat > "$CONF/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $PF/sasl/sasldb2
mech_list: PLAIN LOGIN
EOF

# --- maps (texthash: no postmap step) ---
: > "$CONF/vmailbox"
for u in "${MAILBOXES[@]}"; do printf '%s@%s %s/Maildir/\n' "$u" "$MAIL_DOMAIN" "$u" >> "$CONF/vmailbox"; done
# "Greylisting" here is a fixed stand-in: grey@ always gets a temporary reject (Postfix has no
# built-in greylisting; a policy server such as postgrey would be needed for the real thing).
cat > "$CONF/rcpt_access" <<EOF
grey@$MAIL_DOMAIN DEFER_IF_PERMIT Greylisted, please try again later
EOF

# --- main.cf (rewritten every run) ---
cat > "$CONF/main.cf" <<EOF
# written by $MTA_DIR/postfix/up.sh -- rerun it instead of editing
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
syslog_name = postfix-smtpstep
maillog_file = $PF/log/postfix.log
maillog_file_prefixes = /var, /dev/stdout, $PF/log
myhostname = $MYHOSTNAME
mydomain = $MAIL_DOMAIN
myorigin = \$mydomain
mydestination =
inet_interfaces = $LISTEN
inet_protocols = ipv4
mynetworks = $LISTEN/32
biff = no
append_dot_mydomain = no
smtputf8_enable = yes
smtpd_banner = \$myhostname ESMTP \$mail_name (Debian/GNU)

# mail for @$MAIL_DOMAIN goes to Maildirs under $PF/mail; other users are unknown
virtual_mailbox_domains = $MAIL_DOMAIN
virtual_mailbox_maps = texthash:$CONF/vmailbox
virtual_mailbox_base = $PF/mail
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
alias_maps =
alias_database =
local_recipient_maps =

# never send anything off this machine, not even a bounce
relayhost =
relay_domains =
default_transport = error:5.7.1 smtpstep test MTA delivers locally only
relay_transport = error:5.7.1 smtpstep test MTA delivers locally only

# limits the explanation catalog needs to show
message_size_limit = 20000
smtpd_recipient_limit = 3

smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject_unauth_destination, check_recipient_access texthash:$CONF/rcpt_access

# TLS: offered on the plain port, required on submission (master.cf)
smtpd_tls_cert_file = $PF/tls/server.pem
smtpd_tls_key_file = $PF/tls/server.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtp_tls_security_level = none

# SASL (Cyrus sasldb)
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $CONF/sasl
smtpd_sasl_local_domain = \$myhostname
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_auth_enable = no
broken_sasl_auth_clients = no
EOF

# --- master.cf: Debian's, without port 25, no chroot, plus our two listeners ---
cp /usr/share/postfix/master.cf.dist "$CONF/master.cf"
postconf -c "$CONF" -MX smtp/inet
postconf -c "$CONF" -F '*/*/chroot = n'
postconf -c "$CONF" -M "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd"
P="$LISTEN:$POSTFIX_PLAIN_PORT"; S="$LISTEN:$POSTFIX_SUB_PORT"
postconf -c "$CONF" -M "$P/inet=$P inet n - n - - smtpd"
postconf -c "$CONF" -P "$P/inet/syslog_name=postfix-smtpstep/plain"
postconf -c "$CONF" -M "$S/inet=$S inet n - n - - smtpd"
postconf -c "$CONF" -P "$S/inet/syslog_name=postfix-smtpstep/submission" \
    "$S/inet/smtpd_tls_security_level=encrypt" \
    "$S/inet/smtpd_sasl_auth_enable=yes" \
    "$S/inet/smtpd_helo_required=yes" \
    "$S/inet/smtpd_client_restrictions=permit_sasl_authenticated,reject" \
    "$S/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject" \
    "$S/inet/smtpd_recipient_restrictions=reject_unauth_destination"

touch "$PF/log/postfix.log"
# The postfix command waits (0.3 s steps, ~2 s) while main.cf/master.cf are "too new"
# (just written); backdating them makes the start take ~0.4 s instead of ~2.9 s.
touch -d "@$(( $(date +%s) - 10 ))" "$CONF/main.cf" "$CONF/master.cf"
"${PFX[@]}" start >/dev/null 2>&1 || die "postfix did not start; see $PF/log/postfix.log."
wait_ports 10 "$POSTFIX_PLAIN_PORT" "$POSTFIX_SUB_PORT" \
    || die "postfix started but $LISTEN:$POSTFIX_PLAIN_PORT/$POSTFIX_SUB_PORT do not listen; see $PF/log/postfix.log."

cat > "$PF/env" <<EOF
SMTPSTEP_POSTFIX_HOST=$LISTEN
SMTPSTEP_POSTFIX_PLAIN_PORT=$POSTFIX_PLAIN_PORT
SMTPSTEP_POSTFIX_SUBMISSION_PORT=$POSTFIX_SUB_PORT
SMTPSTEP_MTA_CA=$CA_PEM
SMTPSTEP_MTA_USER=$SASL_USER
SMTPSTEP_MTA_PASSWORD=$SASL_PASS
SMTPSTEP_POSTFIX_MAILDIRS=$PF/mail
EOF
echo "postfix $(postconf -c "$CONF" -h mail_version 2>/dev/null) up: plain $LISTEN:$POSTFIX_PLAIN_PORT, submission $LISTEN:$POSTFIX_SUB_PORT (STARTTLS then AUTH $SASL_USER/$SASL_PASS), CA $CA_PEM, mail $PF/mail, log $PF/log/postfix.log"
