#!/usr/bin/env bash
# Bring up a real Postfix MTA on 127.0.0.1 for testing smtpstep's SMTP client.
#
#   sudo benchmarks/mta/postfix-up.sh [CA_PATH]
#
# Idempotent: safe to run again; it rewrites the config and restarts Postfix.
# Needs root on Debian 12 (apt-get, no systemd: Postfix is started with `postfix start`).
#
# Environment (all optional):
#   SMTPSTEP_MTA_CA               where to write the CA PEM (default /tmp/smtpstep-mta/ca.pem;
#                                 the first argument overrides it)
#   SMTPSTEP_MTA_SUBMISSION_PORT  STARTTLS-required + AUTH-required port (default 2587)
#   SMTPSTEP_MTA_PLAIN_PORT       plain port, STARTTLS offered (default 2525)
#   SMTPSTEP_MTA_NEW_CA=1         throw away the existing CA and make a new one
#   SMTPSTEP_MTA_SKIP_CHECK=1     skip the end-to-end smtplib/swaks checks
#   SMTPSTEP_PYTHON               python with trustme (default: the repository's .venv/bin/python)
set -euo pipefail

CA_PATH="${1:-${SMTPSTEP_MTA_CA:-/tmp/smtpstep-mta/ca.pem}}"
SUB_PORT="${SMTPSTEP_MTA_SUBMISSION_PORT:-2587}"
PLAIN_PORT="${SMTPSTEP_MTA_PLAIN_PORT:-2525}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${SMTPSTEP_PYTHON:-$REPO/.venv/bin/python}"

LISTEN=127.0.0.1
MYHOSTNAME=mta.smtpstep.test
MAIL_DOMAIN=smtpstep.test
LOCAL_USER=mtauser
SASL_USER=student
SASL_PASS=classroom
RCPT="${LOCAL_USER}@${MAIL_DOMAIN}"

STATE=/etc/postfix/smtpstep            # CA key, server cert/key (root only)
SASL_DIR=/etc/postfix/sasl
SASLDB="${SASL_DIR}/smtpstep-sasldb2"
CA_DIR="$(dirname "$CA_PATH")"
LOG=/var/log/postfix.log

log() { printf '[postfix-up] %s\n' "$*"; }
die() { printf '[postfix-up] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
[ -x "$PY" ] || die "python not found at $PY (set SMTPSTEP_PYTHON)"

# --------------------------------------------------------------------------
# 1. packages
# --------------------------------------------------------------------------
PKGS=(postfix libsasl2-modules libsasl2-modules-db sasl2-bin swaks)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    # 'No configuration': the package leaves main.cf to us and does not try to start anything.
    debconf-set-selections <<DEB
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string ${MYHOSTNAME}
DEB
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    log "packages already installed"
fi
"$PY" -c 'import trustme' 2>/dev/null || die "trustme is not importable by $PY"

# Stop a running instance first: inet_interfaces changes need a full restart anyway.
if postfix status >/dev/null 2>&1; then
    log "stopping running Postfix"
    postfix stop >/dev/null 2>&1 || true
    for _ in $(seq 50); do postfix status >/dev/null 2>&1 || break; sleep 0.1; done
fi

# --------------------------------------------------------------------------
# 2. certificates (trustme).  The CA is kept across runs so that a CA file a
#    client already loaded stays valid; the server cert is reissued each run.
# --------------------------------------------------------------------------
install -d -m 0700 "$STATE"
install -d -m 0755 "$CA_DIR"
if [ "${SMTPSTEP_MTA_NEW_CA:-0}" = 1 ]; then rm -f "$STATE/ca.pem" "$STATE/ca-key.pem"; fi
log "issuing server certificate for localhost, 127.0.0.1, ${MYHOSTNAME}"
STATE="$STATE" MYHOSTNAME="$MYHOSTNAME" "$PY" - <<'PYEOF'
import os, pathlib, trustme
state = pathlib.Path(os.environ["STATE"])
ca_cert, ca_key = state / "ca.pem", state / "ca-key.pem"
if ca_cert.exists() and ca_key.exists():
    ca = trustme.CA.from_pem(ca_cert.read_bytes(), ca_key.read_bytes())
else:
    ca = trustme.CA(organization_name="smtpstep test MTA")
    old = os.umask(0o077)
    ca.private_key_pem.write_to_path(str(ca_key))
    os.umask(old)
    ca.cert_pem.write_to_path(str(ca_cert))
srv = ca.issue_cert("localhost", "127.0.0.1", os.environ["MYHOSTNAME"])
# Postfix smtpd_tls_chain_files: key first, then the leaf and chain.
out = state / "server-chain.pem"
old = os.umask(0o077)
tmp = out.with_suffix(".tmp")
srv.private_key_and_cert_chain_pem.write_to_path(str(tmp))
os.replace(tmp, out)
os.umask(old)
PYEOF
install -m 0644 "$STATE/ca.pem" "$CA_PATH"

# --------------------------------------------------------------------------
# 3. local user, SASL database
# --------------------------------------------------------------------------
if ! id "$LOCAL_USER" >/dev/null 2>&1; then
    log "creating unix user $LOCAL_USER"
    useradd --create-home --shell /usr/sbin/nologin "$LOCAL_USER"
fi
LOCAL_HOME="$(getent passwd "$LOCAL_USER" | cut -d: -f6)"
install -d -o "$LOCAL_USER" -g "$LOCAL_USER" -m 0700 "$LOCAL_HOME"

install -d -m 0755 "$SASL_DIR"
# Realm = smtpd_sasl_local_domain below; clients just send "student".
printf '%s' "$SASL_PASS" | saslpasswd2 -p -c -f "$SASLDB" -u "$MYHOSTNAME" "$SASL_USER"
chown root:postfix "$SASLDB"
chmod 0640 "$SASLDB"
cat > "$SASL_DIR/smtpd.conf" <<CONF
# written by smtpstep benchmarks/mta/postfix-up.sh
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: ${SASLDB}
mech_list: PLAIN LOGIN
CONF

[ -f /etc/aliases ] || printf 'postmaster: root\n' > /etc/aliases
grep -q "^root:" /etc/aliases || printf 'root: %s\n' "$LOCAL_USER" >> /etc/aliases
echo "$MYHOSTNAME" > /etc/mailname

# --------------------------------------------------------------------------
# 4. Postfix configuration (rewritten from scratch every run)
# --------------------------------------------------------------------------
cat > /etc/postfix/main.cf <<CONF
# written by smtpstep benchmarks/mta/postfix-up.sh -- rerun the script instead of editing
compatibility_level = 3.6
myhostname = ${MYHOSTNAME}
mydomain = ${MAIL_DOMAIN}
myorigin = \$myhostname
mydestination = \$myhostname, ${MAIL_DOMAIN}, localhost, localhost.localdomain
inet_interfaces = ${LISTEN}
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
biff = no
append_dot_mydomain = no
smtputf8_enable = yes

# no syslog daemon here: Postfix's own logger
maillog_file = ${LOG}

# local delivery into ~/Maildir/
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
home_mailbox = Maildir/
mailbox_size_limit = 0
recipient_delimiter = +
local_recipient_maps = proxy:unix:passwd.byname \$alias_maps

# never send anything off this machine (not even bounces)
relayhost =
default_transport = error:5.7.1 smtpstep test MTA delivers locally only
relay_transport = error:5.7.1 smtpstep test MTA delivers locally only
relay_domains =
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject_unauth_destination

# TLS (server side); per-port security level is set in master.cf
smtpd_tls_chain_files = ${STATE}/server-chain.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database = btree:\${data_directory}/smtpd_scache
smtp_tls_security_level = none

# SASL (Cyrus, sasldb via auxprop; see ${SASL_DIR}/smtpd.conf)
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = ${SASL_DIR}
smtpd_sasl_local_domain = \$myhostname
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_auth_enable = no
broken_sasl_auth_clients = no
CONF

# master.cf: start from the packaged file every run (idempotent), then edit with postconf.
cp /usr/share/postfix/master.cf.dist /etc/postfix/master.cf
postconf -MX smtp/inet                         # no port 25
postconf -F '*/*/chroot = n'                   # no chroot: sasldb, certs, resolv.conf just work
postconf -M "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd"
postconf -M "${LISTEN}:${PLAIN_PORT}/inet=${LISTEN}:${PLAIN_PORT} inet n - n - - smtpd"
postconf -P "${LISTEN}:${PLAIN_PORT}/inet/syslog_name=postfix/plain" \
            "${LISTEN}:${PLAIN_PORT}/inet/smtpd_tls_security_level=may" \
            "${LISTEN}:${PLAIN_PORT}/inet/smtpd_sasl_auth_enable=yes" \
            "${LISTEN}:${PLAIN_PORT}/inet/smtpd_tls_auth_only=yes"
postconf -M "${LISTEN}:${SUB_PORT}/inet=${LISTEN}:${SUB_PORT} inet n - n - - smtpd"
postconf -P "${LISTEN}:${SUB_PORT}/inet/syslog_name=postfix/submission" \
            "${LISTEN}:${SUB_PORT}/inet/smtpd_tls_security_level=encrypt" \
            "${LISTEN}:${SUB_PORT}/inet/smtpd_sasl_auth_enable=yes" \
            "${LISTEN}:${SUB_PORT}/inet/smtpd_tls_auth_only=yes" \
            "${LISTEN}:${SUB_PORT}/inet/smtpd_client_restrictions=" \
            "${LISTEN}:${SUB_PORT}/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject" \
            "${LISTEN}:${SUB_PORT}/inet/smtpd_recipient_restrictions=reject_unauth_destination"

newaliases
touch "$LOG"
postfix check
log "starting Postfix"
postfix start
for _ in $(seq 50); do
    if ss -ltn 2>/dev/null | grep -q "${LISTEN}:${SUB_PORT} " && ss -ltn | grep -q "${LISTEN}:${PLAIN_PORT} "; then break; fi
    sleep 0.1
done
postfix status

# --------------------------------------------------------------------------
# 5. end-to-end checks
# --------------------------------------------------------------------------
if [ "${SMTPSTEP_MTA_SKIP_CHECK:-0}" != 1 ]; then
    log "check 1: smtplib STARTTLS (verified) + AUTH PLAIN/LOGIN + delivery to ${RCPT}"
    CA_PATH="$CA_PATH" SUB_PORT="$SUB_PORT" PLAIN_PORT="$PLAIN_PORT" MAILDIR="$LOCAL_HOME/Maildir" \
    RCPT="$RCPT" SASL_USER="$SASL_USER" SASL_PASS="$SASL_PASS" LOCAL_USER="$LOCAL_USER" \
    "$PY" - <<'PYEOF'
import os, pathlib, smtplib, ssl, time, uuid
from email.message import EmailMessage

e = os.environ
host, sub, plain = "127.0.0.1", int(e["SUB_PORT"]), int(e["PLAIN_PORT"])
ctx = ssl.create_default_context(cafile=e["CA_PATH"])
maildir = pathlib.Path(e["MAILDIR"])

def msg(tag, to):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "student@smtpstep.test", to, f"postfix-up check {tag}"
    m.set_content(f"token {tag}\n")
    return m

def wait_for(tag, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        for d in ("new", "cur"):
            p = maildir / d
            if p.is_dir():
                for f in p.iterdir():
                    try:
                        if tag in f.read_text(errors="replace"):
                            return f
                    except OSError:
                        pass
        time.sleep(0.2)
    raise SystemExit(f"FAIL: message {tag} not delivered to {maildir} within {timeout}s")

# submission: before STARTTLS no AUTH is offered and MAIL is refused
with smtplib.SMTP(host, sub, timeout=10) as s:
    s.ehlo("check.smtpstep.test")
    assert s.has_extn("starttls"), "STARTTLS not offered"
    assert not s.has_extn("auth"), "AUTH offered before TLS"
    code, _ = s.docmd("MAIL FROM:<student@smtpstep.test>")
    assert code == 530, f"MAIL before STARTTLS gave {code}, want 530"
    print(f"  ok  {sub}: no AUTH before TLS, MAIL before STARTTLS -> 530")

for mech in ("PLAIN", "LOGIN"):
    tag = f"{mech}-{uuid.uuid4().hex}"
    with smtplib.SMTP(host, sub, timeout=10) as s:
        s.ehlo("check.smtpstep.test")
        s.starttls(context=ctx)          # verifies the chain and the 127.0.0.1 SAN
        s.ehlo("check.smtpstep.test")
        mechs = s.esmtp_features.get("auth", "").upper().split()
        assert {"PLAIN", "LOGIN"} <= set(mechs), f"AUTH mechs after TLS: {mechs}"
        s.user, s.password = e["SASL_USER"], e["SASL_PASS"]
        code, resp = s.auth(mech, getattr(s, "auth_" + mech.lower()), initial_response_ok=(mech == "PLAIN"))
        assert code == 235, (code, resp)
        s.send_message(msg(tag, e["RCPT"]))
    f = wait_for(tag)
    print(f"  ok  {sub}: STARTTLS verified, AUTH {mech} 235, delivered -> {f}")

# authentication is required on submission; bad password is 535; no relaying
with smtplib.SMTP(host, sub, timeout=10) as s:
    s.starttls(context=ctx); s.ehlo("check.smtpstep.test")
    try:
        s.login(e["SASL_USER"], "wrong-password")
        raise SystemExit("FAIL: wrong password accepted")
    except smtplib.SMTPAuthenticationError as exc:
        assert exc.smtp_code == 535, exc
    s.mail("student@smtpstep.test")
    code, _ = s.rcpt(e["RCPT"])
    assert code >= 500, f"unauthenticated RCPT on submission gave {code}"
    print(f"  ok  {sub}: wrong password -> 535, unauthenticated RCPT -> {code}")
with smtplib.SMTP(host, sub, timeout=10) as s:
    s.starttls(context=ctx); s.ehlo("check.smtpstep.test")
    s.login(e["SASL_USER"], e["SASL_PASS"])
    s.mail("student@smtpstep.test")
    code, resp = s.rcpt("someone@example.com")
    assert code >= 500, f"relay to example.com gave {code}"
    print(f"  ok  {sub}: authenticated relay to example.com refused ({code})")

# plain port: STARTTLS offered but optional; local delivery without AUTH
tag = f"PLAIN-PORT-{uuid.uuid4().hex}"
with smtplib.SMTP(host, plain, timeout=10) as s:
    s.ehlo("check.smtpstep.test")
    assert s.has_extn("starttls") and not s.has_extn("auth")
    s.send_message(msg(tag, f"{e['LOCAL_USER']}@localhost"))
    s.mail("student@smtpstep.test")
    code, _ = s.rcpt("someone@example.com")
    assert code >= 500, f"relay from plain port gave {code}"
print(f"  ok  {plain}: cleartext local delivery to {e['LOCAL_USER']}@localhost -> {wait_for(tag)}; relay refused ({code})")
tag = f"PLAIN-TLS-{uuid.uuid4().hex}"
with smtplib.SMTP(host, plain, timeout=10) as s:
    s.starttls(context=ctx); s.ehlo("check.smtpstep.test")
    s.send_message(msg(tag, e["RCPT"]))
print(f"  ok  {plain}: STARTTLS verified, delivered -> {wait_for(tag)}")
PYEOF

    log "check 2: swaks (STARTTLS verified, AUTH LOGIN)"
    tag="swaks-$(date +%s%N)"
    swaks --silent 2 --server "$LISTEN" --port "$SUB_PORT" --helo check.smtpstep.test \
          --tls --tls-verify --tls-ca-path "$CA_PATH" \
          --auth LOGIN --auth-user "$SASL_USER" --auth-password "$SASL_PASS" \
          --from "student@${MAIL_DOMAIN}" --to "$RCPT" --header "Subject: $tag" \
        || die "swaks failed"
    for _ in $(seq 150); do
        grep -rlq -- "$tag" "$LOCAL_HOME/Maildir/new" "$LOCAL_HOME/Maildir/cur" 2>/dev/null && break
        sleep 0.2
    done
    f="$(grep -rl -- "$tag" "$LOCAL_HOME/Maildir/new" "$LOCAL_HOME/Maildir/cur" 2>/dev/null | head -1)"
    [ -n "$f" ] || die "swaks message not delivered"
    log "  ok  swaks message delivered -> $f"
fi

cat > "$CA_DIR/mta.env" <<ENV
# source me: settings of the smtpstep loopback test MTA (written by postfix-up.sh)
SMTPSTEP_MTA_HOST=${LISTEN}
SMTPSTEP_MTA_SUBMISSION_PORT=${SUB_PORT}
SMTPSTEP_MTA_PLAIN_PORT=${PLAIN_PORT}
SMTPSTEP_MTA_CA=${CA_PATH}
SMTPSTEP_MTA_TLS_NAME=localhost
SMTPSTEP_MTA_USER=${SASL_USER}
SMTPSTEP_MTA_PASSWORD=${SASL_PASS}
SMTPSTEP_MTA_RCPT=${RCPT}
SMTPSTEP_MTA_MAILDIR=${LOCAL_HOME}/Maildir
ENV

cat <<SUMMARY

==================== smtpstep test MTA is up ====================
 host            ${LISTEN} only (TLS names: localhost, 127.0.0.1, ${MYHOSTNAME})
 submission      ${LISTEN}:${SUB_PORT}  STARTTLS required, then AUTH PLAIN/LOGIN required
 plain           ${LISTEN}:${PLAIN_PORT}  STARTTLS offered (optional); no AUTH needed for local mail
 CA certificate  ${CA_PATH}
 credentials     ${SASL_USER} / ${SASL_PASS}
 recipient       ${RCPT}  (also ${LOCAL_USER}@localhost, ${LOCAL_USER}@${MYHOSTNAME})
 Maildir         ${LOCAL_HOME}/Maildir/{new,cur}
 log             ${LOG}
 env file        ${CA_DIR}/mta.env
 stop            benchmarks/mta/postfix-down.sh
=================================================================
SUMMARY
