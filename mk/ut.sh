#!/bin/sh
# ut.sh - build and run one cmocka unit test against chosen sources only,
# without the whole library (useful while other modules are mid-change).
#   sh mk/ut.sh tests/unit/test_config.c lib/conf/config.c lib/util/*.c
set -e
t=$1; shift
out=build/ut/$(basename "$t" .c)
mkdir -p build/ut
${CC:-cc} -std=gnu11 -g -Wall -Wextra -Werror -Wformat=2 -Wstrict-prototypes \
    -Wmissing-prototypes -Wno-unused-parameter -D_GNU_SOURCE -Ilib \
    -DPOSTERN_VERSION='"dev"' -DDEF_CONFIG_DIR='"/etc/postern"' \
    -DDEF_DAEMON_DIR='"/usr/local/lib/postern"' -DDEF_COMMAND_DIR='"/usr/local/sbin"' \
    -DDEF_QUEUE_DIR='"/var/spool/postern"' $(pkg-config --cflags openssl lmdb libcap libpcre2-8 ldap libargon2) \
    -o "$out" "$t" "$@" $(pkg-config --libs openssl lmdb libcap libpcre2-8 ldap libargon2) -llber -lcrypt -lresolv -lcmocka
"$out"
