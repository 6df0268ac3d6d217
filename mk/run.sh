#!/bin/sh
# run.sh - a private Postern instance in ./run, for `make run` and `make stop`.
#
#   sh mk/run.sh start   create run/ (config, queue, log), then start it,
#                        or reload it when it is already running
#   sh mk/run.sh stop    stop it
#
# The configuration in run/etc is created once from conf/ and then belongs
# to whoever edits it: later runs only reset the parameters that tie the
# instance to this checkout (paths, loopback-only), so `make run` is safe to
# repeat. As root the instance runs the real privilege model (mail_owner
# postern, setgid group postdrop, chroot); as anyone else every process runs
# as that user, for development.
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
etc="$top/run/etc"
postern="$top/build/sbin/postern"
postconf="$top/build/sbin/postconf"
master="$top/build/libexec/master"

# Where `make run` listens (loopback only): SMTP, submission, submissions.
SMTP_PORT=${SMTP_PORT:-2525}
SUBMISSION_PORT=${SUBMISSION_PORT:-2587}
SMTPS_PORT=${SMTPS_PORT:-2465}

say() {
    printf '%s\n' "$*"
}

die() {
    printf 'run.sh: %s\n' "$*" >&2
    exit 1
}

need_binaries() {
    for b in "$postern" "$postconf" "$master"; do
        [ -x "$b" ] || die "$b is missing; build first with: make"
    done
}

# The accounts of the privilege model (postern(1) and DESIGN.md): created
# once, as system accounts without a home or a login shell.
make_accounts() {
    if ! getent group postdrop >/dev/null; then
        say "creating group postdrop"
        groupadd --system postdrop
    fi
    if ! getent passwd postern-auth >/dev/null; then
        say "creating user postern-auth (the auth service)"
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --user-group postern-auth
    fi
    if ! getent passwd postern >/dev/null; then
        say "creating user postern"
        if getent group postern >/dev/null; then
            # --user-group refuses an existing group of the same name.
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin -g postern postern
        else
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin --user-group postern
        fi
    fi
}

make_config() {
    if [ ! -d "$etc" ]; then
        say "creating $etc from conf/main.cf and conf/master.cf"
        mkdir -p "$top/run"
        rm -rf "$etc.new"
        mkdir "$etc.new"
        cp "$top/conf/main.cf" "$top/conf/aliases" "$etc.new/"
        # The SMTP services on unprivileged ports (so nothing collides with
        # a system MTA on 25), submission and submissions enabled.
        awk -v smtp="$SMTP_PORT" -v subm="$SUBMISSION_PORT" -v smtps="$SMTPS_PORT" '
            /^smtp +inet/ { sub(/^smtp/, smtp) }
            /^#submission inet/ { on = 1; sub(/^#submission/, subm); print; next }
            /^#smtps +inet/ { on = 1; sub(/^#smtps/, smtps); print; next }
            on && /^#  -o/ { sub(/^#/, ""); print; next }
            { on = 0; print }
        ' "$top/conf/master.cf" >"$etc.new/master.cf"
        mv "$etc.new" "$etc"
    fi
    # An instance made by an older `make run` may lack the passwd-file.
    [ -e "$etc/users" ] || printf '%s\n' "# Dovecot passwd-file: user:{SCHEME}hash" \
        "# e.g.  amy:$(printf '%s' '{SHA512-CRYPT}')\$6\$... (openssl passwd -6)" >"$etc/users"
    "$postconf" -c "$etc" -e \
        "queue_directory=$top/run/queue" \
        "daemon_directory=$top/build/libexec" \
        "command_directory=$top/build/sbin" \
        "data_directory=$top/run/data" \
        "maillog_file=$top/run/log/maillog" \
        "inet_interfaces=loopback-only" \
        "mydestination=localhost" \
        "myhostname=localhost" \
        "mail_spool_directory=$top/run/mail" \
        "alias_maps=hash:$etc/aliases" \
        "alias_database=hash:$etc/aliases" \
        "smtpd_tls_cert_file=$etc/tls/cert.pem" \
        "smtpd_tls_key_file=$etc/tls/key.pem" \
        "smtpd_tls_security_level=may" \
        "auth_passdb=passwd-file:$etc/users system"
    make_cert
    if [ "$(id -u)" -eq 0 ]; then
        chown root:postern-auth "$etc/users"
        chmod 640 "$etc/users"
    fi
    [ -e "$etc/aliases" ] || cp "$top/conf/aliases" "$etc/aliases"
    "$top/build/sbin/newaliases" -c "$etc"
    if [ "$(id -u)" -ne 0 ]; then
        "$postconf" -c "$etc" -e "mail_owner=$(id -un)" "setgid_group=$(id -gn)"
    fi
}

# make_cert - a self-signed certificate for this instance's TLS (once).
make_cert() {
    [ -s "$etc/tls/cert.pem" ] && [ -s "$etc/tls/key.pem" ] && return 0
    say "creating a self-signed TLS certificate in $etc/tls"
    mkdir -p "$etc/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$etc/tls/key.pem" -out "$etc/tls/cert.pem" >/dev/null 2>&1 ||
        die "openssl could not create a certificate"
    chmod 600 "$etc/tls/key.pem"
}

make_dirs() {
    mkdir -p "$top/run/queue" "$top/run/log" "$top/run/data" "$top/run/mail"
    # The mbox spool: like a traditional /var/mail, anyone may create their
    # own mailbox in it (the sticky bit keeps others' files safe).
    chmod 1777 "$top/run/mail"
    if [ "$(id -u)" -eq 0 ]; then
        owner=$("$postconf" -c "$etc" -h mail_owner)
        chown "$owner" "$top/run/data"
    else
        # A queue made by an earlier root run belongs to root and postern.
        qowner=$(stat -c %u "$top/run/queue")
        if [ "$qowner" != "$(id -u)" ]; then
            die "run/queue belongs to UID $qowner (an earlier run as root?); run as that user, or remove run/ as root"
        fi
    fi
}

# port_of NAME - the TCP port of a service name or number.
port_of() {
    case "$1" in
    *[!0-9]*)
        p=$(getent services "$1/tcp" 2>/dev/null | awk '{ split($2, a, "/"); print a[1] }')
        printf '%s\n' "${p:-$1}"
        ;;
    *) printf '%s\n' "$1" ;;
    esac
}

# endpoints SERVICE - where master listens for an inet service, the way it
# resolves inet_interfaces and inet_protocols.
endpoints() {
    case "$1" in
    *:*)
        printf '%s\n' "$1"
        return
        ;;
    esac
    port=$(port_of "$1")
    ifs=$("$postconf" -c "$etc" -h inet_interfaces)
    protos=$("$postconf" -c "$etc" -h inet_protocols)
    v4=0
    v6=0
    for p in $(printf '%s' "$protos" | tr ',' ' '); do
        case "$p" in
        all) v4=1 v6=1 ;;
        ipv4) v4=1 ;;
        ipv6) v6=1 ;;
        esac
    done
    case "$ifs" in
    all)
        [ "$v4" -eq 1 ] && printf '0.0.0.0:%s\n' "$port"
        [ "$v6" -eq 1 ] && printf '[::]:%s\n' "$port"
        ;;
    loopback-only)
        [ "$v4" -eq 1 ] && printf '127.0.0.1:%s\n' "$port"
        [ "$v6" -eq 1 ] && printf '[::1]:%s\n' "$port"
        ;;
    *)
        for a in $(printf '%s' "$ifs" | tr ',' ' '); do
            a=${a#\[}
            a=${a%\]}
            case "$a" in
            *:*) printf '[%s]:%s\n' "$a" "$port" ;;
            *) printf '%s:%s\n' "$a" "$port" ;;
            esac
        done
        ;;
    esac
    return 0
}

report() {
    say ""
    say "Postern is running from $top/run"
    services=$("$postconf" -c "$etc" -M | awk '$2 == "inet" { print $1 }')
    if [ -z "$services" ]; then
        say "  no network services yet (master.cf has no inet service enabled)"
    else
        say "  listening:"
        for s in $services; do
            for ep in $(endpoints "$s"); do
                say "    $s  $ep"
            done
        done
    fi
    say "  log:       $top/run/log/maillog"
    say "  config:    $etc (main.cf, master.cf)"
    say "  queue:     $top/run/queue"
    say ""
    say "Use the commands against this instance with:"
    say "  export MAIL_CONFIG=$etc PATH=$top/build/sbin:\$PATH"
    say "  postern status; postconf -n; postern reload"
    say "Stop it with: make stop"
}

start() {
    need_binaries
    if [ "$(id -u)" -eq 0 ]; then
        make_accounts
    fi
    make_config
    make_dirs
    "$postern" -c "$etc" check
    if "$postern" -c "$etc" status >/dev/null 2>&1; then
        "$postern" -c "$etc" reload
        say "Postern was already running: configuration reloaded"
    else
        "$postern" -c "$etc" start
    fi
    report
}

stop() {
    if [ ! -d "$etc" ]; then
        say "no instance in $top/run: nothing to stop"
        return 0
    fi
    need_binaries
    if "$postern" -c "$etc" status >/dev/null 2>&1; then
        "$postern" -c "$etc" stop
    else
        say "Postern is not running"
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
    printf 'usage: sh mk/run.sh start|stop\n' >&2
    exit 2
    ;;
esac
