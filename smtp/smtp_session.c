/* smtp_session - connection reuse through scache(8), the cache of idle
 * sessions shared by every smtp and lmtp process (as Postfix does it).
 *
 * After a transaction that went well (and an RSET) a plaintext session is
 * handed to scache with its record (mail/scache_client.h) under the
 * destination label (service, next hop, TLS level) and the endpoint label
 * (service, server address and port, TLS level); the process then closes
 * its copy. smtp.c does this before it answers qmgr, so the next request
 * qmgr sends for the destination, to whichever process, finds the session;
 * a process never keeps a connection of its own, and the connections to a
 * destination stay within qmgr's concurrency limit.
 *
 * A session is not cached when it runs TLS (the TLS state cannot be passed
 * on; Postfix before 3.4 did not cache TLS sessions either), when it is
 * older than smtp_connection_reuse_time_limit, when it has been used
 * smtp_connection_reuse_count_limit times (if set), or when scache is not
 * running: then it ends with QUIT. scache closes idle sessions after
 * smtp_connection_cache_time_limit.
 */
#include "smtp.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/scache_client.h"
#include "util/alloc.h"
#include "util/msg.h"

#define SCACHE_PATH    "private/scache"
#define SCACHE_TIMEOUT 5

/* copy - src into out[size], cut when it does not fit (the record was
 * checked by scache_rec_decode; our own names always fit). */
static void copy(char *out, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(out, src, n);
    out[n] = 0;
}

struct smtp_sess *smtp_cache_take(const char *label)
{
    struct scache_rec rec;
    struct buf why = BUF_INIT;
    struct smtp_sess *ss = NULL;

    if (smtp_conf.cache_time_limit <= 0) {
        buf_free(&why);
        return NULL;
    }
    /* a session that died while cached is closed and the next one tried */
    for (int tries = 0; tries < 4 && ss == NULL; tries++) {
        int fd = scache_get(SCACHE_PATH, label, &rec, SCACHE_TIMEOUT, &why);
        if (fd < 0) {
            if (why.len && msg_verbose)
                msg_info("scache: %s", buf_cstr(&why));
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 0) != 0) {
            close(fd); /* the server hung up or spoke unasked */
            continue;
        }
        ss = xcalloc(1, sizeof(*ss));
        ss->s = stream_open(fd, smtp_conf.helo_timeout);
        copy(ss->host, sizeof(ss->host), rec.host);
        copy(ss->addr, sizeof(ss->addr), rec.addr);
        copy(ss->relay, sizeof(ss->relay), rec.relay);
        copy(ss->name, sizeof(ss->name), rec.name);
        copy(ss->key, sizeof(ss->key), rec.dest);
        copy(ss->endp, sizeof(ss->endp), rec.endp);
        ss->ehlo = rec.ehlo;
        ss->esmtp = rec.esmtp;
        ss->born = (time_t)rec.born;
        ss->uses = (long)rec.uses;
        ss->reused = 1;
    }
    buf_free(&why);
    return ss;
}

void smtp_cache_put(struct smtp_sess *ss)
{
    struct scache_rec rec;
    struct buf why = BUF_INIT;
    time_t now = time(NULL);

    if (ss->tls != NULL || ss->broken || smtp_conf.cache_time_limit <= 0 ||
        now - ss->born >= smtp_conf.reuse_time_limit ||
        (smtp_conf.reuse_count_limit > 0 && ss->uses >= smtp_conf.reuse_count_limit) ||
        stream_pending(ss->s) > 0 || stream_flush(ss->s) < 0) {
        smtp_session_end(ss, 1);
        return;
    }
    memset(&rec, 0, sizeof(rec));
    copy(rec.dest, sizeof(rec.dest), ss->key);
    copy(rec.endp, sizeof(rec.endp), ss->endp);
    copy(rec.host, sizeof(rec.host), ss->host);
    copy(rec.addr, sizeof(rec.addr), ss->addr);
    copy(rec.relay, sizeof(rec.relay), ss->relay);
    copy(rec.name, sizeof(rec.name), ss->name);
    rec.ehlo = ss->ehlo;
    rec.esmtp = ss->esmtp;
    rec.born = ss->born;
    rec.uses = ss->uses;
    rec.ttl = smtp_conf.cache_time_limit;
    if (scache_put(SCACHE_PATH, ss->s->fd, &rec, SCACHE_TIMEOUT, &why) < 0) {
        if (msg_verbose)
            msg_info("scache: %s", buf_cstr(&why));
        smtp_session_end(ss, 1);
    } else {
        ss->broken = 1; /* our copy: close it, say nothing */
        smtp_session_end(ss, 0);
    }
    buf_free(&why);
}
