/* test_timer.c - the timer service: send_after, send_interval, cancel.
 *
 * Timing is checked only as lower bounds (a timer never fires early) plus
 * generous upper bounds. "Did not fire" is made deterministic with a marker
 * timer: the timer actor sends every delivery from its own thread, so a
 * marker due later arrives after anything due before it. */
#include "helpers.h"

TestSuite(timer, .init = sys_default_start, .fini = sys_stop, .timeout = 120);

static void rx(const char *name)
{
    cr_assert_eq(tr_spawn(g_sys, name, probe(), NULL, NULL, NULL), 0);
}

/* Schedules "deadline" (recorded as event deadline:<to>) after delay_ms and
 * waits for it. */
static void marker(const char *to, int delay_ms)
{
    char what[64];
    snprintf(what, sizeof what, "deadline:%s", to);
    int have = ev_count(what);
    cr_assert_gt(tr_send_after(g_sys, delay_ms, to, "deadline", NULL, 0), 0);
    cr_assert(ev_wait(what, have + 1, T_WAIT_MS), "marker for %s", to);
}

Test(timer, send_after_fires_once_not_early_with_its_payload)
{
    rx("rx");
    uint64_t t0 = tr_mono_ms();
    u64buf_t u = mp_u64(7);
    int64_t id = tr_send_after(g_sys, 150, "rx", "num", u.b, u.len);
    cr_assert_gt(id, 0);
    memset(&u, 0, sizeof u); /* the timer keeps its own copy */
    cr_assert(ev_wait("num:rx", 1, T_WAIT_MS));
    ev_t e = {.mono_ms = 0};
    ev_last("num:rx", &e);
    cr_assert_str_eq(e.detail, "7");
    cr_assert_geq(e.mono_ms - t0, 150, "fired after %llu ms", (unsigned long long)(e.mono_ms - t0));
    marker("rx", 300);
    cr_assert_eq(ev_count("num:rx"), 1, "a one-shot timer fires once");
}

Test(timer, zero_delay_fires)
{
    rx("rx");
    cr_assert_gt(tr_send_after(g_sys, 0, "rx", "num", NULL, 0), 0);
    cr_assert(ev_wait("num:rx", 1, T_WAIT_MS));
}

Test(timer, ids_are_distinct)
{
    rx("rx");
    int64_t a = tr_send_after(g_sys, 10000, "rx", "num", NULL, 0);
    int64_t b = tr_send_after(g_sys, 10000, "rx", "num", NULL, 0);
    cr_assert_gt(a, 0);
    cr_assert_gt(b, 0);
    cr_assert_neq(a, b);
    cr_assert_eq(tr_timer_cancel(g_sys, a), 0);
    cr_assert_eq(tr_timer_cancel(g_sys, b), 0);
}

Test(timer, send_interval_repeats_until_cancelled)
{
    rx("rx");
    uint64_t t0 = tr_mono_ms();
    int64_t id = tr_send_interval(g_sys, 50, "rx", "num", NULL, 0);
    cr_assert_gt(id, 0);
    cr_assert(ev_wait("num:rx", 4, T_WAIT_MS));
    /* the k-th tick is due k intervals after the start: never earlier */
    int k = 0;
    pthread_mutex_lock(&g_ev.mu);
    for (int i = 0; i < g_ev.n; i++)
        if (strcmp(g_ev.ev[i].what, "num:rx") == 0) {
            k++;
            uint64_t at = g_ev.ev[i].mono_ms - t0;
            if (at < (uint64_t)(50 * k)) {
                pthread_mutex_unlock(&g_ev.mu);
                cr_assert_fail("tick %d came after %llu ms, before %d ms", k, (unsigned long long)at, 50 * k);
            }
        }
    pthread_mutex_unlock(&g_ev.mu);

    cr_assert_eq(tr_timer_cancel(g_sys, id), 0);
    marker("rx", 0); /* after the cancel has been handled */
    int n = ev_count("num:rx");
    tr_sleep_ms(300); /* six intervals */
    marker("rx", 0);
    cr_assert_eq(ev_count("num:rx"), n, "no tick after the cancel");
}

Test(timer, cancel_before_due_prevents_delivery)
{
    rx("rx");
    int64_t id = tr_send_after(g_sys, 200, "rx", "num", NULL, 0);
    cr_assert_gt(id, 0);
    cr_assert_eq(tr_timer_cancel(g_sys, id), 0);
    marker("rx", 400); /* due after the cancelled one would have been */
    cr_assert_eq(ev_count("num:rx"), 0);
}

Test(timer, cancel_of_unknown_id_is_harmless)
{
    rx("rx");
    cr_assert_eq(tr_timer_cancel(g_sys, 987654), 0);
    int64_t id = tr_send_after(g_sys, 0, "rx", "num", NULL, 0);
    cr_assert_gt(id, 0);
    cr_assert(ev_wait("num:rx", 1, T_WAIT_MS));
}

Test(timer, cancelling_one_leaves_the_others)
{
    rx("rx");
    int64_t ids[6];
    for (int i = 0; i < 6; i++) {
        u64buf_t u = mp_u64((uint64_t)i);
        ids[i] = tr_send_after(g_sys, 100 + 40 * i, "rx", "num", u.b, u.len);
        cr_assert_gt(ids[i], 0);
    }
    cr_assert_eq(tr_timer_cancel(g_sys, ids[0]), 0); /* the heap's top */
    cr_assert_eq(tr_timer_cancel(g_sys, ids[3]), 0); /* one in the middle */
    cr_assert(ev_wait("num:rx", 4, T_WAIT_MS));
    marker("rx", 600);
    cr_assert_eq(ev_count("num:rx"), 4);
    /* exactly the four left, whatever order jitter gave them */
    int seen[6] = {0};
    pthread_mutex_lock(&g_ev.mu);
    for (int i = 0; i < g_ev.n; i++)
        if (strcmp(g_ev.ev[i].what, "num:rx") == 0)
            seen[atoi(g_ev.ev[i].detail) % 6]++;
    pthread_mutex_unlock(&g_ev.mu);
    cr_assert(seen[0] == 0 && seen[3] == 0, "cancelled timers stayed silent");
    cr_assert(seen[1] == 1 && seen[2] == 1 && seen[4] == 1 && seen[5] == 1, "the others fired once each");
}

Test(timer, timers_fire_in_due_order_whatever_the_scheduling_order)
{
    /* Due = (when tr.timers handles the add) + delay, and that moment is only
     * known to lie between our send (s[i]) and the marker's delivery (m).
     * So timer x delivered before y is wrong only if x cannot have been due
     * first: s[x] + d[x] > m + d[y]. On a quiet machine the window m - s is
     * a millisecond or two and every pair is checked; a stalled machine only
     * checks fewer pairs, it never fails a correct heap. */
    rx("rx");
    enum { N = 10 };
    static const int order[N] = {5, 2, 8, 0, 9, 3, 7, 1, 6, 4};
    uint64_t s_at[N];
    int d[N];
    for (int i = 0; i < N; i++) {
        int k = order[i];
        d[k] = 100 + 30 * k;
        s_at[k] = tr_mono_ms();
        u64buf_t u = mp_u64((uint64_t)k);
        cr_assert_gt(tr_send_after(g_sys, d[k], "rx", "num", u.b, u.len), 0);
    }
    marker("rx", 0);
    ev_t e = {.mono_ms = 0};
    ev_last("deadline:rx", &e);
    uint64_t m = e.mono_ms;
    cr_assert(ev_wait("num:rx", N, T_WAIT_MS));
    int got[N], n = 0;
    pthread_mutex_lock(&g_ev.mu);
    for (int i = 0; i < g_ev.n && n < N; i++)
        if (strcmp(g_ev.ev[i].what, "num:rx") == 0)
            got[n++] = atoi(g_ev.ev[i].detail);
    pthread_mutex_unlock(&g_ev.mu);
    int checked = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            int x = got[i], y = got[j];
            cr_assert_leq(s_at[x] + (uint64_t)d[x], m + (uint64_t)d[y], "timer %d (delay %d) fired before %d (%d)", x,
                          d[x], y, d[y]);
            checked += s_at[y] + (uint64_t)d[y] > m + (uint64_t)d[x];
        }
    cr_log_info("due order: %d of %d pairs were decidable (window %llu ms)", checked, N * (N - 1) / 2,
                (unsigned long long)(m - s_at[order[0]]));
}

Test(timer, a_busy_receiver_still_gets_its_tick)
{
    /* the tick is sent while rx is busy for longer than the timer's own
     * send wait: it must wait in the mailbox, not expire there */
    cr_assert_eq(tr_spawn(g_sys, "rx", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_send(g_sys, "rx", "block", NULL, 0), 0);
    cr_assert(gate_wait_entered(1, T_WAIT_MS));
    uint64_t dl0 = tr_dead_letters(g_sys);
    cr_assert_gt(tr_send_after(g_sys, 0, "rx", "num", NULL, 0), 0);
    /* queued: "block" (being handled) and the tick */
    cr_assert(metric_wait(g_sys, "troupe_actor_mailbox_depth{actor=\"rx\"}", 2, T_WAIT_MS));
    tr_sleep_ms(400);
    gate_open();
    cr_assert(ev_wait("num:rx", 1, T_WAIT_MS), "the tick was handled");
    cr_assert_eq(tr_dead_letters(g_sys), dl0);
}

Test(timer, scheduling_does_not_inherit_the_current_deadline)
{
    /* "sched" schedules a timer while handling an ask whose deadline has
     * passed by then: the request to schedule must not expire with it */
    rx("rx");
    cr_assert_eq(tr_spawn(g_sys, "sched", probe(), NULL, NULL, NULL), 0);
    uint64_t deadline = tr_wall_ms() + 200;
    cr_assert_eq(ask_rc(g_sys, "sched", "late_timer", 200), TR_ETIMEDOUT);
    cr_assert(gate_wait_entered(1, T_WAIT_MS));
    while (tr_wall_ms() <= deadline + 50)
        tr_sleep_ms(20);
    gate_open();
    cr_assert(ev_wait("num:rx", 1, T_WAIT_MS), "the timer was scheduled and fired");
}

Test(timer, interval_to_a_dead_target_is_dropped)
{
    rx("rx");
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "tmp", probe(), NULL, NULL, &pid), 0);
    cr_assert_gt(tr_send_interval(g_sys, 20, "tmp", "num", NULL, 0), 0);
    cr_assert(ev_wait("num:tmp", 1, T_WAIT_MS));
    cr_assert_eq(tr_stop(g_sys, pid, NULL, T_WAIT_MS), 0);
    /* the first tick that finds nobody is a "noproc" dead letter (a tick
     * queued at the stop is a "stopped" one), and drops the timer */
    const char *noproc = "troupe_dead_letters_total{reason=\"noproc\"}";
    cr_assert(metric_wait(g_sys, noproc, 1, T_WAIT_MS));
    marker("rx", 200); /* ten more intervals */
    cr_assert_eq(metric_value(g_sys, noproc), 1, "one dead letter, not one per interval");
    /* a new actor under the same name does not inherit the ticks */
    cr_assert_eq(tr_spawn(g_sys, "tmp", probe(), NULL, NULL, NULL), 0);
    int n = ev_count("num:tmp");
    marker("tmp", 200);
    cr_assert_eq(ev_count("num:tmp"), n);
}

Test(timer, one_shot_to_a_dead_target_is_a_dead_letter)
{
    rx("rx");
    uint64_t dl0 = tr_dead_letters(g_sys);
    cr_assert_gt(tr_send_after(g_sys, 0, "nobody", "num", NULL, 0), 0);
    marker("rx", 50);
    cr_assert_eq(tr_dead_letters(g_sys), dl0 + 1);
}

Test(timer, bad_arguments)
{
    cr_assert_eq(tr_send_after(g_sys, -1, "rx", "num", NULL, 0), TR_EINVAL);
    cr_assert_eq(tr_send_after(g_sys, 10, NULL, "num", NULL, 0), TR_EINVAL);
    cr_assert_eq(tr_send_after(g_sys, 10, "rx", "", NULL, 0), TR_EINVAL);
    cr_assert_eq(tr_send_interval(g_sys, 0, "rx", "num", NULL, 0), TR_EINVAL);
    cr_assert_eq(tr_send_interval(g_sys, -5, "rx", "num", NULL, 0), TR_EINVAL);
}

Test(timer, timer_actor_is_a_runtime_actor)
{
    tr_pid_t p;
    cr_assert_eq(tr_lookup(g_sys, "tr.timers", &p), 0);
    cr_assert_eq(tr_system_actor_count(g_sys), 1, "a fresh system runs only its timer actor");
}

Test(timer, pending_timers_are_freed_at_destroy)
{
    /* under ASan this checks the heap's entries (to, type, payload) are freed */
    rx("rx");
    u64buf_t u = mp_u64(1);
    for (int i = 0; i < 50; i++)
        cr_assert_gt(tr_send_after(g_sys, 60000, "rx", "num", u.b, u.len), 0);
    cr_assert_gt(tr_send_interval(g_sys, 60000, "rx", "num", NULL, 0), 0);
    marker("rx", 0);
    tr_system_destroy(&g_sys);
    cr_assert_eq(ev_count("num:rx"), 0);
}
