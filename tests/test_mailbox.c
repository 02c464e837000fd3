/* test_mailbox.c - bounded mailboxes and their overflow policies, and the
 * rule that nothing is lost silently: every message sent is either handled
 * or counted as a dead letter. */
#include "helpers.h"

/* A short send timeout keeps the BLOCK tests quick; the bound it tests is a
 * lower one (the sender waited), the upper one is generous. */
static void mbox_start(void)
{
    tr_system_opts_t o = {.send_timeout_ms = 400};
    sys_start(&o);
}

TestSuite(mailbox, .init = mbox_start, .fini = sys_stop, .timeout = 120);

enum { SIZE = 4 };

static tr_pid_t spawn_blocked(const char *name, tr_overflow_t policy)
{
    tr_actor_opts_t o = {.mailbox_size = SIZE, .overflow = policy};
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, name, probe(), NULL, &o, &pid), 0);
    cr_assert_eq(tr_send(g_sys, name, "block", NULL, 0), 0);
    cr_assert(gate_wait_entered(1, T_WAIT_MS), "the actor is busy in its handler");
    return pid;
}

static int send_num(const char *to, uint64_t n)
{
    u64buf_t u = mp_u64(n);
    return tr_send(g_sys, to, "num", u.b, u.len);
}

/* Handled "num" messages of `name`, in order, as "1,2,3". */
static char *nums_of(const char *name, char *buf, size_t cap)
{
    char what[64];
    snprintf(what, sizeof what, "num:%s", name);
    size_t len = 0;
    buf[0] = '\0';
    pthread_mutex_lock(&g_ev.mu);
    for (int i = 0; i < g_ev.n; i++)
        if (strcmp(g_ev.ev[i].what, what) == 0)
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "," : "", g_ev.ev[i].detail);
    pthread_mutex_unlock(&g_ev.mu);
    return buf;
}

Test(mailbox, one_senders_messages_stay_in_order_however_addressed)
{
    /* by name, by name@node and by pid: the same mailbox, the same queue
     * from this thread - the runs must not be interleaved when drained */
    tr_actor_opts_t o = {.mailbox_size = 100};
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "addr", probe(), NULL, &o, &pid), 0);
    cr_assert_eq(tr_send(g_sys, "addr", "block", NULL, 0), 0);
    cr_assert(gate_wait_entered(1, T_WAIT_MS));
    enum { RUN = 20 };
    uint64_t n = 0;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < RUN; i++) {
            u64buf_t u = mp_u64(++n);
            int rc = r == 0   ? tr_send(g_sys, "addr", "num", u.b, u.len)
                     : r == 1 ? tr_send(g_sys, "addr@local", "num", u.b, u.len)
                              : tr_send_pid(g_sys, pid, "num", u.b, u.len, NULL);
            cr_assert_eq(rc, 0);
        }
    gate_open();
    cr_assert(ev_wait("num:addr", 3 * RUN, T_WAIT_MS));
    uint64_t want = 1;
    pthread_mutex_lock(&g_ev.mu);
    for (int i = 0; i < g_ev.n; i++)
        if (strcmp(g_ev.ev[i].what, "num:addr") == 0 && strtoull(g_ev.ev[i].detail, NULL, 10) == want)
            want++;
    pthread_mutex_unlock(&g_ev.mu);
    cr_assert_eq(want, 3 * RUN + 1, "in send order up to message %llu", (unsigned long long)want);
}

Test(mailbox, fail_policy_refuses_at_once_and_counts_every_refusal)
{
    spawn_blocked("ff", TR_OVERFLOW_FAIL);
    uint64_t dl0 = tr_dead_letters(g_sys);
    int ok = 0, full = 0, sent = 0;
    uint64_t slowest = 0;
    for (uint64_t i = 1; i <= 64 && full < 5; i++) {
        uint64_t t0 = tr_mono_ms();
        int rc = send_num("ff", i);
        uint64_t took = elapsed_ms(t0);
        sent++;
        if (rc == 0) {
            cr_assert_eq(full, 0, "no send succeeds once the mailbox is full (message %d)", (int)i);
            ok++;
        } else {
            cr_assert_eq(rc, TR_EFULL, "rc %s", tr_errname(rc));
            full++;
            if (took > slowest)
                slowest = took;
        }
    }
    cr_assert_geq(ok, SIZE, "the mailbox holds at least its bound");
    cr_assert_eq(full, 5, "a full FAIL mailbox refuses (within 64 messages)");
    cr_assert_lt(slowest, 2000, "TR_EFULL comes at once, the sender does not wait");
    cr_assert_eq(tr_dead_letters(g_sys) - dl0, (uint64_t)full, "every refusal is a dead letter");
    cr_assert_eq(metric_value(g_sys, "troupe_dead_letters_total{reason=\"full\"}"), full);

    gate_open();
    cr_assert(ev_wait("num:ff", ok, T_WAIT_MS));
    int rc = ask_rc(g_sys, "ff", "ping", T_WAIT_MS);
    cr_assert_eq(rc, 0, "rc %s (ok %d)", tr_errname(rc), ok);
    cr_assert_eq(ev_count("num:ff"), ok);
    cr_assert_eq((uint64_t)ev_count("num:ff") + (tr_dead_letters(g_sys) - dl0), (uint64_t)sent,
                 "delivered + dead letters == sent");
}

Test(mailbox, block_policy_waits_then_times_out)
{
    spawn_blocked("bb", TR_OVERFLOW_BLOCK);
    uint64_t dl0 = tr_dead_letters(g_sys);
    int ok = 0, sent = 0, rc = 0;
    uint64_t took = 0;
    for (uint64_t i = 1; i <= 64; i++) {
        uint64_t t0 = tr_mono_ms();
        rc = send_num("bb", i);
        took = elapsed_ms(t0);
        sent++;
        if (rc)
            break;
        ok++;
    }
    cr_assert_eq(rc, TR_ETIMEDOUT, "a full BLOCK mailbox ends in a timeout, rc %s", tr_errname(rc));
    cr_assert_geq(ok, SIZE);
    cr_assert_geq(took, 350, "the sender waited for the send timeout (400 ms) first: %llu ms",
                  (unsigned long long)took);
    cr_assert_lt(took, 15000);

    /* with a deadline on the message, the deadline bounds the wait */
    tr_send_opts_t o = {.deadline_ms = tr_wall_ms() + 200};
    u64buf_t u = mp_u64(999);
    uint64_t t0 = tr_mono_ms();
    cr_assert_eq(tr_send_ex(g_sys, "bb", "num", u.b, u.len, &o), TR_ETIMEDOUT);
    sent++;
    took = elapsed_ms(t0);
    cr_assert_geq(took, 150, "waited until the deadline: %llu ms", (unsigned long long)took);
    cr_assert_lt(took, 15000);
    cr_assert_eq(tr_dead_letters(g_sys) - dl0, 2);
    cr_assert_eq(metric_value(g_sys, "troupe_dead_letters_total{reason=\"timeout\"}"), 2);

    /* no_wait: the same full BLOCK mailbox refuses at once */
    tr_send_opts_t nw = {.no_wait = true};
    t0 = tr_mono_ms();
    cr_assert_eq(tr_send_ex(g_sys, "bb", "num", u.b, u.len, &nw), TR_EFULL);
    sent++;
    cr_assert_lt(elapsed_ms(t0), 350, "no_wait does not wait for the send timeout (400 ms)");

    gate_open();
    cr_assert_eq(ask_rc(g_sys, "bb", "ping", T_WAIT_MS), 0);
    cr_assert_eq(ev_count("num:bb"), ok);
    cr_assert_eq((uint64_t)ev_count("num:bb") + (tr_dead_letters(g_sys) - dl0), (uint64_t)sent);
}

static void *open_later(void *arg)
{
    tr_sleep_ms(300);
    gate_open();
    return NULL;
}

Test(mailbox, block_policy_sender_proceeds_when_room_frees)
{
    spawn_blocked("bw", TR_OVERFLOW_BLOCK);
    /* fill it: sends with a short deadline until one times out */
    uint64_t dl0 = tr_dead_letters(g_sys);
    int ok = 0, sent = 0;
    for (uint64_t i = 1; i <= 64; i++) {
        tr_send_opts_t o = {.deadline_ms = tr_wall_ms() + 30};
        u64buf_t u = mp_u64(i);
        int rc = tr_send_ex(g_sys, "bw", "num", u.b, u.len, &o);
        sent++;
        if (rc) {
            cr_assert_eq(rc, TR_ETIMEDOUT);
            break;
        }
        ok++;
    }
    cr_assert_lt(ok, 64, "the mailbox filled up");
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, open_later, NULL), 0);
    /* no deadline on this one: it may wait the system's send timeout, and
     * the actor starts draining after ~300 ms */
    tr_system_t *sys = g_sys;
    uint64_t t0 = tr_mono_ms();
    u64buf_t u = mp_u64(1000);
    tr_send_opts_t o = {.deadline_ms = tr_wall_ms() + 60000};
    int rc = tr_send_ex(sys, "bw", "num", u.b, u.len, &o);
    uint64_t took = elapsed_ms(t0);
    sent++;
    pthread_join(th, NULL);
    cr_assert_eq(rc, 0, "the blocked sender got in once there was room: %s", tr_errname(rc));
    cr_assert_geq(took, 200, "it did wait: %llu ms", (unsigned long long)took);
    cr_assert_eq(ask_rc(g_sys, "bw", "ping", T_WAIT_MS), 0);
    /* the short-deadline messages it accepted expired while queued */
    char got[64];
    cr_assert_str_eq(nums_of("bw", got, sizeof got), "1000", "only the message without a passed deadline ran");
    cr_assert_eq((uint64_t)ev_count("num:bw") + (tr_dead_letters(g_sys) - dl0), (uint64_t)sent,
                 "expired and timed-out messages are all dead letters");
    cr_assert_eq(metric_value(g_sys, "troupe_dead_letters_total{reason=\"expired\"}"), ok);
}

Test(mailbox, drop_oldest_keeps_the_newest)
{
    spawn_blocked("dd", TR_OVERFLOW_DROP_OLDEST);
    uint64_t dl0 = tr_dead_letters(g_sys);
    enum { N = 3 * SIZE };
    for (uint64_t i = 1; i <= N; i++)
        cr_assert_eq(send_num("dd", i), 0, "message %d", (int)i);
    gate_open();
    cr_assert(ev_wait("num:dd", SIZE, T_WAIT_MS));
    cr_assert_eq(ask_rc(g_sys, "dd", "ping", T_WAIT_MS), 0);
    char got[128];
    cr_assert_str_eq(nums_of("dd", got, sizeof got), "9,10,11,12", "the newest SIZE messages survive, in order");
    cr_assert_eq(tr_dead_letters(g_sys) - dl0, N - SIZE, "each eviction is a dead letter");
    cr_assert_eq(metric_value(g_sys, "troupe_dead_letters_total{reason=\"dropped\"}"), N - SIZE);
}

Test(mailbox, drop_oldest_under_a_flood_still_accounts_for_everything)
{
    /* more than the pipe holds while the actor is busy: whatever the sender
     * is told, delivered + dead letters == sent, and the last ones handled
     * are the newest */
    spawn_blocked("df", TR_OVERFLOW_DROP_OLDEST);
    uint64_t dl0 = tr_dead_letters(g_sys);
    enum { N = 200 };
    int refused = 0;
    for (uint64_t i = 1; i <= N; i++) {
        int rc = send_num("df", i);
        if (rc) {
            cr_assert(rc == TR_EFULL || rc == TR_ETIMEDOUT, "rc %s", tr_errname(rc));
            refused++;
        }
    }
    gate_open();
    /* the ping must not race the drain: a DROP_OLDEST pipe still full is
     * refused like any other */
    cr_assert(ev_wait("num:df", SIZE, T_WAIT_MS));
    cr_assert_eq(ask_rc(g_sys, "df", "ping", T_WAIT_MS), 0);
    int handled = ev_count("num:df");
    cr_assert_leq(handled, N - refused);
    cr_assert_eq((uint64_t)handled + (tr_dead_letters(g_sys) - dl0), N, "delivered + dead letters == sent");
    char got[128], want[128];
    int last = N - refused; /* refusals only hit the tail while the actor is busy */
    snprintf(want, sizeof want, "%d,%d,%d,%d", last - 3, last - 2, last - 1, last);
    cr_assert_str_eq(nums_of("df", got, sizeof got), want);
}

Test(mailbox, mailbox_left_at_stop_becomes_dead_letters)
{
    tr_pid_t pid = spawn_blocked("st", TR_OVERFLOW_BLOCK);
    uint64_t dl0 = tr_dead_letters(g_sys);
    for (uint64_t i = 1; i <= 3; i++)
        cr_assert_eq(send_num("st", i), 0);
    /* ask the busy actor to stop without waiting, then let it go */
    cr_assert_eq(tr_stop(g_sys, pid, "shutdown", 0), TR_ETIMEDOUT);
    gate_open();
    cr_assert_eq(tr_wait(g_sys, pid, T_WAIT_MS), 0);
    cr_assert_eq(ev_count("num:st"), 0, "a stopping actor handles nothing more");
    cr_assert_eq(tr_dead_letters(g_sys) - dl0, 3, "the three queued messages are dead letters");
    cr_assert_eq(metric_value(g_sys, "troupe_dead_letters_total{reason=\"stopped\"}"), 3);
    ev_t e = {.mono_ms = 0};
    cr_assert(ev_last("term:st", &e));
    cr_assert_str_eq(e.detail, "shutdown");
}

Test(mailbox, stopping_a_busy_actor_with_a_full_mailbox)
{
    /* tr_stop cannot even queue its wake-up: the actor still stops after
     * its current message, and the wake-up is not counted as a lost
     * message (only the queued ones are) */
    tr_pid_t pid = spawn_blocked("sf", TR_OVERFLOW_FAIL);
    int queued = 0;
    for (uint64_t i = 1; i <= 64; i++) {
        if (send_num("sf", i))
            break;
        queued++;
    }
    cr_assert_lt(queued, 64);
    uint64_t dl0 = tr_dead_letters(g_sys);
    cr_assert_eq(tr_stop(g_sys, pid, "shutdown", 0), TR_ETIMEDOUT);
    cr_assert_eq(tr_dead_letters(g_sys), dl0, "the stop request is not a dead letter");
    gate_open();
    cr_assert_eq(tr_wait(g_sys, pid, T_WAIT_MS), 0);
    cr_assert_eq(tr_dead_letters(g_sys) - dl0, (uint64_t)queued);
    cr_assert_eq(ev_count("num:sf"), 0);
}

typedef struct {
    int rc;
    char code[32];
} ask_result_t;

static void *ask_blocked(void *arg)
{
    ask_result_t *r = arg;
    tr_reply_t rep;
    r->rc = tr_ask(g_sys, "sa", "ping", NULL, 0, 60000, &rep);
    if (r->rc == TR_EREMOTE)
        tr_error_parse(&rep.msg, r->code, sizeof r->code, NULL, 0);
    tr_reply_close(&rep);
    tr_thread_done(g_sys);
    return NULL;
}

Test(mailbox, queued_ask_at_stop_gets_an_error_reply_not_a_timeout)
{
    tr_pid_t pid = spawn_blocked("sa", TR_OVERFLOW_BLOCK);
    ask_result_t r = {0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, ask_blocked, &r), 0);
    /* the ask is queued once the actor's figures say so: wait for it */
    /* depth counts the "block" being handled too */
    cr_assert(metric_wait(g_sys, "troupe_actor_mailbox_depth{actor=\"sa\"}", 2, T_WAIT_MS));
    cr_assert_eq(tr_stop(g_sys, pid, "shutdown", 0), TR_ETIMEDOUT);
    uint64_t t0 = tr_mono_ms();
    gate_open();
    pthread_join(th, NULL);
    cr_assert_eq(r.rc, TR_EREMOTE, "rc %s", tr_errname(r.rc));
    cr_assert_str_eq(r.code, "ENOPROC");
    cr_assert_lt(elapsed_ms(t0), 30000, "well before the ask's own timeout");
}

Test(mailbox, send_to_dead_pid_and_name_is_enoproc_and_a_dead_letter)
{
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "gone", probe(), NULL, NULL, &pid), 0);
    cr_assert_eq(tr_stop(g_sys, pid, NULL, T_WAIT_MS), 0);
    uint64_t dl0 = tr_dead_letters(g_sys);
    cr_assert_eq(tr_send(g_sys, "gone", "num", NULL, 0), TR_ENOPROC);
    cr_assert_eq(tr_send_pid(g_sys, pid, "num", NULL, 0, NULL), TR_ENOPROC);
    cr_assert_eq(ask_rc(g_sys, "gone", "ping", T_WAIT_MS), TR_ENOPROC);
    cr_assert_eq(tr_dead_letters(g_sys) - dl0, 3);
    cr_assert_eq(metric_value(g_sys, "troupe_dead_letters_total{reason=\"noproc\"}"), 3);
}

Test(mailbox, bad_sends_are_einval)
{
    cr_assert_eq(tr_spawn(g_sys, "v", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_send(g_sys, "v", "", NULL, 0), TR_EINVAL, "empty type");
    cr_assert_eq(tr_send(g_sys, "", "num", NULL, 0), TR_EINVAL, "empty address");
    static const uint8_t two_objects[] = {0x01, 0x02};
    cr_assert_eq(tr_send(g_sys, "v", "num", two_objects, sizeof two_objects), TR_EINVAL,
                 "a payload is exactly one MessagePack object");
    cr_assert_eq(ask_rc(g_sys, "v", "ping", T_WAIT_MS), 0);
    cr_assert_eq(ev_count("num:v"), 0);
}

Test(mailbox, too_big_message_is_etoobig)
{
    tr_system_destroy(&g_sys);
    tr_system_opts_t o = {.max_message = 1024};
    sys_start(&o);
    cr_assert_eq(tr_spawn(g_sys, "small", probe(), NULL, NULL, NULL), 0);
    tr_mpw_t w;
    tr_mpw_init(&w);
    char big[2000];
    memset(big, 'x', sizeof big);
    tr_mpw_str(&w, big, sizeof big);
    uint64_t dl0 = tr_dead_letters(g_sys);
    int rc = tr_send(g_sys, "small", "num", w.buf, w.len);
    tr_mpw_free(&w);
    cr_assert_eq(rc, TR_ETOOBIG);
    cr_assert_eq(tr_dead_letters(g_sys) - dl0, 1);
}

static _Atomic int g_accepted;

static void *flood(void *arg)
{
    for (uint64_t i = 0; i < 500; i++) {
        u64buf_t u = mp_u64(i);
        if (tr_send(g_sys, "sink", "num", u.b, u.len) == 0)
            g_accepted++;
    }
    tr_thread_done(g_sys);
    return NULL;
}

Test(mailbox, many_senders_nothing_lost)
{
    /* four threads send to one FAIL mailbox as fast as they can; whatever
     * each is told, the totals add up */
    tr_actor_opts_t ao = {.mailbox_size = 16, .overflow = TR_OVERFLOW_FAIL};
    cr_assert_eq(tr_spawn(g_sys, "sink", probe(), NULL, &ao, NULL), 0);
    uint64_t dl0 = tr_dead_letters(g_sys);
    enum { T = 4 };
    pthread_t th[T];
    for (int i = 0; i < T; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, flood, NULL), 0);
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    cr_assert_gt(g_accepted, 0);
    cr_assert(ev_wait("num:sink", g_accepted, T_WAIT_MS), "every accepted message is handled");
    cr_assert_eq(ask_rc(g_sys, "sink", "ping", T_WAIT_MS), 0);
    cr_assert_eq(ev_count("num:sink"), g_accepted);
    cr_assert_eq((uint64_t)g_accepted + (tr_dead_letters(g_sys) - dl0), T * 500, "delivered + dead letters == sent");
}
