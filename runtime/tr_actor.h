/* tr_actor.h - the actor system: actors, mailboxes, send/ask/reply,
 * registry, monitors, timers and dead letters.
 *
 * An actor is a thread with private state, a ZeroMQ inproc PULL socket as
 * its mailbox, and a behaviour (init / handle / terminate). Senders write
 * straight into the target's mailbox through a per-thread cache of PUSH
 * sockets: there is no broker thread on the local send path.
 *
 * Crashes. A handler that returns non-zero, or calls tr_exit(), has crashed:
 * the actor terminates (terminate() runs with the reason) and every monitor
 * (its supervisor among them) receives a "tr.down" message. The runtime
 * cannot contain a fault that corrupts the process (a wild pointer, abort(),
 * a stack overflow): work that can really crash - running external tools,
 * parsing with third-party code of unknown quality - belongs in a child
 * process that the actor starts, limits and waits for.
 *
 * Mailbox bounds. Each actor's mailbox is bounded (`mailbox_size` messages
 * per sending thread; ZeroMQ's high-water mark) and has an overflow policy:
 *   TR_OVERFLOW_BLOCK      the sender waits for room up to its deadline
 *                          (or the system's send timeout), then fails
 *                          with TR_ETIMEDOUT;
 *   TR_OVERFLOW_FAIL       the sender fails at once with TR_EFULL;
 *   TR_OVERFLOW_DROP_OLDEST the actor keeps the newest `mailbox_size`
 *                          messages and evicts the oldest (telemetry).
 * Nothing is lost silently: every message that cannot be delivered (dead
 * target, full mailbox, expired deadline, evicted, left in a stopping
 * actor's mailbox) is a dead letter: counted in
 * troupe_dead_letters_total{reason} and per actor, and logged (rate-limited).
 * An undeliverable `ask` gets an immediate "tr.error" reply, so callers
 * never wait for a request that is already lost.
 *
 * Threads. Any thread may send and ask; each keeps its own socket cache.
 * A thread that is not an actor and that used the runtime must call
 * tr_thread_done(sys) before it exits or before tr_system_destroy (threads
 * that simply exit are cleaned up automatically). */
#ifndef TR_ACTOR_H
#define TR_ACTOR_H

#include "tr_envelope.h"
#include "tr_err.h"
#include "tr_metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tr_system tr_system_t;
typedef struct tr_actor tr_actor_t; /* an actor's own handle, given to its callbacks */
typedef uint64_t tr_pid_t;          /* slot index << 32 | generation; 0 = none */

/* A received message: the decoded envelope, valid only during handle(). */
typedef tr_envelope_t tr_msg_t;

typedef struct tr_behaviour {
    const char *kind; /* for logs and metrics: "store", "echo" */
    /* Builds the state. Non-zero = the spawn fails (TR_EINIT to the spawner). */
    int (*init)(tr_actor_t *self, void *arg, void **state);
    /* Handles one message. Non-zero = crash. msg->type "tr.timeout" is a
     * timeout tick when `timeout` is set. */
    int (*handle)(tr_actor_t *self, void *state, const tr_msg_t *msg);
    /* Releases the state; always runs once after a successful init, whatever
     * the reason ("normal", "shutdown", "crash: ..."). May be NULL. */
    void (*terminate)(tr_actor_t *self, void *state, const char *reason);
    /* Optional: milliseconds until the actor wants a "tr.timeout" message
     * (-1 = none). Asked before each wait for the next message. */
    int (*timeout)(tr_actor_t *self, void *state);
    /* Optional: a ZeroMQ socket the actor owns (made in init, closed in
     * terminate) to be polled beside its mailbox, e.g. a ROUTER that
     * outside clients talk to; NULL = none. Asked before each wait. When it
     * is readable, `ready` runs on the actor's thread (mailbox messages go
     * first); non-zero = crash, like handle. */
    void *(*watch)(tr_actor_t *self, void *state);
    int (*ready)(tr_actor_t *self, void *state);
} tr_behaviour_t;

typedef enum {
    TR_OVERFLOW_BLOCK = 0,
    TR_OVERFLOW_FAIL = 1,
    TR_OVERFLOW_DROP_OLDEST = 2,
} tr_overflow_t;

typedef struct tr_actor_opts {
    int mailbox_size;       /* 0 = system default */
    tr_overflow_t overflow; /* default BLOCK */
    size_t stack_size;      /* 0 = system default */
    tr_pid_t monitor_by;    /* installed before the actor runs (supervisors) */
    bool replace_name;      /* take over the name if its holder is dead */
} tr_actor_opts_t;

typedef struct tr_system_opts {
    int max_actors;          /* 0 = 65536 */
    int mailbox_size;        /* default per-actor bound, 0 = 1000 */
    int send_timeout_ms;     /* BLOCK senders without a deadline, 0 = 5000 */
    size_t stack_size;       /* default actor stack, 0 = 256 KiB */
    size_t max_message;      /* envelope size limit, 0 = 16 MiB */
    int dead_letter_log_per_s; /* 0 = 100 */
    const char *node;        /* node name for "name@node" addresses, NULL = "local" */
    int trace_recent;        /* spans kept for lookups, 0 = 8192 */
    int trace_queue;         /* spans waiting for export, 0 = 8192 */
} tr_system_opts_t;

/* ---- system ---- */

/* Creates a system: a ZeroMQ context, the actor table, the metrics registry
 * and the timer service. Raises RLIMIT_NOFILE to its hard limit. */
int tr_system_new(const tr_system_opts_t *opts, tr_system_t **out);
/* Stops every actor still running (newest first; terminate() runs for
 * each), then frees everything. Sets *self_p to NULL. */
void tr_system_destroy(tr_system_t **self_p);
tr_metrics_t *tr_system_metrics(tr_system_t *sys);
const char *tr_system_node(tr_system_t *sys);
/* Names the local actor that carries messages to other nodes: a send to
 * "name@node" (node not this one) is delivered to it, envelope unchanged
 * ("to" keeps the node). NULL or "" = none (such sends fail TR_ENOPROC). */
void tr_system_set_router(tr_system_t *sys, const char *name);
/* Number of live actors (including the runtime's own). */
int tr_system_actor_count(tr_system_t *sys);
/* Releases the calling non-actor thread's sockets (see header comment). */
void tr_thread_done(tr_system_t *sys);

/* Shutdown requests (a root supervisor escalating, or a signal): any thread
 * may request; the main thread waits. */
void tr_system_request_shutdown(tr_system_t *sys, const char *reason);
/* Waits up to timeout_ms (-1 forever) for a request; returns true if one
 * came and copies its reason. */
bool tr_system_wait_shutdown(tr_system_t *sys, int timeout_ms, char *reason, size_t cap);

/* ---- actors ---- */

/* Spawns an actor and waits until its init() has returned. name may be NULL
 * (an anonymous actor gets "actor-<n>"). Errors: TR_EEXIST (name taken by a
 * live actor), TR_EINIT (init failed; reason logged), TR_ELIMIT, TR_ESYS,
 * TR_ECLOSED. */
int tr_spawn(tr_system_t *sys, const char *name, const tr_behaviour_t *behaviour, void *arg,
             const tr_actor_opts_t *opts, tr_pid_t *pid);

/* Asks an actor to stop with `reason` ("shutdown" by default) and waits up
 * to timeout_ms (-1 forever) for its thread to finish. Messages still in its
 * mailbox become dead letters. TR_ENOPROC if already dead; TR_ETIMEDOUT if it
 * did not stop in time (it will still stop after its current handler). */
int tr_stop(tr_system_t *sys, tr_pid_t pid, const char *reason, int timeout_ms);

/* Waits for an actor to finish (no stop request). */
int tr_wait(tr_system_t *sys, tr_pid_t pid, int timeout_ms);

bool tr_alive(tr_system_t *sys, tr_pid_t pid);
/* Registry: the live actor under `name` (local names; "name@<this node>"
 * accepted). TR_ENOPROC if none: never blocks. */
int tr_lookup(tr_system_t *sys, const char *name, tr_pid_t *pid);
/* Copies the name of a live actor; TR_ENOPROC if dead. */
int tr_name_of(tr_system_t *sys, tr_pid_t pid, char *buf, size_t cap);

/* Figures of a live actor (for health reports). TR_ENOPROC if dead. */
typedef struct tr_actor_stats {
    uint64_t messages_in;
    uint64_t messages_out;
    uint64_t mailbox_depth; /* sent to it and not yet handled */
    uint64_t dead_letters;
    double handler_seconds;
} tr_actor_stats_t;
int tr_actor_stats(tr_system_t *sys, tr_pid_t pid, tr_actor_stats_t *out);

/* ---- inside an actor ---- */
tr_system_t *tr_self_system(tr_actor_t *self);
tr_pid_t tr_self_pid(tr_actor_t *self);
const char *tr_self_name(tr_actor_t *self);
/* The calling thread's actor, or NULL on a non-actor thread. */
tr_actor_t *tr_current(void);

/* After the current handler returns, stop normally (reason "normal"). */
void tr_stop_self(tr_actor_t *self);
/* Records a crash reason (printf-style) and returns TR_ECRASH, for
 * `return tr_fail(self, "bad input: %s", why);` in a handler. */
int tr_fail(tr_actor_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Leaves the handler at once: a crash with `reason` (or a normal stop if
 * reason is "normal"). Does not return. Only from the actor's own thread,
 * inside init/handle; resources the handler holds are not released. */
_Noreturn void tr_exit(tr_actor_t *self, const char *reason);

/* ---- messages ---- */

typedef struct tr_send_opts {
    const char *reply_to; /* address for replies; NULL = none */
    uint64_t corr;        /* correlation id */
    uint64_t deadline_ms; /* absolute Unix ms; 0 = inherit the current message's */
    const uint8_t *trace_id; /* 16 bytes, NULL = inherit / none */
    const uint8_t *span_id;  /* 8 bytes */
    uint8_t trace_flags;
    bool no_inherit; /* do not take the current message's deadline: for hand-offs
                        whose receiver must see the message even late (it
                        carries its own deadline inside) */
    bool no_wait;    /* a full mailbox is TR_EFULL at once, whatever the
                        target's overflow policy (for senders that serve many:
                        a gateway must not stall on one stuck actor) */
} tr_send_opts_t;

/* Sends one message. `payload` is one MessagePack object (or NULL/0).
 * Returns 0 when the message is in the target's mailbox. Errors (each also a
 * dead letter): TR_ENOPROC, TR_EFULL, TR_ETIMEDOUT, TR_EINVAL, TR_ETOOBIG.
 * `to` is "name", "name@node" (this node only until the cluster lands). */
int tr_send(tr_system_t *sys, const char *to, const char *type, const void *payload, size_t len);
/* Delivers an envelope that came from another node to the local actor its
 * "to" names ("name@<this node>"), keeping its id, from, reply_to, corr,
 * deadline and trace context. Never waits: a full mailbox is TR_EFULL, no
 * such actor TR_ENOPROC. TR_EINVAL for any other node. */
int tr_forward(tr_system_t *sys, const tr_msg_t *msg);
int tr_send_ex(tr_system_t *sys, const char *to, const char *type, const void *payload, size_t len,
               const tr_send_opts_t *opts);
/* Same, addressed by pid (skips the name lookup). */
int tr_send_pid(tr_system_t *sys, tr_pid_t to, const char *type, const void *payload, size_t len,
                const tr_send_opts_t *opts);

/* A reply received by tr_ask: the envelope plus the bytes it points into. */
typedef struct tr_reply {
    tr_msg_t msg;
    void *raw; /* owned; freed by tr_reply_close */
} tr_reply_t;

/* Request/reply. Waits up to timeout_ms for the reply (the message carries
 * deadline = now + timeout, or the current message's earlier deadline).
 * On success *reply must be closed with tr_reply_close. If the target
 * answers with a "tr.error" message, returns TR_EREMOTE and still fills
 * *reply so the caller can read {code, message}. TR_ETIMEDOUT on timeout. */
int tr_ask(tr_system_t *sys, const char *to, const char *type, const void *payload, size_t len,
           int timeout_ms, tr_reply_t *reply);
/* tr_ask with a trace context and/or an earlier deadline from `opts`
 * (its reply_to and corr are ignored). */
int tr_ask_ex(tr_system_t *sys, const char *to, const char *type, const void *payload, size_t len,
              int timeout_ms, const tr_send_opts_t *opts, tr_reply_t *reply);
void tr_reply_close(tr_reply_t *reply);

/* Replies to `req` (which must carry reply_to). TR_EINVAL if it has none. */
int tr_reply(tr_actor_t *self, const tr_msg_t *req, const char *type, const void *payload, size_t len);
/* Replies with type "tr.error", payload {code: tr_errname(err), message}. */
int tr_reply_error(tr_actor_t *self, const tr_msg_t *req, int err, const char *message);
/* Reads {code, message} from a "tr.error" message into the buffers. */
int tr_error_parse(const tr_msg_t *msg, char *code, size_t code_cap, char *message, size_t msg_cap);

/* ---- monitors ---- */

/* The calling actor receives one "tr.down" message when `target` ends,
 * payload {pid: uint, name: str, reason: str}. If the target is already
 * dead, "tr.down" with reason "noproc" comes at once. Returns a monitor ref
 * (> 0) for tr_demonitor, or a negative error. */
int64_t tr_monitor(tr_actor_t *self, tr_pid_t target);
void tr_demonitor(tr_actor_t *self, tr_pid_t target, int64_t ref);
/* Reads a "tr.down" payload. name/reason buffers may be NULL. */
int tr_down_parse(const tr_msg_t *msg, tr_pid_t *pid, char *name, size_t name_cap, char *reason,
                  size_t reason_cap);

/* ---- timers ---- */

/* Delivers `type`/`payload` to `to` after delay_ms, once, or every
 * interval_ms if `interval_ms` > 0. Returns a timer id (> 0) or an error.
 * Timers are kept by the runtime's timer actor ("tr.timers"). */
int64_t tr_send_after(tr_system_t *sys, int delay_ms, const char *to, const char *type, const void *payload,
                      size_t len);
int64_t tr_send_interval(tr_system_t *sys, int interval_ms, const char *to, const char *type,
                         const void *payload, size_t len);
int tr_timer_cancel(tr_system_t *sys, int64_t timer_id);

/* ---- dead letters ---- */
uint64_t tr_dead_letters(tr_system_t *sys); /* total so far */

#endif
