/* master - what the master daemon's files share: the services built from
 * master.cf, the child processes, and the configuration snapshot master
 * works with.
 *
 * A service owns its listening sockets and a status pipe (master_proto.h).
 * Children are started on demand (Postfix master_avail_listen): master
 * watches a service's sockets only while none of its children is free, and
 * a readable socket starts one more child. After a reload a removed service
 * stays on the list, marked dead, until its last child is gone.
 */
#ifndef MASTER_MASTER_H
#define MASTER_MASTER_H

#include <sys/types.h>

#include "conf/master_cf.h"
#include "util/argv.h"
#include "util/buf.h"

#define MASTER_LISTEN_MAX 64 /* sockets per service (the skeleton's limit too) */
#define MASTER_BACKLOG    100

/* The settings master itself acts on. Taken at start-up and replaced only by
 * a reload that succeeds as a whole, so a broken main.cf never changes a
 * running master halfway. */
struct master_params {
    char *config_dir;
    char *queue_dir;
    char *daemon_dir;
    char *inet_interfaces;
    char *inet_protocols;
    char *import_environment;
    int proto4, proto6; /* inet_protocols, less what the host cannot do */
    long throttle_time;
    long stop_timeout;
    int process_limit;
};

struct master_serv {
    const struct master_ent *ent; /* in master_config; NULL once the service is dead */
    char *label;                  /* "NAME/TYPE", for logs */
    char *path;                   /* the program to run */
    char *sock_path;              /* unix, fifo: "private/NAME" or "public/NAME" */
    int listen_fd[MASTER_LISTEN_MAX];
    int listen_count;
    int listening;    /* listen_fd[] are being watched */
    int status_fd[2]; /* [0] master reads, [1] goes to children */
    int total_proc;   /* children alive */
    int avail_proc;   /* of those, the ones that are free for a client */
    int throttled;
    int used; /* has had a child (wakeup "N?") */
    int dead;
    struct master_serv *next;
};

struct master_proc {
    pid_t pid;
    struct master_serv *serv;
    int gen;        /* master_generation at fork */
    int avail;      /* counted in serv->avail_proc */
    int signalled;  /* the signal master sent it, 0 if none */
    long use_count; /* MASTER_STAT_TAKEN messages */
    struct master_proc *next;
};

/* master.c */
extern struct master_params master_params;
extern struct master_cf *master_config;
extern int master_generation;
extern pid_t master_pid;
/* master_params_load - fill p from the configuration now loaded. 0, or -1 + why. */
int master_params_load(struct master_params *p, const char *config_dir, struct buf *why);
void master_params_free(struct master_params *p);

/* master_service.c */
extern struct master_serv *master_services;
/* master_config_check - everything master can tell about cf before it opens
 * anything: supported types, programs that exist and are executable, no
 * two services on one socket path. 0, or -1 + "FILE:LINE: reason". */
int master_config_check(const struct master_cf *cf, const struct master_params *p, struct buf *why);
/* master_services_start - create and open every service of master_config. */
int master_services_start(struct buf *why);
/* master_services_reload - switch to cf (checked) and p: open, close and
 * restart what changed. Takes ownership of cf. 0, or -1 + why with the old
 * configuration still in place. */
int master_services_reload(struct master_cf *cf, struct master_params *p, struct buf *why);
/* master_services_close - close (and unlink) every listener: master stops. */
void master_services_close(void);
/* master_service_release - free a dead service once its last child is gone. */
void master_service_release(struct master_serv *serv);

/* master_spawn.c */
extern struct master_proc *master_procs;
extern int master_child_count;
/* master_avail_listen - watch or stop watching serv's sockets, as its free
 * children, process limit and throttle say. */
void master_avail_listen(struct master_serv *serv);
void master_listen_start(struct master_serv *serv);
void master_listen_stop(struct master_serv *serv);
void master_status_event(int fd, void *ctx);
/* master_reap - collect every child that has exited (waitpid WNOHANG). */
void master_reap(void);
/* master_signal_children - send sig to serv's children (all when serv is
 * NULL); they no longer count as free. */
void master_signal_children(struct master_serv *serv, int sig);
void master_unthrottle(void *ctx);
/* master_env_build - the children's environment from import_environment. */
struct argv *master_env_build(const struct master_params *p);
void master_env_set(struct argv *env);

/* master_wakeup.c */
/* master_wakeup_start - (re)start serv's wakeup timer; first one right away. */
void master_wakeup_start(struct master_serv *serv);
void master_wakeup_stop(struct master_serv *serv);

#endif
