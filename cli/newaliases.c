/* newaliases - rebuild the aliases tables named in alias_database, like
 * Postfix's newaliases (which is postalias of $alias_database).
 *
 *   newaliases [-v] [-c config_dir]
 *
 * Each table of type lmdb/hash/btree is built from its text file in the
 * aliases format ("name: value, value"), keys folded to lower case. Other
 * table types have nothing to build and are skipped with a note. Any error
 * (FILE:LINE) leaves that table's previous version in place and makes the
 * exit status 1; the other tables are still built.
 */
#include "conf/mail_conf.h"
#include "maps/map.h"
#include "maps/map_file.h"
#include "util/argv.h"
#include "util/msg.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *dir_arg = NULL;
    int ch;

    msg_init("newaliases");
    while ((ch = getopt(argc, argv, "c:v")) != -1) {
        switch (ch) {
        case 'c':
            dir_arg = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            msg_fatal("usage: newaliases [-v] [-c config_dir]");
        }
    }
    if (optind != argc)
        msg_fatal("usage: newaliases [-v] [-c config_dir]");
    (void)mail_conf_dir(dir_arg);
    mail_conf_read();

    struct argv *tables = argv_split(conf_str("alias_database"), ", \t\r\n");
    struct buf why = BUF_INIT, spec = BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < tables->argc; i++) {
        buf_reset(&spec);
        if (strchr(tables->argv[i], ':') == NULL)
            buf_printf(&spec, "hash:%s", tables->argv[i]);
        else
            buf_puts(&spec, tables->argv[i]);
        char *type, *name;
        if (map_split(buf_cstr(&spec), &type, &name, &why) < 0) {
            msg_error("%s", buf_cstr(&why));
            rc = 1;
            buf_reset(&why);
            continue;
        }
        const struct map_ops *ops = map_find_type(type);
        if (ops != NULL && ops->update == NULL) {
            msg_info("%s: type %s has nothing to build; skipped", buf_cstr(&spec), type);
        } else {
            long n = map_file_build(buf_cstr(&spec), MAP_FILE_ALIASES | MAP_FILE_FOLD, &why);
            if (n < 0) {
                msg_error("%s", buf_cstr(&why));
                rc = 1;
            } else if (msg_verbose) {
                msg_info("%s: %ld aliases", buf_cstr(&spec), n);
            }
        }
        buf_reset(&why);
        free(type);
        free(name);
    }
    argv_free(tables);
    buf_free(&why);
    buf_free(&spec);
    return rc;
}
