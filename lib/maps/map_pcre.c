/* map_pcre - pcre: tables (Postfix's pcre_table(5)) over PCRE2: the engine
 * for the rule language in map_regexp.c. Flags toggle PCRE2 options, with
 * Postfix's defaults: case-insensitive (i) and dot-matches-newline (s) on.
 *
 * A key is hostile text (a client name, a header line), so every match
 * runs under a match and depth limit; hitting one is a temporary failure
 * of the lookup (mail is deferred and the reason logged), never a silent
 * "no match" that would let crafted input slip past a check.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "maps/map_types.h"

#include "util/alloc.h"

#include <pcre2.h>
#include <stdlib.h>

/* Backtracking bounds per match. The match limit caps the work of one
 * lookup (PCRE2's own default is 10 000 000); the depth limit caps the
 * backtracking memory. */
#define MAP_PCRE_MATCH_LIMIT 1000000
#define MAP_PCRE_DEPTH_LIMIT 100000

struct pcre_re {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mc;
};

static void error_text(int code, struct buf *why)
{
    PCRE2_UCHAR msg[256];
    if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
        buf_printf(why, "PCRE2 error %d", code);
    else
        buf_puts(why, (const char *)msg);
}

static void pcre_free_re(void *p)
{
    struct pcre_re *re = p;
    pcre2_match_context_free(re->mc);
    pcre2_match_data_free(re->md);
    pcre2_code_free(re->code);
    free(re);
}

static void *pcre_compile_re(const char *pattern, const char *flags, size_t *groups,
                             struct buf *why)
{
    uint32_t options = PCRE2_CASELESS | PCRE2_DOTALL;
    for (const char *f = flags; *f != 0; f++) {
        switch (*f) {
        case 'i':
            options ^= PCRE2_CASELESS;
            break;
        case 'm':
            options ^= PCRE2_MULTILINE;
            break;
        case 's':
            options ^= PCRE2_DOTALL;
            break;
        case 'x':
            options ^= PCRE2_EXTENDED;
            break;
        case 'A':
            options ^= PCRE2_ANCHORED;
            break;
        case 'E':
            options ^= PCRE2_DOLLAR_ENDONLY;
            break;
        case 'U':
            options ^= PCRE2_UNGREEDY;
            break;
        case 'X':
            /* PCRE's "extra" (unknown escapes are errors) is always on in
             * PCRE2; Postfix accepts the flag and so do we. */
            break;
        default:
            buf_printf(why, "unknown flag '%c' (pcre: tables know i, m, s, x, A, E, U and X)", *f);
            return NULL;
        }
    }
    int err;
    PCRE2_SIZE offset;
    struct pcre_re *re = xcalloc(1, sizeof(*re));
    re->code =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, &err, &offset, NULL);
    if (re->code == NULL) {
        error_text(err, why);
        buf_printf(why, " at offset %zu", (size_t)offset);
        free(re);
        return NULL;
    }
    uint32_t count = 0;
    re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
    re->mc = pcre2_match_context_create(NULL);
    if (re->md == NULL || re->mc == NULL ||
        pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &count) != 0) {
        buf_puts(why, "out of memory in PCRE2");
        pcre_free_re(re);
        return NULL;
    }
    pcre2_set_match_limit(re->mc, MAP_PCRE_MATCH_LIMIT);
    pcre2_set_depth_limit(re->mc, MAP_PCRE_DEPTH_LIMIT);
    *groups = count;
    return re;
}

static int pcre_exec_re(void *p, const char *subject, size_t len, size_t *ov, size_t nov,
                        struct buf *why)
{
    struct pcre_re *re = p;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, re->md, re->mc);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0) {
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
            rc == PCRE2_ERROR_HEAPLIMIT)
            buf_puts(why, "PCRE2 match limit exceeded: ");
        error_text(rc, why);
        return -1;
    }
    /* rc is the number of pairs set (0: all of them, which cannot happen
     * with match data sized from the pattern). */
    uint32_t set = rc == 0 ? pcre2_get_ovector_count(re->md) : (uint32_t)rc;
    const PCRE2_SIZE *v = pcre2_get_ovector_pointer(re->md);
    for (size_t i = 0; i < nov; i++) {
        /* \K can leave a start after the end: treat such a group as unset. */
        if (i >= set || v[2 * i] == PCRE2_UNSET || v[2 * i] > v[2 * i + 1] || v[2 * i + 1] > len) {
            ov[2 * i] = ov[2 * i + 1] = MAP_RE_UNSET;
        } else {
            ov[2 * i] = v[2 * i];
            ov[2 * i + 1] = v[2 * i + 1];
        }
    }
    return 1;
}

const struct map_re_engine map_pcre_engine = {
    .type = "pcre",
    .compile = pcre_compile_re,
    .exec = pcre_exec_re,
    .free = pcre_free_re,
};

static int pcre_open(struct map *m, struct buf *why)
{
    return map_re_open(m, &map_pcre_engine, why);
}

const struct map_ops map_pcre_ops = {
    .type = "pcre",
    .flags = MAP_OPS_NO_FOLD | MAP_OPS_PATTERN,
    .open = pcre_open,
    .lookup = map_re_lookup,
    .close = map_re_close,
};
