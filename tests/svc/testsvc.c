/* testsvc - a small service for the master and skeleton tests (not installed).
 *
 * The first master.cf argument picks the skeleton variant:
 *   single   one client at a time; line protocol below
 *   multi    many clients in one process; same protocol
 *   trigger  logs "trigger: BYTES" for each wakeup or trigger
 *   fail     dies during start-up (exit 1), to exercise throttling
 * Line protocol: a greeting "hello SERVICE pid=PID uid=UID", then "pid" →
 * PID, "quit" → close, anything else → "echo: LINE".
 */
#include "mail/mail_server.h"
#include "util/buf.h"
#include "util/events.h"
#include "util/msg.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void greet(struct stream *s, const struct server_ctx *ctx)
{
    msg_info("connect to %s", ctx->service);
    stream_printf(s, "hello %s pid=%ld uid=%ld\n", ctx->service, (long)getpid(), (long)getuid());
}

/* answer one line; 0 to go on, -1 to end the session */
static int answer(struct stream *s)
{
    struct buf line = BUF_INIT;
    int rc = -1;
    enum stream_line r = stream_get_line(s, &line, 1024);
    if (r == STREAM_LINE_OK && !(s->flags & STREAM_F_EOF)) {
        if (line.len && line.data[line.len - 1] == '\r')
            buf_truncate(&line, line.len - 1);
        if (strcmp(line.data, "quit") == 0) {
            stream_puts(s, "bye\n");
        } else {
            if (strcmp(line.data, "pid") == 0)
                stream_printf(s, "%ld\n", (long)getpid());
            else
                stream_printf(s, "echo: %s\n", line.data);
            rc = 0;
        }
    }
    buf_free(&line);
    if (stream_flush(s) < 0)
        rc = -1;
    return rc;
}

static void single_service(struct stream *s, const struct server_ctx *ctx)
{
    greet(s, ctx);
    if (stream_flush(s) < 0)
        return;
    while (answer(s) == 0)
        ;
}

static void multi_input(int fd, void *ctx)
{
    struct stream *s = ctx;
    (void)fd;
    /* Serve every complete line already buffered before waiting again. */
    do {
        if (answer(s) < 0) {
            multi_server_disconnect(s);
            return;
        }
    } while (stream_pending(s) > 0);
}

static void multi_connect(struct stream *s, const struct server_ctx *ctx)
{
    greet(s, ctx);
    if (stream_flush(s) < 0) {
        multi_server_disconnect(s);
        return;
    }
    event_read(s->fd, multi_input, s);
}

static void trigger(const char *bytes, size_t len, const struct server_ctx *ctx)
{
    msg_info("trigger: %.*s", (int)len, bytes);
}

static void fail_at_start(const struct server_ctx *ctx)
{
    msg_fatal("%s: configured to fail at start-up", ctx->service);
}

int main(int argc, char **argv)
{
    /* The mode is the first non-option argument; the skeleton parses the rest. */
    const char *mode = "single";
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-' && (i == 1 || argv[i - 1][0] != '-' || strlen(argv[i - 1]) != 2 ||
                                  strchr("cntso", argv[i - 1][1]) == NULL)) {
            mode = argv[i];
            break;
        }
    }
    struct server_ops ops = {0};
    if (strcmp(mode, "multi") == 0) {
        ops.connect = multi_connect;
        return multi_server_main(argc, argv, &ops);
    }
    if (strcmp(mode, "trigger") == 0) {
        ops.trigger = trigger;
        return trigger_server_main(argc, argv, &ops);
    }
    ops.service = single_service;
    if (strcmp(mode, "fail") == 0)
        ops.post_init = fail_at_start;
    return single_server_main(argc, argv, &ops);
}
