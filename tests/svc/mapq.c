/* mapq - look keys up through map_open, as a daemon would, for the
 * proxymap tests (not installed).
 *
 *   mapq [-c DIR] [-C]
 *
 * Reads main.cf (from -c DIR or $MAIL_CONFIG), changes to the queue
 * directory and, with -C (root only), chroots there and becomes mail_owner
 * with server_drop_privileges(), like a chrooted smtpd. Registers the proxy:
 * type with map_register() (harmless once it is built in). Then one command
 * per input line, one answer line each, flushed at once:
 *
 *   open SPEC           "ok" | "error: WHY"
 *   lookup SPEC KEY     "found: VALUE" | "notfound" | "tempfail: WHY" | "error: WHY"
 *   lookupcs SPEC KEY   the same, with the table opened without MAP_FOLD_CASE
 *   pid                 the process ID
 *   quit
 *
 * A table is opened on its first use and kept open; KEY is the rest of the
 * line. The first line written is "ready pid=PID uid=UID".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/mail_server.h"
#include "maps/map.h"
#include "maps/map_proxy.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/msg.h"

#define LINE_MAX_BYTES 100000

struct open_table {
    char *spec;
    int flags;
    struct map *map;
};

static struct open_table *tables;
static size_t table_count;

/* table - the open table for spec, opened now if needed; NULL + why. */
static struct map *table(const char *spec, int flags, struct buf *why)
{
    for (size_t i = 0; i < table_count; i++)
        if (tables[i].flags == flags && strcmp(tables[i].spec, spec) == 0)
            return tables[i].map;
    struct map *m = map_open(spec, flags, why);
    if (m == NULL)
        return NULL;
    tables = xreallocarray(tables, table_count + 1, sizeof(*tables));
    tables[table_count++] = (struct open_table){xstrdup(spec), flags, m};
    return m;
}

static void command(char *line)
{
    struct buf why = BUF_INIT, value = BUF_INIT;
    char *verb = line, *spec = NULL, *key = NULL;
    char *sp = strchr(line, ' ');

    if (sp != NULL) {
        *sp = 0;
        spec = sp + 1;
        if ((sp = strchr(spec, ' ')) != NULL) {
            *sp = 0;
            key = sp + 1;
        }
    }
    if (strcmp(verb, "pid") == 0) {
        printf("%ld\n", (long)getpid());
    } else if (strcmp(verb, "open") == 0 && spec != NULL) {
        if (table(spec, MAP_FOLD_CASE, &why) == NULL)
            printf("error: %s\n", buf_cstr(&why));
        else
            printf("ok\n");
    } else if ((strcmp(verb, "lookup") == 0 || strcmp(verb, "lookupcs") == 0) && key != NULL) {
        struct map *m = table(spec, strcmp(verb, "lookup") == 0 ? MAP_FOLD_CASE : 0, &why);
        if (m == NULL) {
            printf("error: %s\n", buf_cstr(&why));
        } else {
            switch (map_lookup(m, key, &value)) {
            case 1:
                printf("found: %s\n", buf_cstr(&value));
                break;
            case 0:
                printf("notfound\n");
                break;
            default:
                printf("tempfail: %s\n", map_error(m));
                break;
            }
        }
    } else {
        printf("error: bad command\n");
    }
    fflush(stdout);
    buf_free(&why);
    buf_free(&value);
}

int main(int argc, char **argv)
{
    const char *confdir = NULL;
    int do_chroot = 0, c;
    char *line;

    msg_init(argv[0]);
    while ((c = getopt(argc, argv, "c:C")) != -1) {
        switch (c) {
        case 'c':
            confdir = optarg;
            break;
        case 'C':
            do_chroot = 1;
            break;
        default:
            msg_fatal("usage: mapq [-c DIR] [-C]");
        }
    }
    signal(SIGPIPE, SIG_IGN);
    mail_conf_dir(confdir);
    mail_conf_read();
    const char *qdir = conf_str("queue_directory");
    if (chdir(qdir) < 0)
        msg_fatal("chdir(%s): %m", qdir);
    if (do_chroot) {
        if (getuid() != 0)
            msg_fatal("-C needs root");
        server_drop_privileges(conf_str("mail_owner"), qdir);
    }
    map_register(&map_proxy_ops);
    printf("ready pid=%ld uid=%ld\n", (long)getpid(), (long)getuid());
    fflush(stdout);

    line = xmalloc(LINE_MAX_BYTES);
    while (fgets(line, LINE_MAX_BYTES, stdin) != NULL) {
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, "quit") == 0)
            break;
        command(line);
    }
    free(line);
    for (size_t i = 0; i < table_count; i++) {
        map_close(tables[i].map);
        free(tables[i].spec);
    }
    free(tables);
    return 0;
}
