/* test_master_cf - master.cf parsing: a realistic file field by field, the
 * defaults behind '-', the -o and { } argument forms, and every error with
 * its exact FILE:LINE text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/master_cf.h"
#include "util/alloc.h"

static const char realistic[] =
    "# Postern master.cf\n"
    "#\n"
    "# service type  private unpriv  chroot  wakeup  maxproc command + args\n"
    "smtp      inet  n       -       y       -       -       smtpd\n"
    "submission inet n       -       y       -       -       smtpd\n"
    "  -o syslog_name=postfix/submission\n"
    "  -o smtpd_tls_security_level=encrypt\n"
    "  -osmtpd_sasl_auth_enable=yes\n"
    "# a comment inside a logical line does not end it\n"
    "\n"
    "  -o { smtpd_client_restrictions = permit_sasl_authenticated,reject }\n"
    "  -o content_filter=\n"
    "pickup    unix  n       -       y       60      1       pickup\n"
    "cleanup   unix  n       -       y       -       0       cleanup\n"
    "qmgr      unix  n       -       n       300     1       qmgr\n"
    "flush     unix  n       -       y       1000?   0       flush\n"
    "127.0.0.1:10025 inet n  -       n       -       -       smtpd\n"
    "    -o content_filter=\n"
    "[::1]:smtp inet n       -       n       -       -       smtpd -v\n"
    "retry     unix  -       -       -       -       -       error\n"
    "uucp      unix  -       n       n       -       -       pipe\n"
    "  flags=Fqhu user=uucp argv=uux -r -n -z -a$sender - $nexthop!rmail (${recipient})\n"
    "filter    unix  -       n       n       -       10      pipe\n"
    "  flags=Rq user=filter argv={ /usr/local/bin/filter -f ${sender} } -- ${recipient}\n";

static struct master_cf *parse_ok(const char *text)
{
    struct master_cf *cf = NULL;
    struct buf why = BUF_INIT;
    int rc = master_cf_parse(text, strlen(text), "master.cf", 100, &cf, &why);
    if (rc != 0)
        fail_msg("unexpected parse error: %s", buf_cstr(&why));
    buf_free(&why);
    assert_non_null(cf);
    return cf;
}

/* expect_error - parsing text fails with exactly msg. */
static void expect_error(const char *text, const char *msg)
{
    struct master_cf *cf = (struct master_cf *)1;
    struct buf why = BUF_INIT;
    int rc = master_cf_parse(text, strlen(text), "master.cf", 100, &cf, &why);
    if (rc != -1)
        fail_msg("expected error \"%s\" but parse succeeded", msg);
    assert_null(cf);
    assert_string_equal(buf_cstr(&why), msg);
    buf_free(&why);
}

static void assert_argv(const struct argv *a, const char *const *want, size_t n)
{
    assert_int_equal(a->argc, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(a->argv[i], want[i]);
    assert_null(a->argv[n]);
}

static void test_absolute_command_path_is_kept(void **state)
{
    (void)state;
    struct master_cf *cf = parse_ok("filter unix n n n - 2 /usr/local/libexec/filterd -v x\n");
    assert_int_equal(cf->count, 1);
    assert_string_equal(cf->ents[0]->command, "/usr/local/libexec/filterd");
    assert_int_equal(cf->ents[0]->args->argc, 2);
    master_cf_free(cf);
}

static void test_realistic_file_parses_into_exact_fields(void **state)
{
    (void)state;
    struct master_cf *cf = parse_ok(realistic);
    assert_int_equal(cf->count, 11);

    const struct master_ent *e = cf->ents[0];
    assert_string_equal(e->name, "smtp");
    assert_int_equal(e->type, MASTER_INET);
    assert_int_equal(e->private_, 0);
    assert_int_equal(e->unpriv, 1);
    assert_int_equal(e->chroot, 1);
    assert_int_equal(e->wakeup, 0);
    assert_int_equal(e->wakeup_if_used, 0);
    assert_int_equal(e->maxproc, 100);
    assert_string_equal(e->command, "smtpd");
    assert_int_equal(e->args->argc, 0);
    assert_int_equal(e->opts->argc, 0);
    assert_string_equal(e->file, "master.cf");
    assert_int_equal(e->line, 4);

    e = master_cf_find(cf, "submission", MASTER_INET);
    assert_non_null(e);
    assert_int_equal(e->line, 5);
    assert_int_equal(e->private_, 0);
    assert_int_equal(e->chroot, 1);
    const char *sub_opts[] = {
        "syslog_name=postfix/submission",
        "smtpd_tls_security_level=encrypt",
        "smtpd_sasl_auth_enable=yes",
        "smtpd_client_restrictions=permit_sasl_authenticated,reject",
        "content_filter=",
    };
    assert_argv(e->opts, sub_opts, 5);
    assert_int_equal(e->args->argc, 0);

    e = master_cf_find(cf, "pickup", MASTER_UNIX);
    assert_non_null(e);
    assert_int_equal(e->private_, 0);
    assert_int_equal(e->unpriv, 1);
    assert_int_equal(e->chroot, 1);
    assert_int_equal(e->wakeup, 60);
    assert_int_equal(e->wakeup_if_used, 0);
    assert_int_equal(e->maxproc, 1);
    assert_string_equal(e->command, "pickup");
    assert_int_equal(e->line, 13);

    e = master_cf_find(cf, "cleanup", MASTER_UNIX);
    assert_non_null(e);
    assert_int_equal(e->maxproc, 0);

    e = master_cf_find(cf, "qmgr", MASTER_UNIX);
    assert_non_null(e);
    assert_int_equal(e->chroot, 0);
    assert_int_equal(e->wakeup, 300);
    assert_int_equal(e->maxproc, 1);
    assert_string_equal(e->command, "qmgr");

    e = master_cf_find(cf, "flush", MASTER_UNIX);
    assert_non_null(e);
    assert_int_equal(e->wakeup, 1000);
    assert_int_equal(e->wakeup_if_used, 1);
    assert_int_equal(e->maxproc, 0);

    e = master_cf_find(cf, "127.0.0.1:10025", MASTER_INET);
    assert_non_null(e);
    assert_int_equal(e->private_, 0);
    assert_int_equal(e->chroot, 0);
    const char *cf_opts[] = {"content_filter="};
    assert_argv(e->opts, cf_opts, 1);

    e = master_cf_find(cf, "[::1]:smtp", MASTER_INET);
    assert_non_null(e);
    const char *v_args[] = {"-v"};
    assert_argv(e->args, v_args, 1);

    e = master_cf_find(cf, "retry", MASTER_UNIX);
    assert_non_null(e);
    assert_int_equal(e->private_, 1);
    assert_int_equal(e->unpriv, 1);
    assert_int_equal(e->chroot, 1);
    assert_int_equal(e->wakeup, 0);
    assert_int_equal(e->maxproc, 100);

    e = master_cf_find(cf, "uucp", MASTER_UNIX);
    assert_non_null(e);
    assert_int_equal(e->unpriv, 0);
    const char *uucp_args[] = {
        "flags=Fqhu", "user=uucp",      "argv=uux",      "-r", "-n", "-z", "-a$sender",
        "-",          "$nexthop!rmail", "(${recipient})"};
    assert_argv(e->args, uucp_args, 10);
    assert_int_equal(e->opts->argc, 0);

    e = master_cf_find(cf, "filter", MASTER_UNIX);
    assert_non_null(e);
    assert_int_equal(e->maxproc, 10);
    /* "argv={ ... }" is one word that merely contains braces: kept verbatim. */
    const char *filter_args[] = {"flags=Rq", "user=filter",
                                 "argv={ /usr/local/bin/filter -f ${sender} }", "--",
                                 "${recipient}"};
    assert_argv(e->args, filter_args, 5);

    assert_null(master_cf_find(cf, "smtp", MASTER_UNIX));
    assert_null(master_cf_find(cf, "nosuch", MASTER_INET));
    master_cf_free(cf);
}

static void test_dash_takes_the_defaults(void **state)
{
    (void)state;
    struct master_cf *cf = parse_ok("svc unix - - - - - prog\n"
                                    "web inet - - - - - prog\n");
    const struct master_ent *e = cf->ents[0];
    assert_int_equal(e->private_, 1);
    assert_int_equal(e->unpriv, 1);
    assert_int_equal(e->chroot, 1); /* Postern: least privilege (Postfix 3 says n) */
    assert_int_equal(e->wakeup, 0);
    assert_int_equal(e->wakeup_if_used, 0);
    assert_int_equal(e->maxproc, 100);
    /* an inet service is never private, so '-' means n there */
    assert_int_equal(cf->ents[1]->private_, 0);
    master_cf_free(cf);

    struct master_cf *cf2 = NULL;
    struct buf why = BUF_INIT;
    const char *t = "svc unix - - - - - prog";
    assert_int_equal(master_cf_parse(t, strlen(t), "m", 7, &cf2, &why), 0);
    assert_int_equal(cf2->ents[0]->maxproc, 7); /* default_maxproc, no trailing newline */
    master_cf_free(cf2);
    buf_free(&why);
}

static void test_all_types_and_explicit_values(void **state)
{
    (void)state;
    struct master_cf *cf = parse_ok("a unix y y y 0 5 p\n"
                                    "a unix-dgram n n n 10? 0 p\n"
                                    "a fifo - - - - - p\n"
                                    "a pass - - - - - p\n"
                                    "smtps inet n n n - - p\n");
    assert_int_equal(cf->count, 5);
    assert_int_equal(cf->ents[0]->type, MASTER_UNIX);
    assert_int_equal(cf->ents[0]->maxproc, 5);
    assert_int_equal(cf->ents[1]->type, MASTER_UNIX_DGRAM);
    assert_int_equal(cf->ents[1]->private_, 0);
    assert_int_equal(cf->ents[1]->unpriv, 0);
    assert_int_equal(cf->ents[1]->chroot, 0);
    assert_int_equal(cf->ents[1]->wakeup, 10);
    assert_int_equal(cf->ents[1]->wakeup_if_used, 1);
    assert_int_equal(cf->ents[2]->type, MASTER_FIFO);
    assert_int_equal(cf->ents[3]->type, MASTER_PASS);
    assert_int_equal(cf->ents[4]->type, MASTER_INET);
    assert_non_null(master_cf_find(cf, "a", MASTER_PASS));
    master_cf_free(cf);
}

static void test_type_names_round_trip(void **state)
{
    (void)state;
    const enum master_type all[] = {MASTER_INET, MASTER_UNIX, MASTER_UNIX_DGRAM, MASTER_FIFO,
                                    MASTER_PASS};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(master_type_parse(master_type_name(all[i])), (int)all[i]);
    assert_string_equal(master_type_name(MASTER_UNIX_DGRAM), "unix-dgram");
    assert_int_equal(master_type_parse("inet6"), -1);
    assert_int_equal(master_type_parse("UNIX"), -1);
    assert_int_equal(master_type_parse(""), -1);
}

static void test_brace_groups_and_o_forms(void **state)
{
    (void)state;
    struct master_cf *cf = parse_ok("x unix - - - - - cmd a { b  c } {} {  spaced\t} d\n"
                                    "  -o{ p = v w } -o {q=} -o\n"
                                    "  r=s=t {nested {x} y}\n");
    const struct master_ent *e = cf->ents[0];
    const char *args[] = {"a", "b  c", "", "spaced", "d", "nested {x} y"};
    assert_argv(e->args, args, 6);
    const char *opts[] = {"p=v w", "q=", "r=s=t"};
    assert_argv(e->opts, opts, 3);
    master_cf_free(cf);
}

static void test_group_spans_continuation_lines(void **state)
{
    (void)state;
    struct master_cf *cf = parse_ok("x unix - - - - - cmd -o { smtpd_recipient_restrictions =\n"
                                    "      permit_mynetworks,\n"
                                    "      reject }\n");
    const char *opts[] = {"smtpd_recipient_restrictions=permit_mynetworks, reject"};
    assert_argv(cf->ents[0]->opts, opts, 1);
    master_cf_free(cf);
}

static void test_crlf_and_blank_lines_are_tolerated(void **state)
{
    (void)state;
    struct master_cf *cf = parse_ok("\r\n   \t\n  # indented comment\r\n"
                                    "x unix - - - - - cmd\r\n  -o a=b\r\n");
    assert_int_equal(cf->count, 1);
    assert_int_equal(cf->ents[0]->line, 4);
    const char *opts[] = {"a=b"};
    assert_argv(cf->ents[0]->opts, opts, 1);
    master_cf_free(cf);
}

static void test_empty_file_has_no_services(void **state)
{
    (void)state;
    struct master_cf *cf = parse_ok("");
    assert_int_equal(cf->count, 0);
    master_cf_free(cf);
    cf = parse_ok("# only comments\n\n");
    assert_int_equal(cf->count, 0);
    master_cf_free(cf);
}

static void test_inet_service_names(void **state)
{
    (void)state;
    struct master_cf *cf = parse_ok("1 inet n - - - - p\n"
                                    "65535 inet n - - - - p\n"
                                    "mail.example.com:submission inet n - - - - p\n"
                                    "[2001:db8::1]:2525 inet n - - - - p\n"
                                    "[::ffff:192.0.2.1]:smtp inet n - - - - p\n"
                                    "pop3-alt inet n - - - - p\n");
    assert_int_equal(cf->count, 6);
    master_cf_free(cf);

    expect_error("0 inet n - - - - p\n", "master.cf:1: bad inet service port: 0");
    expect_error("65536 inet n - - - - p\n", "master.cf:1: bad inet service port: 65536");
    expect_error("127.0.0.1:0 inet n - - - - p\n",
                 "master.cf:1: bad inet service port: 127.0.0.1:0");
    expect_error("127.0.0.1: inet n - - - - p\n", "master.cf:1: bad inet service port: 127.0.0.1:");
    expect_error("127.0.0.1 inet n - - - - p\n", "master.cf:1: bad inet service port: 127.0.0.1");
    expect_error("SMTP inet n - - - - p\n", "master.cf:1: bad inet service port: SMTP");
    expect_error(":25 inet n - - - - p\n", "master.cf:1: bad inet service host: :25");
    expect_error("a/b:25 inet n - - - - p\n", "master.cf:1: bad inet service host: a/b:25");
    expect_error("[::1] inet n - - - - p\n",
                 "master.cf:1: bad inet service address (expected [address]:port): [::1]");
    expect_error("[]:25 inet n - - - - p\n",
                 "master.cf:1: bad inet service address (expected [address]:port): []:25");
    expect_error("[::1:25 inet n - - - - p\n",
                 "master.cf:1: bad inet service address (expected [address]:port): [::1:25");
    expect_error("[a.b.example]:25 inet n - - - - p\n",
                 "master.cf:1: bad inet service address (expected [address]:port): "
                 "[a.b.example]:25");
    expect_error("[::1]:99999 inet n - - - - p\n",
                 "master.cf:1: bad inet service port: [::1]:99999");
}

static void test_local_service_names_are_plain_file_names(void **state)
{
    (void)state;
    struct master_cf *cf = parse_ok("Relay_2.x-y unix - - - - - p\n");
    master_cf_free(cf);
    expect_error("a/b unix - - - - - p\n",
                 "master.cf:1: bad unix service name (a plain file name is required): a/b");
    expect_error(".. fifo - - - - - p\n",
                 "master.cf:1: bad fifo service name (a plain file name is required): ..");
    expect_error(". pass - - - - - p\n",
                 "master.cf:1: bad pass service name (a plain file name is required): .");
    expect_error("a:b unix-dgram - - - - - p\n",
                 "master.cf:1: bad unix-dgram service name (a plain file name is required): a:b");
    char line[300];
    memset(line, 'a', 100);
    snprintf(line + 100, sizeof(line) - 100, " unix - - - - - p\n");
    struct master_cf *out = NULL;
    struct buf why = BUF_INIT;
    assert_int_equal(master_cf_parse(line, strlen(line), "m", 1, &out, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "m:1: bad unix service name"));
    line[99] = ' '; /* 99 bytes fit "private/NAME" into sun_path */
    memcpy(line + 100, "unix - - - - - p\n", 18);
    buf_reset(&why);
    assert_int_equal(master_cf_parse(line, strlen(line), "m", 1, &out, &why), 0);
    master_cf_free(out);
    buf_free(&why);
}

static void test_column_errors_name_file_line_and_value(void **state)
{
    (void)state;
    expect_error("# c\nsmtp inet6 n - y - - smtpd\n", "master.cf:2: unknown service type: inet6");
    expect_error("pickup unix n - y 5x 1 pickup\n", "master.cf:1: bad wakeup time: 5x");
    expect_error("pickup unix n - y -5 1 pickup\n", "master.cf:1: bad wakeup time: -5");
    expect_error("pickup unix n - y ? 1 pickup\n", "master.cf:1: bad wakeup time: ?");
    expect_error("pickup unix n - y 5?? 1 pickup\n", "master.cf:1: bad wakeup time: 5??");
    expect_error("pickup unix n - y -? 1 pickup\n", "master.cf:1: bad wakeup time: -?");
    expect_error("pickup unix n - y 99999999999 1 pickup\n",
                 "master.cf:1: bad wakeup time: 99999999999");
    expect_error("pickup unix n - y 60 x pickup\n", "master.cf:1: bad process limit: x");
    expect_error("pickup unix n - y 60 -1 pickup\n", "master.cf:1: bad process limit: -1");
    expect_error("pickup unix n - yes 60 1 pickup\n",
                 "master.cf:1: field 'chroot': expected y, n or -");
    expect_error("pickup unix N - y 60 1 pickup\n",
                 "master.cf:1: field 'private': expected y, n or -");
    expect_error("pickup unix n 1 y 60 1 pickup\n",
                 "master.cf:1: field 'unpriv': expected y, n or -");
    expect_error("smtp inet y - y - - smtpd\n", "master.cf:1: inet services cannot be private");
    expect_error("smtp unix - - - - - ../../bin/sh\n",
                 "master.cf:1: bad command name (a file name in daemon_directory or an absolute "
                 "path is required): ../../bin/sh");
    expect_error("smtp unix - - - - - /usr/lib/../../bin/sh\n",
                 "master.cf:1: bad command name (a file name in daemon_directory or an absolute "
                 "path is required): /usr/lib/../../bin/sh");
    expect_error("smtp unix - - - - - bin/sh\n",
                 "master.cf:1: bad command name (a file name in daemon_directory or an absolute "
                 "path is required): bin/sh");
}

static void test_missing_fields_are_named(void **state)
{
    (void)state;
    expect_error("smtp\n", "master.cf:1: missing field 'type'");
    expect_error("smtp inet n - y - -\n", "master.cf:1: missing field 'command'");
    expect_error("x\n smtp\n  inet n\n", "master.cf:1: missing field 'chroot'");
}

static void test_argument_errors_name_the_physical_line(void **state)
{
    (void)state;
    expect_error("x unix - - - - - cmd\n  -o a=b\n  -o\n", "master.cf:3: -o without a value");
    expect_error("x unix - - - - - cmd\n  -o novalue\n",
                 "master.cf:2: -o argument is not name=value: novalue");
    expect_error("x unix - - - - - cmd\n  -o bad-name=1\n",
                 "master.cf:2: bad parameter name in -o: bad-name");
    expect_error("x unix - - - - - cmd -o { = v }\n", "master.cf:1: bad parameter name in -o: ");
    expect_error("x unix - - - - - cmd -o {}\n", "master.cf:1: -o argument is not name=value: ");
    expect_error("x unix - - - - - cmd\n  -o\n  a=b\n  -o { x y = 1 }\n",
                 "master.cf:4: bad parameter name in -o: x y");
    expect_error("x unix - - - - - cmd\n  { unbalanced\n",
                 "master.cf:2: missing '}' in: { unbalanced");
    expect_error("x unix - - - - - cmd\n  a}\n", "master.cf:2: unexpected '}' in: a}");
    expect_error("x unix - - - - - cmd {a}b\n", "master.cf:1: text after '}' in: {a}b");
    expect_error("x unix - - - - - cmd -o{a=b}c\n", "master.cf:1: text after '}' in: {a=b}c");
    expect_error("x unix - - - - - cmd -o{a=b\n", "master.cf:1: missing '}' in: -o{a=b");
}

static void test_duplicate_service_names_both_lines(void **state)
{
    (void)state;
    expect_error("smtp inet n - y - - smtpd\n"
                 "smtp unix - - - - - smtp\n"
                 "# again\n"
                 "smtp inet n - y - - smtpd -v\n",
                 "master.cf:4: duplicate service smtp/inet (already defined at line 1)");
}

static void test_line_structure_errors(void **state)
{
    (void)state;
    expect_error("  -o a=b\nx unix - - - - - cmd\n",
                 "master.cf:1: continuation line without a preceding service line");
    const char nul[] = "x unix - - - - - cmd\ny unix\0 - - - - - cmd\n";
    struct master_cf *cf = NULL;
    struct buf why = BUF_INIT;
    assert_int_equal(master_cf_parse(nul, sizeof(nul) - 1, "master.cf", 1, &cf, &why), -1);
    assert_string_equal(buf_cstr(&why), "master.cf:2: NUL byte in line");
    assert_null(cf);
    buf_free(&why);
}

static void test_hostile_text_in_errors_is_bounded_and_printable(void **state)
{
    (void)state;
    expect_error("x \x1b[31m n - y - - smtpd\n", "master.cf:1: unknown service type: ?[31m");
    struct buf text = BUF_INIT;
    buf_puts(&text, "x ");
    for (int i = 0; i < 200; i++)
        buf_putc(&text, 'q');
    buf_puts(&text, " - - - - - c\n");
    struct master_cf *cf = NULL;
    struct buf why = BUF_INIT;
    assert_int_equal(master_cf_parse(text.data, text.len, "m", 1, &cf, &why), -1);
    assert_int_equal(why.len, strlen("m:1: unknown service type: ") + 80 + 3);
    assert_string_equal(why.data + why.len - 3, "...");
    buf_free(&why);
    buf_free(&text);
}

static void test_logical_line_limit(void **state)
{
    (void)state;
    struct buf text = BUF_INIT;
    buf_puts(&text, "x unix - - - - - cmd\n");
    /* 64 KiB fits exactly: the first line plus joined continuation lines */
    size_t have = strlen("x unix - - - - - cmd");
    while (have + 1 + 999 <= 65536) {
        buf_puts(&text, "\t");
        for (int i = 0; i < 999; i++)
            buf_putc(&text, 'a');
        buf_putc(&text, '\n');
        have += 1 + 999; /* joined with one space, leading white space dropped */
    }
    /* fill up to exactly 65536 */
    buf_puts(&text, " ");
    for (size_t i = have + 1; i < 65536; i++)
        buf_putc(&text, 'b');
    buf_putc(&text, '\n');
    struct master_cf *cf = NULL;
    struct buf why = BUF_INIT;
    assert_int_equal(master_cf_parse(text.data, text.len, "m", 1, &cf, &why), 0);
    master_cf_free(cf);
    int lines = 0;
    for (size_t i = 0; i < text.len; i++)
        lines += text.data[i] == '\n';
    buf_puts(&text, " c\n");
    assert_int_equal(master_cf_parse(text.data, text.len, "m", 1, &cf, &why), -1);
    char want[100];
    snprintf(want, sizeof(want), "m:%d: logical line too long (limit 65536 bytes)", lines + 1);
    assert_string_equal(buf_cstr(&why), want);
    buf_free(&why);
    buf_free(&text);
}

static void test_service_count_limit(void **state)
{
    (void)state;
    struct buf text = BUF_INIT;
    for (int i = 0; i < 1000; i++)
        buf_printf(&text, "s%d unix - - - - - cmd\n", i);
    struct master_cf *cf = NULL;
    struct buf why = BUF_INIT;
    assert_int_equal(master_cf_parse(text.data, text.len, "m", 1, &cf, &why), 0);
    assert_int_equal(cf->count, 1000);
    master_cf_free(cf);
    buf_puts(&text, "one_more unix - - - - - cmd\n");
    assert_int_equal(master_cf_parse(text.data, text.len, "m", 1, &cf, &why), -1);
    assert_string_equal(buf_cstr(&why), "m:1001: too many services (limit 1000)");
    buf_free(&why);
    buf_free(&text);
}

static void test_read_file_and_missing_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_master_cf.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, realistic, strlen(realistic)), (ssize_t)strlen(realistic));
    close(fd);
    struct master_cf *cf = NULL;
    struct buf why = BUF_INIT;
    assert_int_equal(master_cf_read(path, 50, &cf, &why), 0);
    assert_int_equal(cf->count, 11);
    assert_string_equal(cf->ents[0]->file, path);
    assert_int_equal(cf->ents[0]->maxproc, 50);
    master_cf_free(cf);
    unlink(path);

    assert_int_equal(master_cf_read(path, 50, &cf, &why), -1);
    assert_null(cf);
    char want[200];
    snprintf(want, sizeof(want), "%s: open: No such file or directory", path);
    assert_string_equal(buf_cstr(&why), want);

    assert_int_equal(master_cf_read("/tmp", 50, &cf, &why), -1);
    assert_string_equal(buf_cstr(&why), "/tmp: not a regular file");
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_realistic_file_parses_into_exact_fields),
        cmocka_unit_test(test_absolute_command_path_is_kept),
        cmocka_unit_test(test_dash_takes_the_defaults),
        cmocka_unit_test(test_all_types_and_explicit_values),
        cmocka_unit_test(test_type_names_round_trip),
        cmocka_unit_test(test_brace_groups_and_o_forms),
        cmocka_unit_test(test_group_spans_continuation_lines),
        cmocka_unit_test(test_crlf_and_blank_lines_are_tolerated),
        cmocka_unit_test(test_empty_file_has_no_services),
        cmocka_unit_test(test_inet_service_names),
        cmocka_unit_test(test_local_service_names_are_plain_file_names),
        cmocka_unit_test(test_column_errors_name_file_line_and_value),
        cmocka_unit_test(test_missing_fields_are_named),
        cmocka_unit_test(test_argument_errors_name_the_physical_line),
        cmocka_unit_test(test_duplicate_service_names_both_lines),
        cmocka_unit_test(test_line_structure_errors),
        cmocka_unit_test(test_hostile_text_in_errors_is_bounded_and_printable),
        cmocka_unit_test(test_logical_line_limit),
        cmocka_unit_test(test_service_count_limit),
        cmocka_unit_test(test_read_file_and_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
