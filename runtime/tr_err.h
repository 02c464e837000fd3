/* tr_err.h - the one error enum of the troupe runtime.
 *
 * Every runtime function that can fail returns an int: 0 (TR_OK) on success,
 * or one of the negative codes below. tr_strerror() names them. Modules above
 * the runtime reuse these codes so a failure keeps its meaning end to end. */
#ifndef TR_ERR_H
#define TR_ERR_H

typedef enum tr_err {
    TR_OK = 0,
    TR_EINVAL = -1,      /* an argument or input is malformed */
    TR_ENOMEM = -2,      /* out of memory */
    TR_ENOPROC = -3,     /* no live actor under that address */
    TR_ETIMEDOUT = -4,   /* a timeout or the message's deadline expired */
    TR_EFULL = -5,       /* the target's mailbox is full (fail-fast policy) */
    TR_EEXIST = -6,      /* a name is already registered */
    TR_ECLOSED = -7,     /* the system is shutting down */
    TR_ETRUNC = -8,      /* input ends before a complete value */
    TR_ETOOBIG = -9,     /* a value exceeds a configured limit */
    TR_EVERSION = -10,   /* unsupported envelope version */
    TR_ECRASH = -11,     /* an actor handler failed (crash) */
    TR_EINIT = -12,      /* an actor's init callback failed */
    TR_ESYS = -13,       /* an operating-system or ZeroMQ call failed */
    TR_ECONFIG = -14,    /* a configuration key has a bad value */
    TR_EREMOTE = -15,    /* the peer answered with an error reply */
    TR_ELIMIT = -16,     /* a resource limit was reached (actors, sockets) */
    TR_EUNAVAIL = -17,   /* a dependency (database, LLM, peer) is unavailable */
} tr_err_t;

/* Static, never NULL; "unknown error" for codes outside the enum. */
const char *tr_strerror(int err);

/* Stable machine-readable name ("ETIMEDOUT"), for error replies and logs. */
const char *tr_errname(int err);

#endif
