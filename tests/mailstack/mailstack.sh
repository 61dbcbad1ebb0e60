#!/usr/bin/env bash
# Test mail stack for onit: a real Dovecot (IMAP, IMAPS, LMTP, auth) and a
# real Postfix (SMTP, SMTPS) on 127.0.0.1, running from a scratch directory,
# without systemd and without touching /etc (except `install`).
#
#   mailstack.sh install            install packages (root, apt), create user
#   mailstack.sh start DIR [URL]    start both, print env lines on stdout; with
#                                   URL (or MAILSTACK_OAUTH_INTROSPECTION_URL),
#                                   Dovecot also takes XOAUTH2/OAUTHBEARER tokens,
#                                   validated by POSTing them to URL
#   mailstack.sh stop DIR           stop both, wait for masters + ports
#   mailstack.sh status DIR         exit 0 if both answer
#   mailstack.sh stop-dovecot DIR | start-dovecot DIR | restart-dovecot DIR
#   mailstack.sh stop-postfix DIR | start-postfix DIR | restart-postfix DIR
#   mailstack.sh stop-imap DIR | start-imap DIR | restart-imap DIR
#                                   (the stack's IMAP server, Dovecot or Cyrus)
#
# MAILSTACK_IMAP_SERVER=cyrus at `start` puts Cyrus IMAP (imapd, lmtpd,
# idled) where Dovecot would be: same env keys, plus IMAP_SERVER=cyrus.
#
# MAILSTACK_DKIM=1 at `start` adds the DKIM layer (see "DKIM layer" below):
# OpenDKIM verifying what the SMTP ports receive and adding
# Authentication-Results, keys served by dnsmasq on loopback, and a signing
# "engineer's MTA" port. Without it, the stack has none of these.
#
# See README.md next to this file.
#
# Only the env lines go to stdout; diagnostics go to stderr.  The daemons
# never inherit the caller's stdin/stdout/stderr, so `$(mailstack.sh start D)`
# and Rust's Command::output() return as soon as the script is done.
set -euo pipefail

PROG=${0##*/}
DOMAINS="jac.example client.example example.com example.org example.net other.example"
MAIL_USER_DEFAULT=onitmail
START_TIMEOUT=${MAILSTACK_TIMEOUT:-30}   # seconds to wait for a service
STOP_TIMEOUT=${MAILSTACK_STOP_TIMEOUT:-20}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

# --------------------------------------------------------------------------
# install
# --------------------------------------------------------------------------
PKGS="dovecot-imapd dovecot-lmtpd postfix openssl"
# Pigeonhole: the client-side auto-responders (see write_responders)
PKGS="$PKGS dovecot-sieve"
# Cyrus IMAP: cyrus-common (master, lmtpd, tools) does not conflict with
# Dovecot; cyrus-imapd (imapd, idled) does (both provide imap-server), so its
# .deb is only downloaded here and unpacked into each Cyrus stack at start.
PKGS="$PKGS cyrus-common libwrap0"
# The DKIM layer (MAILSTACK_DKIM=1): OpenDKIM (milter; opendkim-genkey) and
# dnsmasq's binary alone (dnsmasq-base: no system service) serving the keys.
PKGS="$PKGS opendkim opendkim-tools dnsmasq-base"
CYRUS_DEB_DIR=/var/cache/onit-mailstack

# cyrus_deb: the cached cyrus-imapd .deb matching the installed cyrus-common
cyrus_deb() {
    local v f
    v=$(dpkg-query -W -f='${Version}' cyrus-common 2>/dev/null) || return 1
    f=$CYRUS_DEB_DIR/cyrus-imapd_${v//:/%3a}_$(dpkg --print-architecture).deb
    [ -s "$f" ] && echo "$f"
}

fetch_cyrus_deb() {
    cyrus_deb >/dev/null && return 0
    local v
    v=$(dpkg-query -W -f='${Version}' cyrus-common)
    mkdir -p "$CYRUS_DEB_DIR"
    chown _apt "$CYRUS_DEB_DIR" 2>/dev/null || true
    ( cd "$CYRUS_DEB_DIR" && apt-get download "cyrus-imapd=$v" >&2 ) \
        || { apt-get update >&2; ( cd "$CYRUS_DEB_DIR" && apt-get download "cyrus-imapd=$v" >&2 ); }
    cyrus_deb >/dev/null || die "could not download cyrus-imapd=$v"
}

pkgs_installed() {
    local p st
    for p in $PKGS; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || return 1
        [ "$st" = installed ] || return 1
    done
}

cmd_install() {
    [ "$(id -u)" = 0 ] || die "install must run as root"
    if pkgs_installed && id -u "$MAIL_USER_DEFAULT" >/dev/null 2>&1 && cyrus_deb >/dev/null; then
        log "already installed"
        return 0
    fi
    if ! pkgs_installed; then
        local created_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\n# created by onit mailstack.sh install\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            created_policy=1
        fi
        # shellcheck disable=SC2064
        trap "[ $created_policy = 1 ] && rm -f /usr/sbin/policy-rc.d" EXIT
        printf '%s\n' \
            'postfix postfix/main_mailer_type select No configuration' \
            'postfix postfix/mailname string mail.jac.example' \
            | debconf-set-selections
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y --no-install-recommends $PKGS >&2; then
            log "apt-get install failed; running apt-get update and retrying"
            apt-get update >&2
            apt-get install -y --no-install-recommends $PKGS >&2
        fi
        if [ $created_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
        trap - EXIT
    fi
    if ! id -u "$MAIL_USER_DEFAULT" >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$MAIL_USER_DEFAULT"
    fi
    fetch_cyrus_deb
    log "installed: $(dovecot --version 2>/dev/null | head -1) / postfix $(postconf -dh mail_version 2>/dev/null)"
}

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
need_bins() {
    command -v dovecot >/dev/null && [ -x /usr/sbin/postfix ] && command -v openssl >/dev/null \
        || die "dovecot/postfix/openssl missing: run '$0 install' first (as root)"
    [ "$(id -u)" = 0 ] || die "must run as root (dovecot/postfix masters need it)"
}

set_paths() {
    [ -n "${1:-}" ] || die "missing DIR argument"
    case "$1" in *[[:space:]]*) die "DIR must not contain whitespace";; esac
    D=$(realpath -m -- "$1")
    ENV_FILE=$D/env
    LOCK_FILE=$D/.mailstack.lock
    TLS=$D/tls
    LOGDIR=$D/log
    DOVECOT_CONF=$D/dovecot.conf
    OAUTH2_CONF=$D/dovecot-oauth2.conf.ext
    POSTFIX_DIR=$D/postfix
    PF_DATA=$D/postfix-data
    DV_STATE=$D/dovecot-state
    HOMES=$D/home
    local h
    h=$(printf '%s' "$D" | md5sum | cut -c1-8)
    DV_INSTANCE=onit-ms-$h
    # Unix socket paths are limited to 107 bytes.  Dovecot's longest socket
    # below base_dir is 25 bytes (and Dovecot resolves symlinks in base_dir);
    # Postfix's postlog socket is the absolute path
    # $queue_directory/public/postlog (its other sockets are relative).  For
    # long DIRs both directories live in a short real directory
    # /tmp/onit-ms-HASH instead (DIR/short-root points there; `stop` removes it).
    if [ ${#D} -le 64 ]; then SHORT=; R=$D; else SHORT=/tmp/onit-ms-$h; R=$SHORT; fi
    DV_BASE=$R/dovecot-run
    PF_QUEUE=$R/postfix-queue
    # Cyrus: its unix sockets live in the config directory, so under R too.
    CY_DIR=$R/cyrus
    CY_CONF=$D/cyrus/imapd.conf
    CY_MASTER_CONF=$D/cyrus/cyrus.conf
    DKIM_DIR=$D/dkim
}

ensure_short_root() {
    [ -n "$SHORT" ] || return 0
    if [ -L "$SHORT" ] || { [ -e "$SHORT" ] && [ "$(cat "$SHORT/.owner" 2>/dev/null)" != "$D" ]; }; then
        rm -rf "$SHORT"
    fi
    mkdir -p "$SHORT"
    chmod 755 "$SHORT"
    printf '%s\n' "$D" >"$SHORT/.owner"
    ln -sfn "$SHORT" "$D/short-root"
}

remove_short_root() {
    if [ -n "$SHORT" ] && [ -d "$SHORT" ] && [ ! -L "$SHORT" ] \
        && [ "$(cat "$SHORT/.owner" 2>/dev/null)" = "$D" ]; then
        rm -rf "$SHORT"
        rm -f "$D/short-root"
    fi
    return 0
}

take_lock() {
    exec 9>"$LOCK_FILE"
    flock -w 120 9 || die "could not lock $LOCK_FILE"
}

# A digest of this script: a running stack is reused only by the same version.
script_version() {
    sha256sum "${BASH_SOURCE[0]}" | cut -c1-16
}

load_env() {
    [ -f "$ENV_FILE" ] || return 1
    IMAP_SERVER=dovecot
    STACK_VERSION=
    DKIM=0
    local k v
    while IFS='=' read -r k v; do
        case "$k" in
            IMAP_PORT|IMAPS_PORT|SMTP_PORT|SMTPS_PORT|LMTP_PORT|AUTH_PORT|PASSWORD|IMAP_SERVER|STACK_VERSION) printf -v "$k" '%s' "$v";;
            DKIM|DKIM_SELECTOR|DKIM_DNS_PORT|DKIM_VERIFY_MILTER_PORT|DKIM_SIGN_MILTER_PORT|DKIM_SIGNING_SMTP_PORT) printf -v "$k" '%s' "$v";;
        esac
    done <"$ENV_FILE"
    [ -n "${IMAP_PORT:-}" ] && [ -n "${SMTP_PORT:-}" ] && [ -n "${LMTP_PORT:-}" ] \
        && [ -n "${AUTH_PORT:-}" ] && [ -n "${PASSWORD:-}" ]
}

# free_ports N -> N distinct free TCP ports on 127.0.0.1, one per line
free_ports() {
    local n=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$n" <<'EOF' && return 0
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
    s.close()
EOF
    fi
    # fallback: random ports below the ephemeral range that refuse connections
    local got=() p
    while [ ${#got[@]} -lt "$n" ]; do
        p=$((20000 + RANDOM % 12000))
        case " ${got[*]-} " in *" $p "*) continue;; esac
        if ! port_open "$p"; then got+=("$p"); fi
    done
    printf '%s\n' "${got[@]}"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT
port_open() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# banner_ok PORT PREFIX: the server greets with a line starting with PREFIX
banner_ok() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        case "$line" in
            "$2"*) case "$2" in 220*) printf "QUIT\r\n" >&3;; *) printf "x LOGOUT\r\n" >&3;; esac
                   exit 0;;
        esac
        exit 1' _ "$1" "$2" 2>/dev/null
}

# wait_until SECONDS DESCRIPTION COMMAND...
wait_until() {
    local secs=$1 what=$2; shift 2
    local deadline=$((SECONDS + secs))
    while ! "$@"; do
        if [ $SECONDS -ge $deadline ]; then
            log "timed out after ${secs}s waiting for: $what"
            return 1
        fi
        sleep 0.05
    done
}

pid_alive() {   # pid_alive PID NAME-SUBSTRING
    [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

dovecot_pid() { cat "$DV_BASE/master.pid" 2>/dev/null || true; }
postfix_pid() { sed -n 's/^ *\([0-9][0-9]*\).*/\1/p' "$PF_QUEUE/pid/master.pid" 2>/dev/null || true; }

# Processes of this dovecot instance (titles are "dovecot-<instance_name>/<service>")
dovecot_procs() { pgrep -f "^dovecot-$DV_INSTANCE/" 2>/dev/null || true; }
# Processes of this postfix instance: every postfix daemon has the queue
# directory as its working directory.
postfix_procs() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/cwd" 2>/dev/null)" = "$PF_QUEUE" ] && echo "${p#/proc/}"
    done
    return 0
}

tail_log() { [ -f "$1" ] && { log "---- last lines of $1"; tail -n 20 "$1" >&2; } || true; }

# --------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------
gen_tls() {
    mkdir -p "$TLS"
    chmod 755 "$TLS"
    local c=$TLS/openssl.cnf
    cat >"$c" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
    (
        cd "$TLS"
        umask 077
        openssl req -config openssl.cnf -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
            -subj "/O=onit tests/CN=onit mailstack test CA" -extensions v3_ca \
            -keyout ca.key -out ca.pem
        openssl req -config openssl.cnf -new -newkey rsa:2048 -nodes -sha256 \
            -subj "/O=onit tests/CN=localhost" -keyout server.key -out server.csr
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
            -days 825 -sha256 -extfile openssl.cnf -extensions v3_server -out server.pem
        rm -f server.csr
        chmod 644 ca.pem server.pem
        chmod 600 ca.key server.key
    ) >/dev/null 2>"$LOGDIR/openssl.log" || { tail_log "$LOGDIR/openssl.log"; die "certificate generation failed"; }
}

mail_user() {
    if [ -n "${MAILSTACK_MAIL_USER:-}" ]; then echo "$MAILSTACK_MAIL_USER"
    elif id -u "$MAIL_USER_DEFAULT" >/dev/null 2>&1; then echo "$MAIL_USER_DEFAULT"
    else echo mail   # exists on every Debian (uid 8)
    fi
}

write_dovecot_conf() {
    local mu uid gid
    mu=$(mail_user)
    uid=$(id -u "$mu"); gid=$(id -g "$mu")
    [ "$uid" != 0 ] || die "mail user must not be root"
    mkdir -p "$DV_STATE" "$HOMES"
    chown "$uid:$gid" "$HOMES"
    chmod 755 "$HOMES"
    if ! runuser -u "$mu" -- test -w "$HOMES"; then
        die "user $mu cannot reach $HOMES: a parent directory of $D is not searchable; chmod 755 it or use another DIR"
    fi
    cat >"$DOVECOT_CONF.tmp" <<EOF
# generated by tests/mailstack/mailstack.sh -- self-contained, no includes
instance_name = $DV_INSTANCE
base_dir = $DV_BASE
state_dir = $DV_STATE
log_path = $LOGDIR/dovecot.log
info_log_path = $LOGDIR/dovecot.log
debug_log_path = $LOGDIR/dovecot.log
protocols = imap lmtp
hostname = mail.jac.example
listen = 127.0.0.1
shutdown_clients = yes
default_process_limit = 500
default_client_limit = 4000

ssl = yes
ssl_cert = <$TLS/server.pem
ssl_key = <$TLS/server.key

disable_plaintext_auth = no
auth_mechanisms = plain login${OAUTH_URL:+ xoauth2 oauthbearer}
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
postmaster_address = postmaster@jac.example

first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
last_valid_gid = $gid
mail_location = maildir:~/Maildir
mail_fsync = never
# user+detail@ and user~detail@ are delivered to user (tests send from
# client+N@ to one mailbox); user~Sent@ is filed into Sent by the Sieve rule in
# write_responders (the sender_bcc_maps copy below), every other detail to INBOX
recipient_delimiter = +~

$(oauth_passdb)
$(sieve_conf)
# every user name logs in with the one password
passdb {
  driver = static
  args = password=$PASSWORD
${OAUTH_URL:+  mechanisms = plain login
}}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$HOMES/%d/%n allow_all_users=yes
}

namespace inbox {
  inbox = yes
  mailbox Sent {
    auto = create
    special_use = \Sent
  }
  mailbox Archive {
    auto = create
    special_use = \Archive
  }
}

protocol imap {
  mail_max_userip_connections = 100
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
service auth {
  # Postfix SASL (smtpd_sasl_type = dovecot) connects here
  inet_listener auth-client {
    address = 127.0.0.1
    port = $AUTH_PORT
  }
}
EOF
    mv "$DOVECOT_CONF.tmp" "$DOVECOT_CONF"
}

# --------------------------------------------------------------------------
# Auto-responders on client mailboxes (Pigeonhole Sieve, run by LMTP), chosen
# by the recipient's local part so tests can use fresh addresses:
#   ooo-X@   Pigeonhole's `vacation` answers (RFC 3834 headers, In-Reply-To).
#            Pigeonhole rightly never answers mail marked Auto-Submitted or
#            X-Auto-Response-Suppress, as onit's acknowledgment is, and
#            editheader may not remove them; the responders that do answer sit
#            behind gateways that drop them. So a copy without them goes to
#            away-X@, whose vacation
#            answers the original envelope sender, From ooo-X@.
#   robot-X@ a reply by a small script with no RFC 3834 header at all and no
#            In-Reply-To: only "Re: <subject>".
# Replies go back through Postfix (submission_host, or the script's SMTP).
# --------------------------------------------------------------------------
sieve_conf() {
    cat <<EOF
submission_host = 127.0.0.1:$SMTP_PORT
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_before = $D/sieve/responders.sieve
  sieve_plugins = sieve_extprograms
  sieve_extensions = +vacation-seconds
  sieve_global_extensions = +vnd.dovecot.pipe
  sieve_pipe_bin_dir = $D/sieve/bin
  sieve_vacation_min_period = 0
  sieve_vacation_dont_check_recipient = yes
  # The robot's reply is a bash script talking SMTP; Pigeonhole kills a piped
  # program after 10 s by default, which a loaded test machine can exceed
  # (and then the reply is never sent, and a test waits for it in vain).
  sieve_pipe_exec_timeout = 60s
}
EOF
}

write_responders() {
    local mu uid gid
    mu=$(mail_user)
    uid=$(id -u "$mu"); gid=$(id -g "$mu")
    mkdir -p "$D/sieve/bin"
    cat >"$D/sieve/responders.sieve" <<'EOF'
require ["envelope", "variables", "vacation", "vacation-seconds", "copy", "vnd.dovecot.pipe", "subaddress", "fileinto", "mailbox"];
# The server's own copy of what a sentcopy-* sender submits (sender_bcc_maps).
if envelope :detail "to" "Sent" {
  fileinto :create "Sent";
  stop;
}
if envelope :matches "to" "*" { set "me" "${1}"; }
if envelope :matches "from" "*" { set "sender" "${1}"; }
if header :matches "subject" "*" { set "subject" "${1}"; }
if allof (envelope :localpart :matches "to" "ooo-*", not string :is "${sender}" "") {
  pipe :copy "responder" ["forward", "${me}", "${sender}"];
}
if header :matches "X-Away-For" "*" {
  vacation :seconds 0 :from "${1}" :subject "Out of office"
    "I am out of the office until Monday with limited access to email.";
}
if allof (envelope :localpart :matches "to" "robot-*", not string :is "${sender}" "") {
  pipe :copy "responder" ["robot", "${me}", "${sender}", "${subject}"];
}
EOF
    cat >"$D/sieve/bin/responder" <<EOF
#!/bin/bash
# responder forward ME SENDER: the message, minus the no-reply headers, to away-…@ (envelope from SENDER)
# responder robot ME SENDER SUBJECT: a reply with no RFC 3834 header and no In-Reply-To
mode=\$1 me=\$2 sender=\$3 subject=\${4:-}
smtp() {   # smtp FROM TO < message (LF lines)
    exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT
    say() { printf '%s\r\n' "\$1" >&3; IFS= read -r _ <&3; }
    IFS= read -r _ <&3
    say "HELO responder.client.example"; say "MAIL FROM:<\$1>"; say "RCPT TO:<\$2>"; say "DATA"
    sed -e 's/\r\$//' -e 's/^\./../' -e 's/\$/\r/' >&3
    say "."; say "QUIT"
}
case \$mode in
forward)
    { printf 'X-Away-For: %s\n' "\$me"; sed -E '/^\r?\$/,\$!{/^(Auto-Submitted|X-Auto-Response-Suppress):/Id}'; } \
        | smtp "\$sender" "away-\${me#ooo-}" ;;
robot)
    cat >/dev/null
    printf '%s\n' "From: <\$me>" "To: <\$sender>" "Subject: Re: \$subject" \
        "Message-ID: <robot-\$(date +%s%N)-\$RANDOM@client.example>" "Date: \$(date -R)" "" \
        "Thank you for your message. We will answer it within two working days." \
        | smtp "\$me" "\$sender" ;;
esac
EOF
    chmod 755 "$D/sieve/bin/responder"
    chown -R "$uid:$gid" "$D/sieve"
}

# With an introspection URL: an oauth2 passdb for XOAUTH2/OAUTHBEARER that
# POSTs each bearer token (token=...) to the URL and accepts it when the JSON
# answer has "active": true and "username" equal to the user signing in.
# Prints nothing otherwise, so the default stack is unchanged.
oauth_passdb() {
    [ -n "${OAUTH_URL:-}" ] || return 0
    cat >"$OAUTH2_CONF" <<EOC
introspection_mode = post
introspection_url = $OAUTH_URL
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
EOC
    cat <<EOC
# bearer tokens (XOAUTH2, OAUTHBEARER) are checked by the introspection URL only
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $OAUTH2_CONF
}
EOC
}

write_postfix_conf() {
    mkdir -p "$POSTFIX_DIR" "$PF_QUEUE" "$PF_DATA"
    chown root:root "$POSTFIX_DIR" "$PF_QUEUE"
    chown postfix:postfix "$PF_DATA"
    chmod 755 "$POSTFIX_DIR" "$PF_QUEUE"
    chmod 700 "$PF_DATA"
    if ! runuser -u postfix -- test -w "$PF_DATA"; then
        die "user postfix cannot reach $PF_DATA: a parent directory of $D is not searchable (mktemp -d makes 0700 dirs); chmod 755 it or use another DIR"
    fi
    cat >"$POSTFIX_DIR/main.cf" <<EOF
# generated by tests/mailstack/mailstack.sh
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
meta_directory = /etc/postfix
maillog_file = $LOGDIR/postfix.log
maillog_file_prefixes = $LOGDIR
myhostname = mail.jac.example
mydomain = jac.example
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtputf8_enable = no
biff = no
append_dot_mydomain = no
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:local delivery is disabled
relayhost =
default_transport = error:relaying is disabled in the onit test mail stack
relay_transport = error:relaying is disabled in the onit test mail stack

# every address at these domains goes to the IMAP server over LMTP
virtual_mailbox_domains = $DOMAINS
virtual_mailbox_maps =
virtual_alias_maps =
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
lmtp_connection_cache_on_demand = no
smtpd_reject_unlisted_recipient = no
smtpd_relay_restrictions = permit_auth_destination, reject
smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0
smtpd_client_connection_count_limit = 0
in_flow_delay = 0
default_process_limit = 200

# SASL through Dovecot's auth inet listener (none with Cyrus)
smtpd_sasl_auth_enable = $([ "$IMAP_SERVER" = cyrus ] && echo no || echo yes)
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:$AUTH_PORT
smtpd_tls_auth_only = no

# The server files its own copy of what a sender submits, as Gmail and
# Microsoft 365 do: mail from sentcopy-*@jac.example is also delivered to that
# mailbox's Sent folder. Only for those senders, so the other tests' Sent
# folders hold only what they put there.
sender_bcc_maps = regexp:$POSTFIX_DIR/sender_bcc

# STARTTLS (optional) on smtpd
smtpd_tls_security_level = may
smtpd_tls_cert_file = $TLS/server.pem
smtpd_tls_key_file = $TLS/server.key
smtpd_tls_loglevel = 0
smtpd_tls_received_header = yes

# quick retries for outage tests
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
transport_retry_time = 1s
EOF
    cat >"$POSTFIX_DIR/master.cf" <<EOF
# generated by tests/mailstack/mailstack.sh -- no chroot anywhere
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    cat >"$POSTFIX_DIR/sender_bcc" <<'EOF'
/^(sentcopy-[a-z0-9-]+)@jac\.example$/ ${1}~Sent@jac.example
EOF
    if dkim_on; then write_dkim_postfix_conf; fi
    chmod 644 "$POSTFIX_DIR/main.cf" "$POSTFIX_DIR/master.cf" "$POSTFIX_DIR/sender_bcc"
}

# --------------------------------------------------------------------------
# DKIM layer (MAILSTACK_DKIM=1 at `start`; the other stacks have none of it)
#
#   engineer ──SMTP──▶ DKIM_SIGNING_SMTP_PORT   smtpd "mta.jac.example", the
#                      (the engineer's MTA)     team's outgoing MTA: OpenDKIM
#                                               #1 (Mode s) signs From: @jac.example
#                                               (d=jac.example, s=DKIM_SELECTOR),
#                                               then content_filter relays it by
#                                               SMTP to SMTP_PORT
#   anyone   ──SMTP──▶ SMTP_PORT (and SMTPS)    our receiving server: OpenDKIM
#                                               #2 (Mode v) verifies and adds
#                                               "Authentication-Results:
#                                               DKIM_AUTHSERV_ID; dkim=…" to
#                                               every message, then LMTP as usual
#
# OpenDKIM #2 looks the key up at DKIM_SELECTOR._domainkey.jac.example TXT,
# served by dnsmasq on 127.0.0.1:DKIM_DNS_PORT (UDP+TCP). OpenDKIM resolves
# with libunbound: its ResolverConfiguration (DIR/dkim/unbound.conf) forwards
# "." to 127.0.0.1@DKIM_DNS_PORT with do-not-query-localhost off (unbound
# ignores localhost forwarders otherwise; `Nameservers` takes no port). The
# key pair is made by opendkim-genkey at each start (DKIM_KEY: its private
# half, for tests that sign by themselves). OpenDKIM #2 removes
# Authentication-Results with a DKIM result that claim its own authserv-id
# (look-alikes written by a sender, RFC 8601 section 5; its default), and a
# milter that does not answer makes Postfix tempfail (milter_default_action),
# so no mail gets in unverified. Logs: DIR/log/dnsmasq.log; OpenDKIM logs to
# syslog only (none here): its verdict is in the header.
# --------------------------------------------------------------------------
DKIM_AUTHSERV_ID=mx.onit.test
DKIM_DOMAIN=jac.example
DKIM_SIGNER_HOST=mta.jac.example

dkim_on() { [ "${DKIM:-0}" = 1 ]; }

write_dkim_conf() {
    id -u opendkim >/dev/null 2>&1 && command -v opendkim-genkey >/dev/null && [ -x /usr/sbin/dnsmasq ] \
        || die "opendkim/dnsmasq missing: run '$0 install' first (as root)"
    rm -rf "$DKIM_DIR"
    mkdir -p "$DKIM_DIR/keys" "$DKIM_DIR/run"
    chmod 755 "$DKIM_DIR"
    opendkim-genkey -b 2048 -h sha256 -d "$DKIM_DOMAIN" -s "$DKIM_SELECTOR" -D "$DKIM_DIR/keys" \
        >>"$LOGDIR/opendkim-genkey.log" 2>&1 || { tail_log "$LOGDIR/opendkim-genkey.log"; die "opendkim-genkey failed"; }
    chown -R opendkim:opendkim "$DKIM_DIR/keys" "$DKIM_DIR/run"
    chmod 700 "$DKIM_DIR/keys"
    chmod 600 "$DKIM_DIR/keys/$DKIM_SELECTOR.private"
    # The TXT record's text: the quoted strings of genkey's zone line, joined.
    local txt
    txt=$(grep -o '"[^"]*"' "$DKIM_DIR/keys/$DKIM_SELECTOR.txt" | tr -d '"\n')
    case "$txt" in "v=DKIM1;"*"p="?*) ;; *) die "unexpected opendkim-genkey record: $txt";; esac
    # dnsmasq: one argument per line (DIR/dkim/dnsmasq.args). A TXT string is
    # at most 255 bytes: a 2048-bit key is split into strings of 250.
    local chunks=() i
    for ((i = 0; i < ${#txt}; i += 250)); do chunks+=("${txt:i:250}"); done
    {
        printf '%s\n' --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
            --bind-interfaces --listen-address=127.0.0.1 "--port=$DKIM_DNS_PORT" \
            "--pid-file=$DKIM_DIR/run/dnsmasq.pid" --user=dnsmasq --group=nogroup \
            "--log-facility=$LOGDIR/dnsmasq.log" --log-queries
        local IFS=,
        printf '%s\n' "--txt-record=$DKIM_SELECTOR._domainkey.$DKIM_DOMAIN,${chunks[*]}"
    } >"$DKIM_DIR/dnsmasq.args"
    cat >"$DKIM_DIR/unbound.conf" <<EOF
# libunbound configuration of the verifying OpenDKIM (ResolverConfiguration)
server:
    do-not-query-localhost: no
    module-config: "iterator"
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$DKIM_DNS_PORT
EOF
    cat >"$DKIM_DIR/verify.conf" <<EOF
# generated by tests/mailstack/mailstack.sh: our receiving server's verifier
Mode v
Socket inet:$DKIM_VERIFY_MILTER_PORT@127.0.0.1
PidFile $DKIM_DIR/run/verify.pid
UserID opendkim:opendkim
Background yes
Syslog no
AuthservID $DKIM_AUTHSERV_ID
AlwaysAddARHeader yes
ResolverConfiguration $DKIM_DIR/unbound.conf
# loopback is where every test sender comes from: not "internal" here
InternalHosts 192.0.2.1
On-BadSignature accept
On-NoSignature accept
On-DNSError tempfail
EOF
    cat >"$DKIM_DIR/sign.conf" <<EOF
# generated by tests/mailstack/mailstack.sh: the engineer's MTA's signer
Mode s
Socket inet:$DKIM_SIGN_MILTER_PORT@127.0.0.1
PidFile $DKIM_DIR/run/sign.pid
UserID opendkim:opendkim
Background yes
Syslog no
Domain $DKIM_DOMAIN
Selector $DKIM_SELECTOR
KeyFile $DKIM_DIR/keys/$DKIM_SELECTOR.private
InternalHosts 127.0.0.1
Canonicalization relaxed/relaxed
# a From: added after signing breaks the signature
OversignHeaders From
# the key lies below /tmp (world-writable): OpenDKIM would refuse it
RequireSafeKeys no
EOF
    chmod 644 "$DKIM_DIR/dnsmasq.args" "$DKIM_DIR/unbound.conf" "$DKIM_DIR/verify.conf" "$DKIM_DIR/sign.conf"
}

write_dkim_postfix_conf() {
    cat >>"$POSTFIX_DIR/main.cf" <<EOF

# DKIM layer: every smtpd verifies (OpenDKIM, Mode v) except the signing one
smtpd_milters = inet:127.0.0.1:$DKIM_VERIFY_MILTER_PORT
non_smtpd_milters =
milter_protocol = 6
milter_default_action = tempfail
EOF
    cat >>"$POSTFIX_DIR/master.cf" <<EOF
# DKIM layer: the engineer's MTA, signing, then relaying to the SMTP port
127.0.0.1:$DKIM_SIGNING_SMTP_PORT inet n - n - - smtpd
  -o myhostname=$DKIM_SIGNER_HOST
  -o smtpd_milters=inet:127.0.0.1:$DKIM_SIGN_MILTER_PORT
  -o content_filter=dkimrelay:[127.0.0.1]:$SMTP_PORT
dkimrelay unix  -       -       n       -       -       smtp
  -o myhostname=$DKIM_SIGNER_HOST
EOF
}

dnsmasq_pid() { cat "$DKIM_DIR/run/dnsmasq.pid" 2>/dev/null || true; }
# Processes of this stack's DKIM layer, by the config paths on their command lines
dkim_procs() {
    pgrep -f -- "^opendkim -x $DKIM_DIR/" 2>/dev/null || true
    pgrep -f -- "^/usr/sbin/dnsmasq --conf-file=/dev/null .*--pid-file=$DKIM_DIR/run/" 2>/dev/null || true
}
no_dkim_procs() { [ -z "$(dkim_procs)" ]; }
dkim_up() {
    port_open "$DKIM_VERIFY_MILTER_PORT" && port_open "$DKIM_SIGN_MILTER_PORT" && port_open "$DKIM_DNS_PORT"
}
dkim_down() {
    no_dkim_procs && ! port_open "$DKIM_VERIFY_MILTER_PORT" && ! port_open "$DKIM_SIGN_MILTER_PORT" \
        && ! port_open "$DKIM_DNS_PORT"
}

start_dkim() {
    if dkim_up && [ -n "$(dkim_procs)" ]; then return 0; fi
    ports_free_or_die "$DKIM_VERIFY_MILTER_PORT" "$DKIM_SIGN_MILTER_PORT" "$DKIM_DNS_PORT"
    local args
    mapfile -t args <"$DKIM_DIR/dnsmasq.args"
    # dnsmasq reports its start-up errors before it goes to the background
    /usr/sbin/dnsmasq "${args[@]}" </dev/null >>"$LOGDIR/dnsmasq.stderr" 2>&1 9>&- \
        || { tail_log "$LOGDIR/dnsmasq.stderr"; die "dnsmasq failed to start"; }
    local c
    for c in verify sign; do
        opendkim -x "$DKIM_DIR/$c.conf" </dev/null >>"$LOGDIR/opendkim-$c.stderr" 2>&1 9>&- \
            || { tail_log "$LOGDIR/opendkim-$c.stderr"; die "opendkim ($c) failed to start"; }
    done
    if ! wait_until "$START_TIMEOUT" "opendkim on 127.0.0.1:$DKIM_VERIFY_MILTER_PORT/$DKIM_SIGN_MILTER_PORT, dnsmasq on $DKIM_DNS_PORT" dkim_up; then
        tail_log "$LOGDIR/dnsmasq.stderr"; tail_log "$LOGDIR/dnsmasq.log"
        tail_log "$LOGDIR/opendkim-verify.stderr"; tail_log "$LOGDIR/opendkim-sign.stderr"
        die "the DKIM layer did not come up"
    fi
}

# OpenDKIM (libmilter) needs 5 s to exit after SIGTERM: `stop` sends it first
# (term_dkim), stops Postfix and the IMAP server meanwhile, then waits here.
term_dkim() {
    local procs
    procs=$(dkim_procs)
    # shellcheck disable=SC2086
    [ -z "$procs" ] || kill -TERM $procs 2>/dev/null || true
}
stop_dkim() {
    term_dkim
    if ! wait_until 8 "the DKIM layer to exit" no_dkim_procs; then
        local procs
        procs=$(dkim_procs)
        # shellcheck disable=SC2086
        [ -z "$procs" ] || kill -KILL $procs 2>/dev/null || true
    fi
    wait_until "$STOP_TIMEOUT" "the DKIM layer to stop" dkim_down || die "the DKIM layer would not stop"
}

# --------------------------------------------------------------------------
# service control (caller holds the lock and has loaded ports)
# --------------------------------------------------------------------------
dovecot_up() {
    banner_ok "$IMAP_PORT" "* OK" && banner_ok "$LMTP_PORT" "220" \
        && port_open "$IMAPS_PORT" && port_open "$AUTH_PORT"
}
postfix_up() {
    banner_ok "$SMTP_PORT" "220" && port_open "$SMTPS_PORT"
}
dovecot_master_down() {
    ! pid_alive "$(dovecot_pid)" dovecot \
        && ! port_open "$IMAP_PORT" && ! port_open "$IMAPS_PORT" \
        && ! port_open "$LMTP_PORT" && ! port_open "$AUTH_PORT"
}
postfix_master_down() {
    ! pid_alive "$(postfix_pid)" master \
        && ! port_open "$SMTP_PORT" && ! port_open "$SMTPS_PORT"
}
no_dovecot_procs() { [ -z "$(dovecot_procs)" ]; }
no_postfix_procs() { [ -z "$(postfix_procs)" ]; }

ports_free_or_die() {
    local p
    for p in "$@"; do
        ! port_open "$p" || die "port 127.0.0.1:$p is already in use by another process"
    done
}

start_dovecot() {
    if pid_alive "$(dovecot_pid)" dovecot && dovecot_up; then return 0; fi
    ports_free_or_die "$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT" "$AUTH_PORT"
    mkdir -p "$LOGDIR"
    # Dovecot keeps the caller's stderr open: never let it see ours.
    if ! dovecot -c "$DOVECOT_CONF" </dev/null >>"$LOGDIR/dovecot.stderr" 2>&1 9>&-; then
        tail_log "$LOGDIR/dovecot.stderr"; tail_log "$LOGDIR/dovecot.log"
        die "dovecot failed to start"
    fi
    if ! wait_until "$START_TIMEOUT" "dovecot on 127.0.0.1:$IMAP_PORT/$IMAPS_PORT/$LMTP_PORT/$AUTH_PORT" dovecot_up; then
        tail_log "$LOGDIR/dovecot.stderr"; tail_log "$LOGDIR/dovecot.log"
        die "dovecot did not come up"
    fi
}

stop_dovecot() {
    # `dovecot -c CONF stop` only sends SIGTERM to the master and then polls
    # for about 2 s; signalling the master ourselves and polling every 50 ms
    # is quicker (the master itself needs ~1 s).
    local pid
    pid=$(dovecot_pid)
    if pid_alive "$pid" dovecot; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    if ! wait_until "$STOP_TIMEOUT" "dovecot master to exit and its ports to close" dovecot_master_down; then
        log "leftover dovecot: master=$(dovecot_pid) procs=[$(dovecot_procs | tr '\n' ' ')]"
        ss -ltnp 2>/dev/null | grep -E ":($IMAP_PORT|$IMAPS_PORT|$LMTP_PORT|$AUTH_PORT) " >&2 || true
        pid=$(dovecot_pid)
        pid_alive "$pid" dovecot && kill -KILL "$pid" 2>/dev/null || true
    fi
    # auth/anvil/log/stats outlive the master as long as a client (Postfix
    # smtpd's SASL connection) is still connected: end them too.
    kill_leftovers dovecot_procs
    wait_until 5 "dovecot to die" dovecot_master_down || die "dovecot would not stop"
}

# kill_leftovers LISTFN: TERM, then KILL, processes printed by LISTFN
kill_leftovers() {
    local fn=$1 procs
    procs=$($fn)
    [ -n "$procs" ] || return 0
    # shellcheck disable=SC2086
    kill -TERM $procs 2>/dev/null || true
    if ! wait_until 3 "leftover processes ($fn) to exit" "no_${fn%_procs}_procs"; then
        procs=$($fn)
        # shellcheck disable=SC2086
        [ -z "$procs" ] || kill -KILL $procs 2>/dev/null || true
        wait_until 2 "leftover processes ($fn) to die" "no_${fn%_procs}_procs" || true
    fi
}

start_postfix() {
    if pid_alive "$(postfix_pid)" master && postfix_up; then return 0; fi
    ports_free_or_die "$SMTP_PORT" "$SMTPS_PORT"
    mkdir -p "$LOGDIR"
    if ! /usr/sbin/postfix -c "$POSTFIX_DIR" start </dev/null >>"$LOGDIR/postfix.stderr" 2>&1 9>&-; then
        tail_log "$LOGDIR/postfix.stderr"; tail_log "$LOGDIR/postfix.log"
        die "postfix failed to start"
    fi
    if ! wait_until "$START_TIMEOUT" "postfix on 127.0.0.1:$SMTP_PORT/$SMTPS_PORT" postfix_up; then
        tail_log "$LOGDIR/postfix.stderr"; tail_log "$LOGDIR/postfix.log"
        die "postfix did not come up"
    fi
}

stop_postfix() {
    local pid
    pid=$(postfix_pid)
    if pid_alive "$pid" master; then
        /usr/sbin/postfix -c "$POSTFIX_DIR" stop </dev/null >>"$LOGDIR/postfix.stderr" 2>&1 9>&- \
            || kill -TERM "$pid" 2>/dev/null || true
    fi
    if ! wait_until "$STOP_TIMEOUT" "postfix master to exit and its ports to close" postfix_master_down; then
        log "leftover postfix: master=$(postfix_pid) procs=[$(postfix_procs | tr '\n' ' ')]"
        ss -ltnp 2>/dev/null | grep -E ":($SMTP_PORT|$SMTPS_PORT) " >&2 || true
        pid=$(postfix_pid)
        pid_alive "$pid" master && kill -KILL "$pid" 2>/dev/null || true
    fi
    kill_leftovers postfix_procs
    wait_until 5 "postfix to die" postfix_master_down || die "postfix would not stop"
}


# --------------------------------------------------------------------------
# Cyrus IMAP (MAILSTACK_IMAP_SERVER=cyrus)
# --------------------------------------------------------------------------
write_cyrus_conf() {
    local deb
    deb=$(cyrus_deb) || die "cyrus-imapd .deb missing: run '$0 install' first (as root)"
    id -u cyrus >/dev/null 2>&1 || die "user cyrus missing: run '$0 install' first (as root)"
    rm -rf "$D/cyrus" "$CY_DIR"
    mkdir -p "$D/cyrus/pkg" "$CY_DIR/conf/socket" "$CY_DIR/spool"
    # imapd and idled come from the cyrus-imapd .deb, unpacked, never installed
    dpkg-deb -x "$deb" "$D/cyrus/pkg"
    install -o cyrus -g mail -m 600 "$TLS/server.key" "$D/cyrus/server.key"
    cat >"$CY_CONF" <<EOF
# generated by tests/mailstack/mailstack.sh
configdirectory: $CY_DIR/conf
partition-default: $CY_DIR/spool
admins: cyrus
# any user logs in, whatever the password (test stack only)
sasl_pwcheck_method: alwaystrue
sasl_mech_list: PLAIN LOGIN
allowplaintext: yes
virtdomains: userid
# Debian's Cyrus 3.6 is built without libuuid: mailbox uniqueids come from
# rand(), and two processes started in the same second create mailboxes with
# the same uniqueid.  With the default uuid-named storage such mailboxes share
# their files (mail to one user shows up in the other's INBOX); legacy
# name-based directories keep the messages apart.
mailbox_legacy_dirs: yes
# Duplicate delivery suppression is keyed by Message-ID and mailbox uniqueid,
# so it would also drop mail for a mailbox whose uniqueid collided; Dovecot
# delivers every copy, and so does this stack.
duplicatesuppression: 0
autocreate_quota: 0
autocreate_post: 1
autocreate_inbox_folders: Sent | Archive
autocreate_subscribe_folders: Sent | Archive
xlist-sent: Sent
xlist-archive: Archive
idlesocket: $CY_DIR/conf/socket/idle
lmtpsocket: $CY_DIR/conf/socket/lmtp
notifysocket: $CY_DIR/conf/socket/notify
tls_server_cert: $TLS/server.pem
tls_server_key: $D/cyrus/server.key
syslog_prefix: onit-cyrus-${DV_INSTANCE#onit-ms-}
EOF
    local bin=$D/cyrus/pkg/usr/lib/cyrus/bin
    cat >"$CY_MASTER_CONF" <<EOF
# generated by tests/mailstack/mailstack.sh
START {
  recover cmd="/usr/lib/cyrus/bin/ctl_cyrusdb -r -C $CY_CONF"
  idled cmd="$bin/idled -C $CY_CONF"
}
SERVICES {
  imap cmd="$bin/imapd -C $CY_CONF" listen="127.0.0.1:$IMAP_PORT" prefork=0
  imaps cmd="$bin/imapd -s -C $CY_CONF" listen="127.0.0.1:$IMAPS_PORT" prefork=0
  lmtp cmd="/usr/lib/cyrus/bin/lmtpd -a -C $CY_CONF" listen="127.0.0.1:$LMTP_PORT" prefork=0
}
EVENTS {
}
EOF
    chmod 644 "$CY_CONF" "$CY_MASTER_CONF"
    chown -R cyrus:mail "$CY_DIR"
    if ! runuser -u cyrus -- test -w "$CY_DIR/spool"; then
        die "user cyrus cannot reach $CY_DIR: a parent directory is not searchable; chmod 755 it or use another DIR"
    fi
}

cyrus_pid() { cat "$D/cyrus/master.pid" 2>/dev/null || true; }
# Processes of this Cyrus instance: every one is started with "-C $CY_CONF"
cyrus_procs() { pgrep -f -- "-C $CY_CONF" 2>/dev/null || true; }
no_cyrus_procs() { [ -z "$(cyrus_procs)" ]; }
cyrus_up() {
    banner_ok "$IMAP_PORT" "* OK" && banner_ok "$LMTP_PORT" "220" && port_open "$IMAPS_PORT"
}
cyrus_master_down() {
    ! pid_alive "$(cyrus_pid)" master \
        && ! port_open "$IMAP_PORT" && ! port_open "$IMAPS_PORT" && ! port_open "$LMTP_PORT"
}

start_cyrus() {
    if pid_alive "$(cyrus_pid)" master && cyrus_up; then return 0; fi
    ports_free_or_die "$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT"
    mkdir -p "$LOGDIR"
    # There is no syslog here; master's own stderr is all the log there is.
    /usr/lib/cyrus/bin/master -C "$CY_CONF" -M "$CY_MASTER_CONF" -p "$D/cyrus/master.pid" -d \
        </dev/null >>"$LOGDIR/cyrus.stderr" 2>&1 9>&- \
        || { tail_log "$LOGDIR/cyrus.stderr"; die "cyrus master failed to start"; }
    if ! wait_until "$START_TIMEOUT" "cyrus on 127.0.0.1:$IMAP_PORT/$IMAPS_PORT/$LMTP_PORT" cyrus_up; then
        tail_log "$LOGDIR/cyrus.stderr"
        die "cyrus did not come up"
    fi
}

stop_cyrus() {
    local pid
    pid=$(cyrus_pid)
    if pid_alive "$pid" master; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    if ! wait_until "$STOP_TIMEOUT" "cyrus master to exit and its ports to close" cyrus_master_down; then
        pid=$(cyrus_pid)
        pid_alive "$pid" master && kill -KILL "$pid" 2>/dev/null || true
    fi
    kill_leftovers cyrus_procs
    wait_until 5 "cyrus to die" cyrus_master_down || die "cyrus would not stop"
}

# The stack's IMAP server, whichever it is.
imap_up() { if [ "$IMAP_SERVER" = cyrus ]; then cyrus_up; else dovecot_up; fi; }
start_imap() { if [ "$IMAP_SERVER" = cyrus ]; then start_cyrus; else start_dovecot; fi; }
stop_imap() { if [ "$IMAP_SERVER" = cyrus ]; then stop_cyrus; else stop_dovecot; fi; }

print_env() {
    cat "$ENV_FILE"
}

# --------------------------------------------------------------------------
# subcommands
# --------------------------------------------------------------------------
cmd_start() {
    need_bins
    set_paths "$1"
    OAUTH_URL=${2:-${MAILSTACK_OAUTH_INTROSPECTION_URL:-}}
    case "$OAUTH_URL" in
        ""|http://*|https://*) ;;
        *) die "introspection URL must be http:// or https://: $OAUTH_URL";;
    esac
    case "$OAUTH_URL" in *[[:space:]]*) die "introspection URL must not contain whitespace";; esac
    # create DIR (and missing parents) world-traversable for the postfix user
    local p=$D missing=()
    while [ ! -d "$p" ]; do missing+=("$p"); p=$(dirname "$p"); done
    mkdir -p "$D"
    chmod 755 "$D"
    for p in "${missing[@]}"; do chmod 755 "$p"; done
    take_lock

    # Already running from an earlier call of this same script: just report it.
    # A stack started by another version of the script (other settings) is
    # restarted, so a test never runs against a configuration it does not expect.
    local want_dkim=${MAILSTACK_DKIM:-0}
    case "$want_dkim" in 0|1) ;; *) die "MAILSTACK_DKIM must be 0 or 1";; esac
    if load_env && [ "${STACK_VERSION:-}" = "$(script_version)" ] && [ "$DKIM" = "$want_dkim" ] \
        && imap_up && postfix_up && { ! dkim_on || dkim_up; }; then
        print_env
        return 0
    fi
    # Leftovers of an earlier (crashed / half-stopped) run in this DIR.
    if load_env; then
        stop_postfix || true
        stop_imap || true
        if dkim_on; then stop_dkim || true; fi
    fi
    DKIM=$want_dkim
    IMAP_SERVER=${MAILSTACK_IMAP_SERVER:-dovecot}
    case "$IMAP_SERVER" in dovecot|cyrus) ;; *) die "MAILSTACK_IMAP_SERVER must be dovecot or cyrus";; esac
    [ "$IMAP_SERVER" = dovecot ] || [ -z "$OAUTH_URL" ] || die "the OAuth introspection URL needs Dovecot"

    mkdir -p "$LOGDIR"
    chmod 755 "$LOGDIR"
    ensure_short_root
    local ports
    mapfile -t ports < <(free_ports 6)
    [ ${#ports[@]} -eq 6 ] || die "could not find free ports"
    IMAP_PORT=${ports[0]} IMAPS_PORT=${ports[1]} LMTP_PORT=${ports[2]}
    AUTH_PORT=${ports[3]} SMTP_PORT=${ports[4]} SMTPS_PORT=${ports[5]}
    if dkim_on; then
        mapfile -t ports < <(free_ports 10)
        [ ${#ports[@]} -eq 10 ] || die "could not find free ports"
        DKIM_DNS_PORT=${ports[6]} DKIM_VERIFY_MILTER_PORT=${ports[7]}
        DKIM_SIGN_MILTER_PORT=${ports[8]} DKIM_SIGNING_SMTP_PORT=${ports[9]}
        DKIM_SELECTOR=s$(openssl rand -hex 4)
    fi
    PASSWORD=${MAILSTACK_PASSWORD:-$(openssl rand -hex 12)}
    case "$PASSWORD" in *[!A-Za-z0-9._-]*) die "MAILSTACK_PASSWORD may only contain [A-Za-z0-9._-]";; esac

    gen_tls
    if [ "$IMAP_SERVER" = cyrus ]; then
        write_cyrus_conf
    else
        write_dovecot_conf
        write_responders
    fi
    if dkim_on; then write_dkim_conf; fi
    write_postfix_conf
    if ! /usr/sbin/postfix -c "$POSTFIX_DIR" check </dev/null >>"$LOGDIR/postfix.stderr" 2>&1 9>&-; then
        tail_log "$LOGDIR/postfix.stderr"; die "postfix check failed"
    fi
    if grep -q 'warning' "$LOGDIR/postfix.stderr" 2>/dev/null; then
        log "postfix check warnings:"; grep 'warning' "$LOGDIR/postfix.stderr" >&2 || true
    fi

    cat >"$ENV_FILE.tmp" <<EOF
MAILSTACK_DIR=$D
MAIL_HOST=127.0.0.1
IMAP_PORT=$IMAP_PORT
IMAPS_PORT=$IMAPS_PORT
SMTP_PORT=$SMTP_PORT
SMTPS_PORT=$SMTPS_PORT
LMTP_PORT=$LMTP_PORT
AUTH_PORT=$AUTH_PORT
CA_FILE=$TLS/ca.pem
PASSWORD=$PASSWORD
DOVECOT_CONF=$DOVECOT_CONF
POSTFIX_DIR=$POSTFIX_DIR
LOG_DIR=$LOGDIR
IMAP_SERVER=$IMAP_SERVER
STACK_VERSION=$(script_version)
EOF
    if [ -n "$OAUTH_URL" ]; then
        echo "OAUTH_INTROSPECTION_URL=$OAUTH_URL" >>"$ENV_FILE.tmp"
    fi
    if dkim_on; then
        cat >>"$ENV_FILE.tmp" <<EOF
DKIM=1
DKIM_AUTHSERV_ID=$DKIM_AUTHSERV_ID
DKIM_DOMAIN=$DKIM_DOMAIN
DKIM_SELECTOR=$DKIM_SELECTOR
DKIM_KEY=$DKIM_DIR/keys/$DKIM_SELECTOR.private
DKIM_SIGNING_SMTP_PORT=$DKIM_SIGNING_SMTP_PORT
DKIM_DNS_PORT=$DKIM_DNS_PORT
DKIM_VERIFY_MILTER_PORT=$DKIM_VERIFY_MILTER_PORT
DKIM_SIGN_MILTER_PORT=$DKIM_SIGN_MILTER_PORT
EOF
    fi
    mv "$ENV_FILE.tmp" "$ENV_FILE"

    trap 'log "start failed; stopping what was started"; stop_postfix || true; stop_imap || true
          if dkim_on; then stop_dkim || true; fi' EXIT
    if dkim_on; then start_dkim; fi
    start_imap
    start_postfix
    trap - EXIT
    print_env
}

with_existing() {   # set paths, lock, load env of a started DIR
    need_bins
    set_paths "$1"
    [ -d "$D" ] || die "$D does not exist"
    take_lock
    load_env || die "$ENV_FILE missing or incomplete: run '$PROG start $D' first"
    ensure_short_root
}

cmd_stop() {
    need_bins
    set_paths "$1"
    [ -f "$ENV_FILE" ] || { log "nothing to stop in $D"; return 0; }
    take_lock
    load_env || die "$ENV_FILE incomplete"
    local rc=0
    if dkim_on; then term_dkim; fi
    ( stop_postfix ) || rc=1
    ( stop_imap ) || rc=1
    if dkim_on; then ( stop_dkim ) || rc=1; fi
    remove_short_root
    return $rc
}

cmd_status() {
    set_paths "$1"
    load_env || { log "not started"; return 1; }
    local rc=0
    if imap_up; then log "$IMAP_SERVER: up"; else log "$IMAP_SERVER: DOWN"; rc=1; fi
    if postfix_up; then log "postfix: up"; else log "postfix: DOWN"; rc=1; fi
    if dkim_on; then
        if dkim_up; then log "dkim (opendkim, dnsmasq): up"; else log "dkim (opendkim, dnsmasq): DOWN"; rc=1; fi
    fi
    return $rc
}

usage() {
    sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

main() {
    local cmd=${1:-}; shift || true
    case "$cmd" in
        install)         cmd_install ;;
        start)           cmd_start "${1:-}" "${2:-}" ;;
        stop)            cmd_stop "${1:-}" ;;
        status)          cmd_status "${1:-}" ;;
        start-dovecot)   with_existing "${1:-}"; start_dovecot ;;
        stop-dovecot)    with_existing "${1:-}"; stop_dovecot ;;
        restart-dovecot) with_existing "${1:-}"; stop_dovecot; start_dovecot ;;
        start-postfix)   with_existing "${1:-}"; start_postfix ;;
        stop-postfix)    with_existing "${1:-}"; stop_postfix ;;
        restart-postfix) with_existing "${1:-}"; stop_postfix; start_postfix ;;
        start-imap)      with_existing "${1:-}"; start_imap ;;
        stop-imap)       with_existing "${1:-}"; stop_imap ;;
        restart-imap)    with_existing "${1:-}"; stop_imap; start_imap ;;
        -h|--help|help|"") usage ;;
        *) log "unknown subcommand: $cmd"; usage ;;
    esac
}

main "$@"
