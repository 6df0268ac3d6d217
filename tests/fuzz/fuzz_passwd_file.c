/* fuzz_passwd_file - libFuzzer target for the Dovecot passwd-file parser.
 * Every input parses; each line yields at most one entry or one warning;
 * entries are sorted, unique, found by lookup, with valid user names, no
 * control bytes in passwords, and line numbers inside the input; every
 * warning names the file and a line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passwd_file.h"
#include "auth/sasl_mech.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct passwd_file_table t = {0};
    struct argv *w = argv_alloc();
    struct buf why = BUF_INIT;
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (size && data[size - 1] != '\n')
        lines++;
    size_t n = passwd_file_parse("fuzz", (const char *)data, size, &t, w);
    if (n != t.n || n + w->argc > lines)
        abort();
    for (size_t i = 0; i < t.n; i++) {
        const struct passwd_file_entry *e = &t.v[i];
        if (i > 0 && strcmp(t.v[i - 1].user, e->user) >= 0)
            abort();
        if (passwd_file_table_lookup(&t, e->user) != e)
            abort();
        if (!sasl_name_valid(e->user, strlen(e->user), &why))
            abort();
        for (const char *c = e->password; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                abort();
        if (e->line == 0 || e->line > lines)
            abort();
    }
    for (size_t i = 0; i < w->argc; i++)
        if (strncmp(w->argv[i], "fuzz:", 5) != 0)
            abort();
    passwd_file_table_free(&t);
    argv_free(w);
    buf_free(&why);
    return 0;
}
