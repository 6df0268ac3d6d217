# Postern build: lib/ becomes one static library; each program folder (master/,
# later smtpd/, qmgr/, ...) becomes one daemon, each cli/NAME.c one command.
# New sources are found by wildcard, so adding a file needs no edit here.
#
#   make                 build everything into build/
#   make run             install missing Debian packages (as root), build, start ./run/
#   make test            same package step, then every test (SAN=1: ASan+UBSan build)
#   make install         DESTDIR=... PREFIX=... (default /usr/local)
#   make fuzz            libFuzzer targets, each run for FUZZ_SECONDS

PREFIX      ?= /usr/local
DESTDIR     ?=
SYSCONFDIR  ?= /etc/postern
DAEMONDIR   ?= $(PREFIX)/lib/postern
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
SPOOLDIR    ?= /var/spool/postern
SAN         ?= 0
FUZZ_SECONDS ?= 20
VERSION     := 0.1.0

ifeq ($(SAN),1)
BUILD       ?= build-san
SANFLAGS    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
BUILD       ?= build
SANFLAGS    :=
endif

# Daemons live in daemon_directory, commands in command_directory.
# Programs whose sources are not in the tree (yet) are skipped, so a
# program under construction never breaks the build of the others.
ALL_DAEMONS := master pickup cleanup qmgr bounce local showq smtpd auth anvil proxymap error smtp scache
ALL_COMMANDS := postern postconf sendmail postdrop postcat postmap newaliases postqueue postsuper
DAEMONS     := $(foreach d,$(ALL_DAEMONS),$(if $(wildcard $(d)/*.c),$(d)))
COMMANDS    := $(foreach c,$(ALL_COMMANDS),$(if $(wildcard cli/$(c).c),$(c)))

PKGS        := openssl lmdb libcap libpcre2-8 ldap libargon2
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -llber -lcrypt -lresolv

CFLAGS      ?= -O2 -g
WARN        := -Wall -Wextra -Werror -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
               -Wno-unused-parameter
HARDEN      := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
DEFS        := -D_GNU_SOURCE -DPOSTERN_VERSION='"$(VERSION)"' \
               -DDEF_CONFIG_DIR='"$(SYSCONFDIR)"' -DDEF_DAEMON_DIR='"$(DAEMONDIR)"' \
               -DDEF_COMMAND_DIR='"$(SBINDIR)"' -DDEF_QUEUE_DIR='"$(SPOOLDIR)"'
ALL_CFLAGS  := -std=gnu11 $(CFLAGS) $(WARN) $(HARDEN) $(DEFS) $(SANFLAGS) -Ilib $(PKG_CFLAGS) \
               -MMD -MP
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS) -pie -Wl,-z,relro,-z,now -Wl,--as-needed

LIB_SRC     := $(sort $(shell find lib -name '*.c'))
LIB_OBJ     := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIBPOSTERN  := $(BUILD)/libpostern.a

DAEMON_BINS := $(DAEMONS:%=$(BUILD)/libexec/%)
# lmtp is the smtp delivery agent under its other name (it speaks LMTP
# when started as lmtp, as Postfix's smtp(8) does).
LINK_DAEMONS := $(if $(filter smtp,$(DAEMONS)),$(BUILD)/libexec/lmtp)
COMMAND_BINS := $(COMMANDS:%=$(BUILD)/sbin/%)

UNIT_SRC    := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
SVC_SRC     := $(sort $(wildcard tests/svc/*.c))
SVC_BINS    := $(SVC_SRC:tests/svc/%.c=$(BUILD)/tests/svc/%)
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))

GENMAN      := $(BUILD)/man/man5/postconf.5

# Objects depend on the flags they were built with: a build with another
# PREFIX (compiled-in defaults) or SAN setting recompiles what it must.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW   := $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)
ifneq ($(file <$(FLAGS_STAMP)),$(FLAGS_NOW))
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_STAMP),$(FLAGS_NOW))
endif

.SECONDARY:

.PHONY: all run stop test check unit integration format format-check install clean fuzz deps \
        deps-run man-check
.DEFAULT_GOAL := all

all: $(LIBPOSTERN) $(DAEMON_BINS) $(LINK_DAEMONS) $(COMMAND_BINS) $(BUILD)/sbin/mailq $(SVC_BINS) $(GENMAN)

# mailq is sendmail under another name, as in Postfix and the install below.
$(BUILD)/sbin/mailq: $(BUILD)/sbin/sendmail
	ln -sf sendmail $@

$(BUILD)/libexec/lmtp: $(BUILD)/libexec/smtp
	ln -f $< $@

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBPOSTERN): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# A daemon is every .c in its folder; a command is cli/NAME.c plus cli/NAME_*.c.
define daemon_rule
$(BUILD)/libexec/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/*.c)) $(LIBPOSTERN)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(PKG_LIBS)
endef
define command_rule
$(BUILD)/sbin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,cli/$(1).c $(wildcard cli/$(1)_*.c)) $(LIBPOSTERN)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(PKG_LIBS)
endef
$(foreach d,$(DAEMONS),$(eval $(call daemon_rule,$(d))))
$(foreach c,$(COMMANDS),$(eval $(call command_rule,$(c))))

$(BUILD)/tests/svc/%: $(BUILD)/obj/tests/svc/%.o $(LIBPOSTERN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(LIBPOSTERN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# postconf(5) is generated from the one parameter table at build time, so it
# cannot drift from the code (and shows this build's directory defaults).
$(GENMAN): $(BUILD)/sbin/postconf
	@mkdir -p $(dir $@)
	$(BUILD)/sbin/postconf --man5 > $@.tmp && mv $@.tmp $@

# ---- the two quick-start commands -------------------------------------------

deps:
	@sh mk/deps.sh build test

deps-run:
	@sh mk/deps.sh build

run: deps-run
	@$(MAKE) --no-print-directory all
	@sh mk/run.sh start

stop:
	@sh mk/run.sh stop

test: deps
	@$(MAKE) --no-print-directory -j2 all $(UNIT_BINS)
	@$(MAKE) --no-print-directory check

check: all $(UNIT_BINS) format-check man-check
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

# Every unit test runs even when one fails; the target fails if any did.
unit: $(UNIT_BINS)
	@failed=""; for t in $(UNIT_BINS); do echo "== $$t"; $$t || failed="$$failed $$t"; done; \
	    if [ -n "$$failed" ]; then echo "unit tests failed:$$failed"; exit 1; fi

integration: all
	POSTERN_BUILD=$(abspath $(BUILD)) POSTERN_SRC=$(abspath .) POSTERN_SAN=$(SAN) \
	    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

# Every man page must render without warnings (groff -ww).
man-check: $(GENMAN)
	@for m in man/man*/*.[0-9] $(GENMAN); do \
	    out=$$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=w -l "$$m" 2>&1 >/dev/null); \
	    if [ -n "$$out" ]; then echo "man-check: $$m:"; echo "$$out"; exit 1; fi; \
	done; echo "man-check: ok"

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null; git ls-files -o --exclude-standard '*.c' '*.h' 2>/dev/null)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES) && echo "format-check: ok"

# ---- fuzzing (clang libFuzzer) ------------------------------------------------

FUZZ_BUILD := build-fuzz
fuzz:
	@sh mk/deps.sh build test
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
	    SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined" $(FUZZ_BUILD)/libpostern.a
	@set -e; mkdir -p $(FUZZ_BUILD)/fuzz; for f in $(FUZZ_SRC); do \
	    n=$$(basename $$f .c); \
	    clang -std=gnu11 -g -O1 $(DEFS) -Ilib $(PKG_CFLAGS) \
	        -fsanitize=fuzzer,address,undefined -o $(FUZZ_BUILD)/fuzz/$$n $$f \
	        $(FUZZ_BUILD)/libpostern.a $(PKG_LIBS); \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	    echo "== $$n ($(FUZZ_SECONDS)s)"; \
	    $(FUZZ_BUILD)/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	        -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n \
	        > $(FUZZ_BUILD)/$$n.log 2>&1 || { cat $(FUZZ_BUILD)/$$n.log; exit 1; }; \
	    tail -n 1 $(FUZZ_BUILD)/$$n.log; \
	done

# ---- install -----------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DAEMONDIR) $(DESTDIR)$(SYSCONFDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(COMMAND_BINS) $(DESTDIR)$(SBINDIR)/
	ln -sf sendmail $(DESTDIR)$(SBINDIR)/mailq
	@# postdrop writes maildrop/ and postqueue reaches public/ through the
	@# setgid_group (Postfix's model).
	for p in postdrop postqueue; do \
	    [ -e $(DESTDIR)$(SBINDIR)/$$p ] || continue; \
	    if [ "$$(id -u)" = 0 ] && getent group postdrop >/dev/null; then \
	        chgrp postdrop $(DESTDIR)$(SBINDIR)/$$p && chmod 2755 $(DESTDIR)$(SBINDIR)/$$p; \
	    else \
	        echo "install: as root, run: chgrp postdrop $(SBINDIR)/$$p; chmod 2755 $(SBINDIR)/$$p"; \
	    fi; \
	done
	install -m 0755 $(DAEMON_BINS) $(DESTDIR)$(DAEMONDIR)/
	if [ -e $(DESTDIR)$(DAEMONDIR)/smtp ]; then ln -f $(DESTDIR)$(DAEMONDIR)/smtp $(DESTDIR)$(DAEMONDIR)/lmtp; fi
	for f in main.cf master.cf; do \
	    [ -e $(DESTDIR)$(SYSCONFDIR)/$$f ] || install -m 0644 conf/$$f $(DESTDIR)$(SYSCONFDIR)/$$f; \
	done
	install -m 0644 man/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/man5/*.5 $(GENMAN) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/man8/*.8 $(DESTDIR)$(MANDIR)/man8/

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
