/* tr_timer.c - the timer service: one runtime actor ("tr.timers") that keeps
 * a min-heap of pending deliveries and sleeps until the next one is due. */
#include "tr_clock.h"
#include "tr_internal.h"
#include "tr_log.h"
#include "tr_mp.h"

#include <stdlib.h>
#include <string.h>

/* A due message may wait this long for room in a full BLOCK mailbox: the
 * timer actor serves everyone and must not stall behind one busy actor.
 * It bounds the send only - the delivered message has no deadline, so a
 * receiver that is busy for a while still gets its tick. */
#define TIMER_SEND_WAIT_MS 100

typedef struct {
    int64_t id;
    uint64_t due;      /* monotonic ms */
    uint64_t interval; /* 0 = once */
    char *to, *type;
    uint8_t *payload;
    size_t len;
} timer_t_;

typedef struct {
    timer_t_ *heap;
    size_t n, cap;
} timers_t;

static void heap_swap(timers_t *t, size_t a, size_t b)
{
    timer_t_ x = t->heap[a];
    t->heap[a] = t->heap[b];
    t->heap[b] = x;
}

static void sift_up(timers_t *t, size_t i)
{
    while (i > 0 && t->heap[(i - 1) / 2].due > t->heap[i].due) {
        heap_swap(t, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(timers_t *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && t->heap[l].due < t->heap[m].due)
            m = l;
        if (r < t->n && t->heap[r].due < t->heap[m].due)
            m = r;
        if (m == i)
            return;
        heap_swap(t, i, m);
        i = m;
    }
}

static void timer_free(timer_t_ *x)
{
    free(x->to);
    free(x->type);
    free(x->payload);
}

static void heap_remove(timers_t *t, size_t i)
{
    timer_free(&t->heap[i]);
    t->heap[i] = t->heap[--t->n];
    if (i < t->n) {
        sift_down(t, i);
        sift_up(t, i);
    }
}

static int t_init(tr_actor_t *self, void *arg, void **state)
{
    timers_t *t = calloc(1, sizeof *t);
    if (!t)
        return TR_ENOMEM;
    *state = t;
    return 0;
}

static void t_terminate(tr_actor_t *self, void *state, const char *reason)
{
    timers_t *t = state;
    for (size_t i = 0; i < t->n; i++)
        timer_free(&t->heap[i]);
    free(t->heap);
    free(t);
}

static int t_timeout(tr_actor_t *self, void *state)
{
    timers_t *t = state;
    if (!t->n)
        return -1;
    uint64_t now = tr_mono_ms();
    return t->heap[0].due <= now ? 0 : (int)(t->heap[0].due - now);
}

static void fire_due(tr_actor_t *self, timers_t *t)
{
    uint64_t now = tr_mono_ms();
    while (t->n && t->heap[0].due <= now) {
        timer_t_ *x = &t->heap[0];
        int rc = tr__send_plain(tr_self_system(self), x->to, x->type, x->payload, x->len, TIMER_SEND_WAIT_MS);
        if (rc == TR_ENOPROC && x->interval) {
            tr_logkv(TR_LOG_WARN, "periodic timer cancelled: target is gone", "to", x->to, NULL);
            heap_remove(t, 0);
        } else if (x->interval) {
            x->due += x->interval;
            if (x->due <= now) /* fell behind: skip missed ticks, keep the phase */
                x->due = now + x->interval - (now - x->due) % x->interval;
            sift_down(t, 0);
        } else {
            heap_remove(t, 0);
        }
    }
}

static int t_add(timers_t *t, const tr_msg_t *msg)
{
    tr_mpr_t r;
    tr_mpr_init(&r, msg->payload, msg->payload_len);
    uint32_t n;
    uint64_t id, delay, interval;
    const char *to, *type;
    uint32_t tolen, typelen, plen;
    const void *p;
    if (tr_mpr_array(&r, &n) || n != 6 || tr_mpr_uint(&r, &id) || tr_mpr_uint(&r, &delay) ||
        tr_mpr_uint(&r, &interval) || tr_mpr_str(&r, &to, &tolen) || tr_mpr_str(&r, &type, &typelen) ||
        tr_mpr_bin(&r, &p, &plen) || !to || !type)
        return TR_EINVAL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        timer_t_ *nh = realloc(t->heap, cap * sizeof *nh);
        if (!nh)
            return TR_ENOMEM;
        t->heap = nh;
        t->cap = cap;
    }
    timer_t_ x = {0};
    x.id = (int64_t)id;
    x.due = tr_mono_ms() + delay;
    x.interval = interval;
    x.to = strndup(to, tolen);
    x.type = strndup(type, typelen);
    x.payload = plen ? malloc(plen) : NULL;
    if (!x.to || !x.type || (plen && !x.payload)) {
        timer_free(&x);
        return TR_ENOMEM;
    }
    if (plen)
        memcpy(x.payload, p, plen);
    x.len = plen;
    t->heap[t->n++] = x;
    sift_up(t, t->n - 1);
    return 0;
}

static int t_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    timers_t *t = state;
    if (tr_str_eq(msg->type, "tr.timer.add")) {
        if (t_add(t, msg))
            tr_log(TR_LOG_WARN, "malformed timer request ignored");
    } else if (tr_str_eq(msg->type, "tr.timer.cancel")) {
        tr_mpr_t r;
        uint64_t id;
        tr_mpr_init(&r, msg->payload, msg->payload_len);
        if (!tr_mpr_uint(&r, &id))
            for (size_t i = 0; i < t->n; i++)
                if (t->heap[i].id == (int64_t)id) {
                    heap_remove(t, i);
                    break;
                }
    }
    fire_due(self, t);
    return 0;
}

const tr_behaviour_t tr__timer_behaviour = {
    .kind = "timers", .init = t_init, .handle = t_handle, .terminate = t_terminate, .timeout = t_timeout};

static int64_t schedule(tr_system_t *sys, int delay_ms, int interval_ms, const char *to, const char *type,
                        const void *payload, size_t len)
{
    if (!sys || !to || !type || !*type || delay_ms < 0 || interval_ms < 0)
        return TR_EINVAL;
    int64_t id = atomic_fetch_add(&sys->next_timer_id, 1);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_array(&w, 6);
    tr_mpw_uint(&w, (uint64_t)id);
    tr_mpw_uint(&w, (uint64_t)delay_ms);
    tr_mpw_uint(&w, (uint64_t)interval_ms);
    tr_mpw_cstr(&w, to);
    tr_mpw_cstr(&w, type);
    tr_mpw_bin(&w, payload, payload ? len : 0);
    /* plain: a request's deadline must not expire the request to schedule
     * something for after it */
    int rc = w.err ? w.err : tr__send_plain(sys, "tr.timers", "tr.timer.add", w.buf, w.len, -1);
    tr_mpw_free(&w);
    return rc ? rc : id;
}

int64_t tr_send_after(tr_system_t *sys, int delay_ms, const char *to, const char *type, const void *payload,
                      size_t len)
{
    return schedule(sys, delay_ms, 0, to, type, payload, len);
}

int64_t tr_send_interval(tr_system_t *sys, int interval_ms, const char *to, const char *type,
                         const void *payload, size_t len)
{
    if (interval_ms <= 0)
        return TR_EINVAL;
    return schedule(sys, interval_ms, interval_ms, to, type, payload, len);
}

int tr_timer_cancel(tr_system_t *sys, int64_t timer_id)
{
    uint8_t buf[16];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_uint(&w, (uint64_t)timer_id);
    return tr__send_plain(sys, "tr.timers", "tr.timer.cancel", buf, w.len, -1);
}
