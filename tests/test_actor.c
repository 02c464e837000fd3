/* test_actor.c - actors: spawn and stop, the registry, send/ask/reply and
 * error replies, crashes (tr_fail, tr_exit), monitors, deadlines, many
 * actors at once, shutdown order and per-actor metrics. */
#include "helpers.h"

#include <inttypes.h>
#include <zmq.h>

TestSuite(actor, .init = sys_default_start, .fini = sys_stop, .timeout = 120);

/* ---- spawn / stop / registry ---- */

Test(actor, spawn_runs_init_and_stop_runs_terminate_once)
{
    int base = tr_system_actor_count(g_sys);
    tr_pid_t pid = 0;
    cr_assert_eq(tr_spawn(g_sys, "p1", probe(), NULL, NULL, &pid), 0);
    cr_assert_neq(pid, 0);
    cr_assert(tr_alive(g_sys, pid));
    cr_assert_eq(ev_count("init:p1"), 1, "tr_spawn returns after init");
    cr_assert_eq(tr_system_actor_count(g_sys), base + 1);
    char name[64];
    cr_assert_eq(tr_name_of(g_sys, pid, name, sizeof name), 0);
    cr_assert_str_eq(name, "p1");

    cr_assert_eq(tr_stop(g_sys, pid, NULL, T_WAIT_MS), 0);
    cr_assert_not(tr_alive(g_sys, pid));
    cr_assert_eq(ev_count("term:p1"), 1);
    ev_t e = {.mono_ms = 0};
    cr_assert(ev_last("term:p1", &e));
    cr_assert_str_eq(e.detail, "shutdown", "default stop reason");
    cr_assert_eq(tr_system_actor_count(g_sys), base);
    cr_assert_eq(tr_stop(g_sys, pid, NULL, T_WAIT_MS), TR_ENOPROC, "second stop: already dead");
    cr_assert_eq(tr_name_of(g_sys, pid, name, sizeof name), TR_ENOPROC);
}

Test(actor, stop_reason_reaches_terminate)
{
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "p2", probe(), NULL, NULL, &pid), 0);
    cr_assert_eq(tr_stop(g_sys, pid, "shutdown: test over", T_WAIT_MS), 0);
    ev_t e = {.mono_ms = 0};
    cr_assert(ev_last("term:p2", &e));
    cr_assert_str_eq(e.detail, "shutdown: test over");
}

Test(actor, registry_eexist_lookup_dead_and_name_reuse)
{
    tr_pid_t a, b, found;
    cr_assert_eq(tr_spawn(g_sys, "reg", probe(), NULL, NULL, &a), 0);
    cr_assert_eq(tr_spawn(g_sys, "reg", probe(), NULL, NULL, &b), TR_EEXIST);
    cr_assert_eq(ev_count("init:reg"), 1, "the refused spawn ran no init");
    cr_assert_eq(tr_lookup(g_sys, "reg", &found), 0);
    cr_assert_eq(found, a);
    cr_assert_eq(tr_lookup(g_sys, "reg@local", &found), 0, "name@<this node> is local");
    cr_assert_eq(found, a);
    cr_assert_eq(tr_lookup(g_sys, "reg@elsewhere", &found), TR_ENOPROC);

    cr_assert_eq(tr_stop(g_sys, a, NULL, T_WAIT_MS), 0);
    uint64_t t0 = tr_mono_ms();
    cr_assert_eq(tr_lookup(g_sys, "reg", &found), TR_ENOPROC, "a dead name is not found");
    cr_assert_lt(elapsed_ms(t0), 1000, "lookup never blocks");
    uint64_t dl = tr_dead_letters(g_sys);
    cr_assert_eq(tr_send(g_sys, "reg", "num", NULL, 0), TR_ENOPROC);
    cr_assert_eq(tr_dead_letters(g_sys), dl + 1, "a send to a dead name is a dead letter");

    cr_assert_eq(tr_spawn(g_sys, "reg", probe(), NULL, NULL, &b), 0, "the name is free again");
    cr_assert_neq(a, b);
    cr_assert_eq(tr_lookup(g_sys, "reg", &found), 0);
    cr_assert_eq(found, b);
    cr_assert_not(tr_alive(g_sys, a), "the old pid stays dead");
    cr_assert_eq(tr_send_pid(g_sys, a, "num", NULL, 0, NULL), TR_ENOPROC, "the old pid does not reach the new one");
    cr_assert_eq(ask_rc(g_sys, "reg", "ping", T_WAIT_MS), 0);
    cr_assert_eq(ev_count("num:reg"), 0);
}

Test(actor, many_names_registered_and_released)
{
    /* enough names to make the registry grow and leave tombstones behind */
    enum { N = 300 };
    tr_pid_t pids[N];
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        cr_assert_eq(tr_spawn(g_sys, name, probe(), NULL, NULL, &pids[i]), 0, "%s", name);
    }
    for (int i = 0; i < N; i += 2)
        cr_assert_eq(tr_stop(g_sys, pids[i], NULL, T_WAIT_MS), 0);
    for (int i = 0; i < N; i++) {
        tr_pid_t p;
        snprintf(name, sizeof name, "n%d", i);
        cr_assert_eq(tr_lookup(g_sys, name, &p), i % 2 ? 0 : TR_ENOPROC, "%s", name);
        if (i % 2)
            cr_assert_eq(p, pids[i]);
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(name, sizeof name, "n%d", i);
        cr_assert_eq(tr_spawn(g_sys, name, probe(), NULL, NULL, &pids[i]), 0, "reuse %s", name);
    }
}

Test(actor, invalid_spawns)
{
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "", probe(), NULL, NULL, &pid), TR_EINVAL);
    cr_assert_eq(tr_spawn(g_sys, "a@b", probe(), NULL, NULL, &pid), TR_EINVAL);
    cr_assert_eq(tr_spawn(g_sys, "#1.1", probe(), NULL, NULL, &pid), TR_EINVAL);
    cr_assert_eq(tr_spawn(g_sys, "has space", probe(), NULL, NULL, &pid), TR_EINVAL);
    tr_behaviour_t no_handle = {.kind = "x"};
    cr_assert_eq(tr_spawn(g_sys, "x", &no_handle, NULL, NULL, &pid), TR_EINVAL);
}

Test(actor, init_failure_is_einit_and_frees_the_name)
{
    int base = tr_system_actor_count(g_sys);
    probe_arg_t fail = {.fail_init = true}, bail = {.exit_in_init = true};
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "bad", probe(), &fail, NULL, &pid), TR_EINIT);
    cr_assert_eq(tr_spawn(g_sys, "bad", probe(), &bail, NULL, &pid), TR_EINIT, "tr_exit in init");
    cr_assert_eq(ev_count("term:bad"), 0, "terminate runs only after a successful init");
    tr_pid_t found;
    cr_assert_eq(tr_lookup(g_sys, "bad", &found), TR_ENOPROC);
    cr_assert_eq(tr_system_actor_count(g_sys), base);
    cr_assert_eq(tr_spawn(g_sys, "bad", probe(), NULL, NULL, &pid), 0, "the name is free");
}

Test(actor, anonymous_actors_get_distinct_names)
{
    tr_pid_t a, b;
    char na[64], nb[64];
    cr_assert_eq(tr_spawn(g_sys, NULL, probe(), NULL, NULL, &a), 0);
    cr_assert_eq(tr_spawn(g_sys, NULL, probe(), NULL, NULL, &b), 0);
    cr_assert_eq(tr_name_of(g_sys, a, na, sizeof na), 0);
    cr_assert_eq(tr_name_of(g_sys, b, nb, sizeof nb), 0);
    cr_assert_str_neq(na, nb);
    tr_pid_t found;
    cr_assert_eq(tr_lookup(g_sys, na, &found), 0);
    cr_assert_eq(found, a);
}

/* ---- send / ask / reply ---- */

Test(actor, send_delivers_in_order)
{
    cr_assert_eq(tr_spawn(g_sys, "ord", probe(), NULL, NULL, NULL), 0);
    enum { N = 200 };
    for (uint64_t i = 1; i <= N; i++) {
        u64buf_t u = mp_u64(i);
        cr_assert_eq(tr_send(g_sys, "ord", "num", u.b, u.len), 0);
    }
    cr_assert(ev_wait("num:ord", N, T_WAIT_MS));
    uint64_t want = 1;
    for (int i = 0; i < ev_n(); i++) {
        pthread_mutex_lock(&g_ev.mu);
        ev_t e = g_ev.ev[i];
        pthread_mutex_unlock(&g_ev.mu);
        if (strcmp(e.what, "num:ord") == 0)
            cr_assert_eq(strtoull(e.detail, NULL, 10), want++, "messages from one thread arrive in order");
    }
    cr_assert_eq(want, N + 1);
}

Test(actor, ask_reply_and_error_reply)
{
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "echo", probe(), NULL, NULL, &pid), 0);
    tr_reply_t rep;
    cr_assert_eq(tr_ask(g_sys, "echo", "ping", NULL, 0, T_WAIT_MS, &rep), 0);
    cr_assert(tr_str_eq(rep.msg.type, "pong"));
    cr_assert(tr_str_eq(rep.msg.from, "echo"));
    cr_assert_eq(msg_u64(&rep.msg), pid);
    tr_reply_close(&rep);

    cr_assert_eq(tr_ask(g_sys, "echo", "err", NULL, 0, T_WAIT_MS, &rep), TR_EREMOTE);
    cr_assert(tr_str_eq(rep.msg.type, "tr.error"));
    char code[32], message[128];
    cr_assert_eq(tr_error_parse(&rep.msg, code, sizeof code, message, sizeof message), 0);
    cr_assert_str_eq(code, "EINVAL");
    cr_assert_str_eq(message, "nope");
    tr_reply_close(&rep);

    cr_assert_eq(ask_rc(g_sys, "nobody", "ping", T_WAIT_MS), TR_ENOPROC);
    cr_assert_eq(ask_rc(g_sys, "echo", "ping", T_WAIT_MS), 0, "the actor survived the error reply");
}

Test(actor, reply_without_reply_to_is_einval)
{
    /* a plain send carries no reply_to: the probe's "ping" reply fails, which
     * is the probe's crash (it returns the error) */
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "noreply", probe(), NULL, NULL, &pid), 0);
    cr_assert_eq(tr_send(g_sys, "noreply", "ping", NULL, 0), 0);
    cr_assert_eq(tr_wait(g_sys, pid, T_WAIT_MS), 0);
    ev_t e = {.mono_ms = 0};
    cr_assert(ev_last("term:noreply", &e));
    cr_assert(strstr(e.detail, "EINVAL"), "reason: %s", e.detail);
}

static void ask_crash_quickly(const char *type, const char *want_in_reason)
{
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "victim", probe(), NULL, NULL, &pid), 0);
    tr_reply_t rep;
    uint64_t t0 = tr_mono_ms();
    int rc = tr_ask(g_sys, "victim", type, NULL, 0, 60000, &rep);
    uint64_t took = elapsed_ms(t0);
    cr_assert_eq(rc, TR_EREMOTE, "%s: rc %s, not a timeout", type, tr_errname(rc));
    cr_assert_lt(took, 30000, "the caller hears of the crash, it does not wait for its timeout");
    char code[32], message[256];
    tr_error_parse(&rep.msg, code, sizeof code, message, sizeof message);
    tr_reply_close(&rep);
    cr_assert_str_eq(code, "ECRASH");
    cr_assert(strstr(message, want_in_reason), "message: %s", message);
    cr_assert_eq(tr_wait(g_sys, pid, T_WAIT_MS), 0);
    ev_t e = {.mono_ms = 0};
    cr_assert(ev_last("term:victim", &e));
    cr_assert(strncmp(e.detail, "crash", 5) == 0, "terminate reason: %s", e.detail);
    cr_assert(strstr(e.detail, want_in_reason), "terminate reason: %s", e.detail);
}

Test(actor, ask_to_crashing_actor_is_eremote_not_timeout)
{
    ask_crash_quickly("crash", "boom");
}

Test(actor, ask_to_actor_calling_tr_exit_is_eremote_not_timeout)
{
    ask_crash_quickly("exit", "kaboom");
}

Test(actor, tr_exit_normal_is_a_normal_stop)
{
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "quits", probe(), NULL, NULL, &pid), 0);
    cr_assert_eq(tr_send(g_sys, "quits", "exit_normal", NULL, 0), 0);
    cr_assert_eq(tr_wait(g_sys, pid, T_WAIT_MS), 0);
    ev_t e = {.mono_ms = 0};
    cr_assert(ev_last("term:quits", &e));
    cr_assert_str_eq(e.detail, "normal");
}

Test(actor, ask_timeout_and_late_reply_is_a_dead_letter)
{
    cr_assert_eq(tr_spawn(g_sys, "slow", probe(), NULL, NULL, NULL), 0);
    tr_reply_t rep;
    uint64_t t0 = tr_mono_ms();
    cr_assert_eq(tr_ask(g_sys, "slow", "block_late", NULL, 0, 300, &rep), TR_ETIMEDOUT);
    cr_assert_geq(elapsed_ms(t0), 250, "ask waited for its timeout");
    cr_assert(gate_wait_entered(1, T_WAIT_MS));
    uint64_t dl = tr_dead_letters(g_sys);
    gate_open();
    /* the late "late" reply reaches this thread's endpoint before "pong":
     * the next ask must skip it (and count it), not return it */
    cr_assert_eq(tr_ask(g_sys, "slow", "ping", NULL, 0, T_WAIT_MS, &rep), 0);
    cr_assert(tr_str_eq(rep.msg.type, "pong"), "got the reply to this ask");
    tr_reply_close(&rep);
    cr_assert_eq(tr_dead_letters(g_sys), dl + 1, "the late reply is a dead letter");
}

Test(actor, expired_message_is_not_handled_and_is_a_dead_letter)
{
    cr_assert_eq(tr_spawn(g_sys, "late", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_send(g_sys, "late", "block", NULL, 0), 0);
    cr_assert(gate_wait_entered(1, T_WAIT_MS));
    tr_send_opts_t o = {.deadline_ms = tr_wall_ms() + 100};
    u64buf_t one = mp_u64(1), two = mp_u64(2);
    cr_assert_eq(tr_send_ex(g_sys, "late", "num", one.b, one.len, &o), 0);
    cr_assert_eq(tr_send(g_sys, "late", "num", two.b, two.len), 0);
    /* the deadline passes while the actor is busy */
    while (tr_wall_ms() <= o.deadline_ms + 50)
        tr_sleep_ms(20);
    uint64_t dl = tr_dead_letters(g_sys);
    gate_open();
    cr_assert_eq(ask_rc(g_sys, "late", "ping", T_WAIT_MS), 0);
    cr_assert_eq(ev_count("num:late"), 1, "only the message without a deadline was handled");
    ev_t e = {.mono_ms = 0};
    cr_assert(ev_last("num:late", &e));
    cr_assert_str_eq(e.detail, "2");
    cr_assert_eq(tr_dead_letters(g_sys), dl + 1);
    cr_assert_eq(metric_value(g_sys, "troupe_dead_letters_total{reason=\"expired\"}"), 1);
}

Test(actor, deadline_is_inherited_by_messages_sent_while_handling)
{
    cr_assert_eq(tr_spawn(g_sys, "sink", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_spawn(g_sys, "fwd", probe(), NULL, NULL, NULL), 0);
    uint64_t before = tr_wall_ms();
    tr_reply_t rep;
    cr_assert_eq(tr_ask(g_sys, "fwd", "fwd", NULL, 0, 60000, &rep), 0);
    cr_assert(tr_str_eq(rep.msg.type, "ok"));
    tr_reply_close(&rep);
    uint64_t after = tr_wall_ms();
    cr_assert(ev_wait("deadline:sink", 1, T_WAIT_MS));
    ev_t e = {.mono_ms = 0};
    ev_last("deadline:sink", &e);
    uint64_t d = strtoull(e.detail, NULL, 10);
    cr_assert_geq(d, before + 60000, "the ask's deadline travelled on");
    cr_assert_leq(d, after + 60000);
}

/* ---- monitors ---- */

static int64_t watch(const char *watcher, tr_pid_t target)
{
    u64buf_t u = mp_u64(target);
    tr_reply_t rep;
    cr_assert_eq(tr_ask(g_sys, watcher, "watch", u.b, u.len, T_WAIT_MS, &rep), 0);
    int64_t ref = (int64_t)msg_u64(&rep.msg);
    tr_reply_close(&rep);
    return ref;
}

Test(actor, monitor_reports_down_with_reason)
{
    tr_pid_t target;
    cr_assert_eq(tr_spawn(g_sys, "w", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_spawn(g_sys, "target", probe(), NULL, NULL, &target), 0);
    cr_assert_gt(watch("w", target), 0);
    cr_assert_eq(tr_send(g_sys, "target", "crash", NULL, 0), 0);
    cr_assert(ev_wait("down:w", 1, T_WAIT_MS));
    ev_t e = {.mono_ms = 0};
    ev_last("down:w", &e);
    cr_assert_str_eq(e.detail, "crash: boom");
    ev_last("downpid:w", &e);
    char want[64];
    snprintf(want, sizeof want, "%llu target", (unsigned long long)target);
    cr_assert_str_eq(e.detail, want);
}

Test(actor, monitor_of_normal_stop_and_of_dead_pid)
{
    tr_pid_t target;
    cr_assert_eq(tr_spawn(g_sys, "w", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_spawn(g_sys, "target", probe(), NULL, NULL, &target), 0);
    watch("w", target);
    cr_assert_eq(ask_rc(g_sys, "target", "stop", T_WAIT_MS), 0);
    cr_assert(ev_wait("down:w", 1, T_WAIT_MS));
    ev_t e = {.mono_ms = 0};
    ev_last("down:w", &e);
    cr_assert_str_eq(e.detail, "normal");

    cr_assert_eq(tr_wait(g_sys, target, T_WAIT_MS), 0);
    cr_assert_gt(watch("w", target), 0, "monitoring a dead pid still gives a ref");
    cr_assert(ev_wait("down:w", 2, T_WAIT_MS), "a dead target gives tr.down at once");
    ev_last("down:w", &e);
    cr_assert_str_eq(e.detail, "noproc");
}

Test(actor, monitors_from_several_watchers)
{
    tr_pid_t target;
    cr_assert_eq(tr_spawn(g_sys, "w1", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_spawn(g_sys, "w2", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_spawn(g_sys, "target", probe(), NULL, NULL, &target), 0);
    watch("w1", target);
    watch("w2", target);
    cr_assert_eq(tr_stop(g_sys, target, "shutdown", T_WAIT_MS), 0);
    cr_assert(ev_wait("down:w1", 1, T_WAIT_MS));
    cr_assert(ev_wait("down:w2", 1, T_WAIT_MS));
    ev_t e = {.mono_ms = 0};
    ev_last("down:w2", &e);
    cr_assert_str_eq(e.detail, "shutdown");
}

Test(actor, demonitor_stops_the_notice)
{
    tr_pid_t target;
    cr_assert_eq(tr_spawn(g_sys, "w", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_spawn(g_sys, "target", probe(), NULL, NULL, &target), 0);
    watch("w", target);
    u64buf_t u = mp_u64(target);
    tr_reply_t rep;
    cr_assert_eq(tr_ask(g_sys, "w", "unwatch", u.b, u.len, T_WAIT_MS, &rep), 0);
    tr_reply_close(&rep);
    cr_assert_eq(tr_stop(g_sys, target, NULL, T_WAIT_MS), 0);
    /* a notice would have been sent before tr_stop returned; the "noproc"
     * one below comes after it, and w reads every pipe in turn */
    watch("w", target);
    cr_assert(ev_wait("down:w", 1, T_WAIT_MS));
    cr_assert_eq(ask_rc(g_sys, "w", "ping", T_WAIT_MS), 0);
    cr_assert_eq(ask_rc(g_sys, "w", "ping", T_WAIT_MS), 0);
    cr_assert_eq(ev_count("down:w"), 1);
    ev_t e = {.mono_ms = 0};
    ev_last("down:w", &e);
    cr_assert_str_eq(e.detail, "noproc");
}

Test(actor, tr_stop_on_itself_stops_after_the_handler)
{
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "selfstop", probe(), NULL, NULL, &pid), 0);
    cr_assert_eq(tr_send(g_sys, "selfstop", "stopme", NULL, 0), 0);
    cr_assert_eq(tr_wait(g_sys, pid, T_WAIT_MS), 0);
    ev_t e = {.mono_ms = 0};
    cr_assert(ev_last("term:selfstop", &e));
    cr_assert_str_eq(e.detail, "shutdown: asked to");
}

/* ---- timeouts from the behaviour ---- */

Test(actor, behaviour_timeout_ticks)
{
    probe_arg_t a = {.timeout_ms = 20};
    cr_assert_eq(tr_spawn(g_sys, "ticker", probe(), &a, NULL, NULL), 0);
    cr_assert(ev_wait("timeout:ticker", 3, T_WAIT_MS));
}

/* ---- scale and shutdown ---- */

Test(actor, thousand_actors_spawn_work_and_stop_cleanly)
{
    enum { N = 1000 };
    int base = tr_system_actor_count(g_sys);
    tr_pid_t *pids = calloc(N, sizeof *pids);
    cr_assert_not_null(pids);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tr_spawn(g_sys, NULL, probe(), NULL, NULL, &pids[i]), 0, "spawn %d", i);
    cr_assert_eq(tr_system_actor_count(g_sys), base + N);
    for (int i = 0; i < N; i++) {
        u64buf_t u = mp_u64((uint64_t)i);
        cr_assert_eq(tr_send_pid(g_sys, pids[i], "num", u.b, u.len, NULL), 0, "send %d", i);
    }
    cr_assert(ev_wait_prefix("num:", N, T_WAIT_MS), "every actor handled its message");
    for (int i = 0; i < N; i++)
        cr_assert_eq(tr_stop(g_sys, pids[i], NULL, T_WAIT_MS), 0, "stop %d", i);
    cr_assert_eq(tr_system_actor_count(g_sys), base);
    int handled = 0;
    pthread_mutex_lock(&g_ev.mu);
    for (int i = 0; i < g_ev.n; i++)
        handled += strncmp(g_ev.ev[i].what, "num:", 4) == 0;
    pthread_mutex_unlock(&g_ev.mu);
    cr_assert_eq(ev_count_from(0, NULL) - handled, 2 * N, "one init and one terminate each");
    cr_assert_eq(handled, N);
    free(pids);
}

Test(actor, destroy_terminates_in_reverse_start_order)
{
    cr_assert_eq(tr_spawn(g_sys, "s1", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_spawn(g_sys, "s2", probe(), NULL, NULL, NULL), 0);
    cr_assert_eq(tr_spawn(g_sys, "s3", probe(), NULL, NULL, NULL), 0);
    tr_pid_t p4;
    cr_assert_eq(tr_spawn(g_sys, "s4", probe(), NULL, NULL, &p4), 0);
    cr_assert_eq(tr_stop(g_sys, p4, NULL, T_WAIT_MS), 0);
    int from = ev_n();
    tr_system_destroy(&g_sys);
    cr_assert_null(g_sys);
    char got[256];
    cr_assert_str_eq(ev_join(from, "term:", got, sizeof got), "term:s3,term:s2,term:s1");
    ev_t e = {.mono_ms = 0};
    ev_last("term:s1", &e);
    cr_assert_str_eq(e.detail, "shutdown");
}

/* ---- metrics ---- */

Test(actor, metrics_count_messages_per_actor)
{
    cr_assert_eq(tr_spawn(g_sys, "metered", probe(), NULL, NULL, NULL), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(ask_rc(g_sys, "metered", "ping", T_WAIT_MS), 0);
    cr_assert(metric_wait(g_sys, "troupe_actor_messages_in_total{actor=\"metered\"}", 3, T_WAIT_MS));
    cr_assert(metric_wait(g_sys, "troupe_actor_messages_out_total{actor=\"metered\"}", 3, T_WAIT_MS),
              "three replies sent");
    char *text = metrics_text(g_sys);
    cr_assert(strstr(text, "# TYPE troupe_actor_messages_in_total counter"), "%s", text);
    cr_assert(strstr(text, "troupe_actors "), "live actors gauge");
    free(text);
}

static void *asker(void *arg)
{
    int *fails = arg;
    for (int i = 0; i < 50; i++) {
        tr_reply_t rep;
        int rc = tr_ask(g_sys, "shared", "ping", NULL, 0, T_WAIT_MS, &rep);
        if (rc || !tr_str_eq(rep.msg.type, "pong"))
            (*fails)++;
        tr_reply_close(&rep);
    }
    tr_thread_done(g_sys);
    return NULL;
}

Test(actor, asks_from_several_threads_each_get_their_reply)
{
    cr_assert_eq(tr_spawn(g_sys, "shared", probe(), NULL, NULL, NULL), 0);
    enum { T = 4 };
    pthread_t th[T];
    int fails[T] = {0};
    for (int i = 0; i < T; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, asker, &fails[i]), 0);
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(fails[i], 0, "thread %d", i);
    }
    cr_assert(metric_wait(g_sys, "troupe_actor_messages_in_total{actor=\"shared\"}", T * 50, T_WAIT_MS));
}

/* ------------------------------------------------------------------ */
/* a watched socket beside the mailbox                                 */

typedef struct {
    void *ctx, *pull;
    char endpoint[64];
} watch_st_t;

static char g_watch_ep[64];

static int w_init(tr_actor_t *self, void *arg, void **state)
{
    watch_st_t *s = calloc(1, sizeof *s);
    s->ctx = zmq_ctx_new();
    s->pull = zmq_socket(s->ctx, ZMQ_PULL);
    size_t n = sizeof s->endpoint;
    if (zmq_bind(s->pull, "tcp://127.0.0.1:*") || zmq_getsockopt(s->pull, ZMQ_LAST_ENDPOINT, s->endpoint, &n))
        return TR_ESYS;
    snprintf(g_watch_ep, sizeof g_watch_ep, "%s", s->endpoint);
    *state = s;
    return 0;
}

static void *w_watch(tr_actor_t *self, void *state) { return ((watch_st_t *)state)->pull; }

static int w_ready(tr_actor_t *self, void *state)
{
    watch_st_t *s = state;
    char buf[64];
    int n = zmq_recv(s->pull, buf, sizeof buf - 1, ZMQ_DONTWAIT);
    if (n < 0)
        return 0;
    buf[n] = '\0';
    if (strcmp(buf, "crash") == 0)
        return TR_EINVAL;
    ev_add("socket:w", "%s", buf);
    return 0;
}

static int w_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    ev_add("mailbox:w", "%.*s", (int)msg->type.len, msg->type.ptr);
    return 0;
}

static void w_terminate(tr_actor_t *self, void *state, const char *reason)
{
    watch_st_t *s = state;
    zmq_close(s->pull);
    zmq_ctx_term(s->ctx);
    ev_add("term:w", "%s", reason);
    free(s);
}

static const tr_behaviour_t watch_beh = {
    .kind = "watch", .init = w_init, .handle = w_handle, .terminate = w_terminate, .watch = w_watch, .ready = w_ready};

Test(actor, a_watched_socket_is_served_beside_the_mailbox)
{
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_sys, "w", &watch_beh, NULL, NULL, &pid), 0);
    void *ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    cr_assert_eq(zmq_connect(push, g_watch_ep), 0);
    for (int i = 0; i < 50; i++) {
        char b[16];
        int n = snprintf(b, sizeof b, "n%d", i);
        cr_assert_eq(zmq_send(push, b, (size_t)n, 0), n);
        if (i % 10 == 0)
            cr_assert_eq(tr_send(g_sys, "w", "ping", NULL, 0), 0);
    }
    cr_assert(ev_wait("socket:w", 50, T_WAIT_MS), "every socket message reaches ready()");
    cr_assert(ev_wait("mailbox:w", 5, T_WAIT_MS), "mailbox messages are still handled");
    /* a failing ready() is a crash like a failing handler */
    cr_assert_eq(zmq_send(push, "crash", 5, 0), 5);
    cr_assert(ev_wait("term:w", 1, T_WAIT_MS));
    ev_t e = {.mono_ms = 0};
    cr_assert(ev_last("term:w", &e));
    cr_assert(strstr(e.detail, "crash: ready returned"), "%s", e.detail);
    for (int i = 0; i < T_WAIT_MS && tr_alive(g_sys, pid); i++) /* terminate runs before the record is gone */
        tr_sleep_ms(1);
    cr_assert_not(tr_alive(g_sys, pid));
    zmq_close(push);
    zmq_ctx_term(ctx);
}
