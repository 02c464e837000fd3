/* tr_internal.h - shared insides of the runtime's system, mailbox and
 * supervisor modules. Not installed; nothing outside runtime/ includes it. */
#ifndef TR_INTERNAL_H
#define TR_INTERNAL_H

#include "tr_actor.h"
#include "tr_metrics.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <zmq.h>

#define TR_CHUNK 1024
#define TR_REASON_MAX 256
#define TR_NAME_MAX (TR_ENV_MAX_ADDR + 1)

enum { ST_FREE = 0, ST_STARTING, ST_ALIVE, ST_STOPPING, ST_DEAD };

typedef struct tr_watcher {
    tr_pid_t pid;
    int64_t ref;
    struct tr_watcher *next;
} tr_watcher_t;

/* Records are allocated in chunks and never freed before the system, so any
 * thread may read one through a stale pid and see, by its generation, that
 * the actor it meant is gone. */
struct tr_actor {
    tr_system_t *sys;
    uint32_t index;
    _Atomic uint32_t gen;
    _Atomic int state;
    _Atomic int inflight; /* senders between their liveness check and send */
    bool is_reply;        /* a thread's reply endpoint: no thread of its own */
    uint64_t spawn_seq;
    char name[TR_NAME_MAX];
    char endpoint[48];
    const tr_behaviour_t *beh;
    void *arg;
    void *state_ptr;
    tr_actor_opts_t opts;
    void *sock;
    pthread_t thread;

    /* figures written by the owner thread (its own cache line) ... */
    _Alignas(64) _Atomic uint64_t msgs_in;
    _Atomic uint64_t msgs_out;
    _Atomic uint64_t handle_ns; /* sampled: 1 message in 8, scaled */
    /* ... and by senders (another line: no false sharing on the hot path) */
    _Alignas(64) _Atomic uint64_t sent;
    _Atomic uint64_t dead_letters;
    char pad_[48];

    /* lifecycle, under sys->mu */
    bool init_done;
    int init_rc;
    _Atomic bool stop_requested;
    char stop_reason[TR_REASON_MAX];
    char reason[TR_REASON_MAX];
    tr_watcher_t *watchers;

    /* owner-thread only */
    jmp_buf exit_jmp;
    bool in_callback;
    const tr_msg_t *cur;
    /* The message being handled lives here, not on the loop's stack: after a
     * tr_exit() longjmp those frames are gone, and the runtime still has to
     * answer the asker and free the message. */
    tr_envelope_t cur_env;
    zmq_msg_t cur_msg;
    zmq_msg_t *cur_raw; /* &cur_msg or a ring slot while handling; else NULL */
    uint8_t cur_span[8];
    bool replied;
    bool stop_self;
    zmq_msg_t *ring; /* DROP_OLDEST buffer */
    int ring_head, ring_len;

    struct tr_actor *free_next;
};

typedef struct tr_cache tr_cache_t;

struct tr_system {
    void *zctx;
    tr_system_opts_t opts;
    char node[64];
    char router[TR_NAME_MAX]; /* the actor carrying messages to other nodes; "" = none */
    pthread_mutex_t mu;
    pthread_cond_t ended; /* broadcast when an actor finishes or inits */
    tr_actor_t **chunks;
    uint32_t nchunks, maxchunks, used;
    tr_actor_t *free_list;
    int live;
    uint64_t spawn_seq;
    bool closing;
    uint64_t anon_seq;

    /* registry: name → pid, open addressing */
    pthread_rwlock_t reg_lock;
    struct reg_entry { char *name; tr_pid_t pid; } *reg;
    size_t reg_cap, reg_n;

    /* threads that have finished and wait to be joined */
    pthread_t *zombies;
    size_t nzombies, zcap;

    tr_cache_t *caches; /* every thread cache of this system (g_cache_mu) */

    tr_metrics_t *metrics;
    struct tr_trace *trace;
    tr_metric_t *dl_total[8];
    _Atomic uint64_t dead_letters;
    _Atomic uint64_t dl_window_start;
    _Atomic int dl_window_count;

    _Atomic int64_t next_timer_id;
    _Atomic uint64_t next_monitor_ref;

    pthread_mutex_t sd_mu;
    pthread_cond_t sd_cv;
    bool sd_requested;
    char sd_reason[TR_REASON_MAX];
};

/* dead-letter reasons (index into sys->dl_total) */
enum { DL_NOPROC, DL_FULL, DL_TIMEOUT, DL_EXPIRED, DL_STOPPED, DL_DROPPED, DL_MALFORMED, DL_LATE };
extern const char *const tr_dl_reasons[8];

/* system.c */
tr_actor_t *tr__record(tr_system_t *sys, tr_pid_t pid); /* NULL if pid is out of range */
bool tr__accepts(tr_actor_t *rec, tr_pid_t pid);         /* STARTING/ALIVE and same gen */
tr_pid_t tr__pid_of(const tr_actor_t *rec);
int tr__resolve(tr_system_t *sys, const char *to, tr_pid_t *pid);
tr_actor_t *tr__reply_record_new(tr_system_t *sys);
void tr__reply_record_free(tr_actor_t *rec);
void tr__dead_letter(tr_system_t *sys, tr_actor_t *target, int reason, const tr_envelope_t *env);
extern _Thread_local tr_actor_t *tr__self;

/* mailbox.c */
void tr__cache_release_all(tr_system_t *sys, bool own_thread_only);
void tr__thread_release(tr_system_t *sys);
/* wait_ms for tr__send_env: -1 = the target's policy, -2 = never wait,
 * TR_WAIT_CONTROL = never wait and, on failure, no dead letter: the
 * runtime's own signals (the tr.stop wake-up) are not messages anyone
 * sent, so losing one to an actor that is already going loses nothing. */
#define TR_WAIT_CONTROL (-3)
int tr__send_env(tr_system_t *sys, tr_pid_t pid, tr_envelope_t *env, int64_t wait_ms);
/* Sends on the runtime's own behalf (timers): nothing is inherited from the
 * message being handled - no deadline, no trace - and the message gets no
 * deadline of its own; a full BLOCK mailbox is waited for at most wait_ms
 * (-1 = the system's send timeout). */
int tr__send_plain(tr_system_t *sys, const char *to, const char *type, const void *payload, size_t len,
                   int64_t wait_ms);
void tr__fill_out(tr_system_t *sys, tr_envelope_t *env, const char *type, const void *payload, size_t len,
                  const tr_send_opts_t *opts);
void tr__error_reply_raw(tr_system_t *sys, const tr_envelope_t *req, int err, const char *message);
int tr__send_down(tr_system_t *sys, tr_pid_t watcher, tr_pid_t dead, const char *name, const char *reason);

/* timer.c */
extern const tr_behaviour_t tr__timer_behaviour;

#endif
