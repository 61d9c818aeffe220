#!/usr/bin/env bash
# Install what postfix/up.sh and exim/up.sh need, on Debian 12, as root. Idempotent and
# quick when everything is already there (no apt-get update then).
#
#   bash install.sh            # both MTAs
#   bash install.sh postfix    # only Postfix's packages
#   bash install.sh exim       # only Exim
#
# Postfix comes from apt (preseeded to "No configuration", so the system instance stays
# unconfigured and nothing listens on port 25). Exim's packages conflict with postfix, so
# exim4-daemon-light is fetched with `apt-get download` and unpacked with `dpkg -x` into
# $STATE/exim-dist (lib.sh); only its shared libraries are apt-installed, and the
# Debian-exim system user (compiled into the binary) is created.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

need_root
[ -r /etc/debian_version ] && command -v apt-get >/dev/null \
    || die "this needs a Debian system with apt-get (tested on Debian 12)."

what="${1:-all}"
case "$what" in all|postfix|exim) ;; *) die "unknown argument '$what' (use postfix, exim or nothing)." ;; esac

pkgs=(openssl iproute2 util-linux python3)
[ "$what" != exim ] && pkgs+=(postfix libsasl2-modules libsasl2-modules-db sasl2-bin)
# Exim 4.96's run-time libraries (Depends of exim4-daemon-light minus exim4-base/debconf).
[ "$what" != postfix ] && pkgs+=(libc6 libcrypt1 libdb5.3 libgnutls-dane0 libgnutls30 libidn12 libidn2-0 libnsl2 libpcre2-8-0)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
updated=0
apt_update() { [ "$updated" = 1 ] || { apt-get update -qq || die "apt-get update failed."; updated=1; }; }

if [ "${#missing[@]}" -gt 0 ]; then
    say "installing: ${missing[*]}"
    debconf-set-selections <<EOF
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string postfix.$MAIL_DOMAIN
EOF
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed."
fi

if [ "$what" != postfix ]; then
    if [ ! -x "$EXIM_BIN" ]; then
        dl="$(mktemp -d)"; chmod 0755 "$dl"     # readable by apt's _apt user
        say "downloading exim4-daemon-light into $EXIM_DIST"
        ( cd "$dl" && apt-get download -qq exim4-daemon-light 2>/dev/null ) \
            || { apt_update; ( cd "$dl" && apt-get download -qq exim4-daemon-light ); } \
            || die "apt-get download exim4-daemon-light failed."
        rm -rf "$EXIM_DIST.tmp"; mkdir -p "$EXIM_DIST.tmp"
        dpkg -x "$dl"/exim4-daemon-light_*.deb "$EXIM_DIST.tmp"
        basename "$dl"/exim4-daemon-light_*.deb > "$EXIM_DIST.tmp/PACKAGE"
        chmod u-s "$EXIM_DIST.tmp/usr/sbin/exim4"   # run by root anyway; no setuid file in a work tree
        rm -rf "$EXIM_DIST"; mv "$EXIM_DIST.tmp" "$EXIM_DIST"; rm -rf "$dl"
    fi
    # The binary looks up its compiled-in user at start ("failed to find uid for user name").
    if ! id Debian-exim >/dev/null 2>&1; then
        say "creating system user Debian-exim"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin Debian-exim
    fi
    nf="$(ldd "$EXIM_BIN" | awk '/not found/ {print $1}' | tr '\n' ' ')"
    [ -z "$nf" ] || die "the unpacked Exim still misses libraries: $nf"
fi
have=""
command -v postconf >/dev/null && have="postfix $(postconf -d -h mail_version 2>/dev/null)"
[ -x "$EXIM_BIN" ] && have="$have${have:+, }$(cat "$EXIM_DIST/PACKAGE" 2>/dev/null || echo exim4)"
say "ready ($what): $have"
