/* test_supervisor.c - supervisors: ordered start and reverse stop, the three
 * strategies, the three restart types, restart intensity and escalation
 * (to a parent supervisor, or to the system for a root), dynamic children
 * and the restart metric. Children are probes (helpers.h) that record
 * "init:<name>" and "term:<name>" events, so order is checked directly. */
#include "helpers.h"

TestSuite(sup, .init = sys_default_start, .fini = sys_stop, .timeout = 120);

#define CHILD(n, r)                                                                                                    \
    {                                                                                                                  \
        .name = (n), .behaviour = &g_probe, .restart = (r)                                                             \
    }

static tr_behaviour_t g_probe;

static void probe_copy(void)
{
    g_probe = *probe();
}

static tr_child_spec_t g_abc[] = {CHILD("a", TR_PERMANENT), CHILD("b", TR_PERMANENT), CHILD("c", TR_PERMANENT)};

static tr_pid_t start_abc(tr_strategy_t strategy)
{
    probe_copy();
    static tr_sup_spec_t spec;
    spec = (tr_sup_spec_t){.strategy = strategy, .intensity = 10, .children = g_abc, .n_children = 3};
    tr_pid_t pid;
    cr_assert_eq(tr_supervisor_start(g_sys, "sup", &spec, &pid), 0);
    return pid;
}

static tr_pid_t pid_of(const char *name)
{
    tr_pid_t p = 0;
    cr_assert_eq(tr_lookup(g_sys, name, &p), 0, "%s is registered", name);
    return p;
}

/* Events from `from` of the kinds init/term only, e.g. "term:b,init:b". */
static char *lifecycle(int from, char *buf, size_t cap)
{
    char tmp[1024];
    ev_join(from, NULL, tmp, sizeof tmp);
    size_t len = 0;
    buf[0] = '\0';
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (strncmp(t, "init:", 5) == 0 || strncmp(t, "term:", 5) == 0)
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "," : "", t);
    return buf;
}

/* Waits until `n` lifecycle events (init or term) happened since `from`. */
static bool wait_lifecycle(int from, int n)
{
    uint64_t until = tr_mono_ms() + T_WAIT_MS;
    char buf[1024];
    for (;;) {
        lifecycle(from, buf, sizeof buf);
        int c = buf[0] ? 1 : 0;
        for (char *p = buf; *p; p++)
            c += *p == ',';
        if (c >= n)
            return true;
        int have = ev_n();
        uint64_t now = tr_mono_ms();
        if (now >= until)
            return false;
        ev_wait_from(have, NULL, 1, (int)(until - now));
    }
}

/* Waits until the supervisor reports `total` children. */
static bool wait_count(const char *sup, int total, int *running)
{
    uint64_t until = tr_mono_ms() + T_WAIT_MS;
    for (;;) {
        if (tr_supervisor_count(g_sys, sup, running, T_WAIT_MS) == total)
            return true;
        if (tr_mono_ms() >= until)
            return false;
        tr_sleep_ms(5);
    }
}

/* ---- ordering and strategies ---- */

Test(sup, starts_in_order_and_stops_in_reverse)
{
    tr_pid_t sup = start_abc(TR_ONE_FOR_ONE);
    char got[512];
    cr_assert_str_eq(lifecycle(0, got, sizeof got), "init:a,init:b,init:c", "tr_supervisor_start returns after all");
    int running = -1;
    cr_assert_eq(tr_supervisor_count(g_sys, "sup", &running, T_WAIT_MS), 3);
    cr_assert_eq(running, 3);
    int from = ev_n();
    cr_assert_eq(tr_stop(g_sys, sup, NULL, T_WAIT_MS), 0);
    cr_assert_str_eq(lifecycle(from, got, sizeof got), "term:c,term:b,term:a");
    ev_t e = {.mono_ms = 0};
    ev_last("term:a", &e);
    cr_assert_str_eq(e.detail, "shutdown");
    tr_pid_t p;
    cr_assert_eq(tr_lookup(g_sys, "a", &p), TR_ENOPROC, "children are gone with their supervisor");
}

Test(sup, one_for_one_restarts_only_the_crashed_child)
{
    start_abc(TR_ONE_FOR_ONE);
    tr_pid_t a = pid_of("a"), b = pid_of("b"), c = pid_of("c");
    int from = ev_n();
    cr_assert_eq(tr_send(g_sys, "b", "crash", NULL, 0), 0);
    cr_assert(wait_lifecycle(from, 2));
    char got[512];
    cr_assert_str_eq(lifecycle(from, got, sizeof got), "term:b,init:b");
    ev_t e = {.mono_ms = 0};
    ev_last("term:b", &e);
    cr_assert_str_eq(e.detail, "crash: boom");
    cr_assert_eq(pid_of("a"), a);
    cr_assert_eq(pid_of("c"), c);
    cr_assert_neq(pid_of("b"), b, "b is a new incarnation");
    cr_assert_eq(ask_rc(g_sys, "b", "ping", T_WAIT_MS), 0, "and it works");
}

Test(sup, one_for_all_restarts_everyone_in_order)
{
    start_abc(TR_ONE_FOR_ALL);
    tr_pid_t a = pid_of("a"), c = pid_of("c");
    int from = ev_n();
    cr_assert_eq(tr_send(g_sys, "b", "crash", NULL, 0), 0);
    cr_assert(wait_lifecycle(from, 6));
    char got[512];
    cr_assert_str_eq(lifecycle(from, got, sizeof got), "term:b,term:c,term:a,init:a,init:b,init:c",
                     "the others stop in reverse order, then all start in order");
    cr_assert_neq(pid_of("a"), a);
    cr_assert_neq(pid_of("c"), c);
    ev_t e = {.mono_ms = 0};
    ev_last("term:a", &e);
    cr_assert_str_eq(e.detail, "shutdown");
}

Test(sup, rest_for_one_restarts_the_crashed_and_later_children)
{
    start_abc(TR_REST_FOR_ONE);
    tr_pid_t a = pid_of("a");
    int from = ev_n();
    cr_assert_eq(tr_send(g_sys, "b", "crash", NULL, 0), 0);
    cr_assert(wait_lifecycle(from, 4));
    char got[512];
    cr_assert_str_eq(lifecycle(from, got, sizeof got), "term:b,term:c,init:b,init:c");
    cr_assert_eq(pid_of("a"), a, "a started before b: untouched");

    /* the last child crashing restarts only itself */
    from = ev_n();
    cr_assert_eq(tr_send(g_sys, "c", "crash", NULL, 0), 0);
    cr_assert(wait_lifecycle(from, 2));
    cr_assert_str_eq(lifecycle(from, got, sizeof got), "term:c,init:c");
}

Test(sup, one_for_all_does_not_restart_temporary_siblings)
{
    probe_copy();
    static tr_child_spec_t kids[] = {CHILD("a", TR_PERMANENT), CHILD("t", TR_TEMPORARY), CHILD("c", TR_PERMANENT)};
    static tr_sup_spec_t spec = {.strategy = TR_ONE_FOR_ALL, .intensity = 10, .children = kids, .n_children = 3};
    cr_assert_eq(tr_supervisor_start(g_sys, "sup", &spec, NULL), 0);
    int from = ev_n();
    cr_assert_eq(tr_send(g_sys, "a", "crash", NULL, 0), 0);
    cr_assert(wait_lifecycle(from, 5));
    char got[512];
    cr_assert_str_eq(lifecycle(from, got, sizeof got), "term:a,term:c,term:t,init:a,init:c");
    int running;
    cr_assert_eq(tr_supervisor_count(g_sys, "sup", &running, T_WAIT_MS), 2, "the temporary child is dropped");
    cr_assert_eq(running, 2);
}

/* ---- restart types ---- */

typedef struct {
    tr_restart_t type;
    const char *how; /* message that ends the child */
    bool restarted;
} rt_case_t;

static void restart_case(rt_case_t k)
{
    probe_copy();
    static tr_child_spec_t kid;
    kid = (tr_child_spec_t)CHILD("k", k.type);
    static tr_sup_spec_t spec;
    spec = (tr_sup_spec_t){.strategy = TR_ONE_FOR_ONE, .intensity = 10, .children = &kid, .n_children = 1};
    cr_assert_eq(tr_supervisor_start(g_sys, "sup", &spec, NULL), 0);
    tr_pid_t first = pid_of("k");
    cr_assert_eq(tr_send(g_sys, "k", k.how, NULL, 0), 0);
    cr_assert_eq(tr_wait(g_sys, first, T_WAIT_MS), 0);
    int running = -1;
    if (k.restarted) {
        cr_assert(ev_wait("init:k", 2, T_WAIT_MS), "%s ended by %s is restarted", "child", k.how);
        cr_assert_eq(tr_supervisor_count(g_sys, "sup", &running, T_WAIT_MS), 1);
        cr_assert_eq(running, 1);
        cr_assert_neq(pid_of("k"), first);
    } else {
        /* not restarted: the supervisor drops it from its list */
        cr_assert(wait_count("sup", 0, &running), "%s: child removed", k.how);
        cr_assert_eq(ev_count("init:k"), 1, "never started again");
        tr_pid_t p;
        cr_assert_eq(tr_lookup(g_sys, "k", &p), TR_ENOPROC);
    }
    cr_assert_eq(ask_rc(g_sys, "sup", "nonsense", T_WAIT_MS), TR_EREMOTE, "the supervisor itself is fine");
}

Test(sup, permanent_restarted_after_crash)
{
    restart_case((rt_case_t){TR_PERMANENT, "crash", true});
}

Test(sup, permanent_restarted_after_normal_exit)
{
    restart_case((rt_case_t){TR_PERMANENT, "stop", true});
}

Test(sup, transient_restarted_after_crash)
{
    restart_case((rt_case_t){TR_TRANSIENT, "crash", true});
}

Test(sup, transient_restarted_after_tr_exit)
{
    restart_case((rt_case_t){TR_TRANSIENT, "exit", true});
}

Test(sup, transient_not_restarted_after_normal_exit)
{
    restart_case((rt_case_t){TR_TRANSIENT, "stop", false});
}

Test(sup, transient_not_restarted_after_tr_exit_normal)
{
    restart_case((rt_case_t){TR_TRANSIENT, "exit_normal", false});
}

Test(sup, temporary_not_restarted_after_crash)
{
    restart_case((rt_case_t){TR_TEMPORARY, "crash", false});
}

Test(sup, temporary_not_restarted_after_normal_exit)
{
    restart_case((rt_case_t){TR_TEMPORARY, "stop", false});
}

Test(sup, tr_exit_is_reported_as_a_crash)
{
    probe_copy();
    static tr_child_spec_t kid = CHILD("k", TR_PERMANENT);
    static tr_sup_spec_t spec = {.strategy = TR_ONE_FOR_ONE, .children = &kid, .n_children = 1};
    cr_assert_eq(tr_supervisor_start(g_sys, "sup", &spec, NULL), 0);
    cr_assert_eq(tr_spawn(g_sys, "w", probe(), NULL, NULL, NULL), 0);
    u64buf_t u = mp_u64(pid_of("k"));
    tr_reply_t rep;
    cr_assert_eq(tr_ask(g_sys, "w", "watch", u.b, u.len, T_WAIT_MS, &rep), 0);
    tr_reply_close(&rep);
    cr_assert_eq(tr_send(g_sys, "k", "exit", NULL, 0), 0);
    cr_assert(ev_wait("down:w", 1, T_WAIT_MS));
    ev_t e = {.mono_ms = 0};
    ev_last("down:w", &e);
    cr_assert_str_eq(e.detail, "crash: kaboom");
    cr_assert(ev_wait("init:k", 2, T_WAIT_MS));
}

/* ---- intensity and escalation ---- */

Test(sup, nested_supervisor_escalates_to_its_parent)
{
    probe_copy();
    static tr_child_spec_t worker = CHILD("w", TR_PERMANENT);
    static tr_sup_spec_t mid = {
        .strategy = TR_ONE_FOR_ONE, .intensity = 2, .period_ms = 60000, .children = &worker, .n_children = 1};
    static tr_child_spec_t top_kids[] = {
        {.name = "mid", .behaviour = &tr_supervisor_behaviour, .arg = &mid, .restart = TR_PERMANENT}};
    static tr_sup_spec_t top = {.strategy = TR_ONE_FOR_ONE, .intensity = 5, .children = top_kids, .n_children = 1};
    tr_pid_t top_pid;
    cr_assert_eq(tr_supervisor_start(g_sys, "top", &top, &top_pid), 0);
    tr_pid_t mid1 = pid_of("mid");

    /* two crashes are within mid's intensity */
    for (int i = 1; i <= 2; i++) {
        cr_assert_eq(tr_send(g_sys, "w", "crash", NULL, 0), 0);
        cr_assert(ev_wait("init:w", 1 + i, T_WAIT_MS), "restart %d", i);
        cr_assert_eq(pid_of("mid"), mid1, "mid absorbed crash %d", i);
    }
    /* the third exceeds it: mid gives up, top restarts mid, mid starts w */
    cr_assert_eq(tr_send(g_sys, "w", "crash", NULL, 0), 0);
    cr_assert_eq(tr_wait(g_sys, mid1, T_WAIT_MS), 0, "the child supervisor crashed");
    cr_assert(ev_wait("init:w", 4, T_WAIT_MS), "the new mid started w again");
    tr_pid_t mid2 = pid_of("mid");
    cr_assert_neq(mid2, mid1);
    cr_assert(tr_alive(g_sys, top_pid), "top absorbed the escalation");
    cr_assert_not(tr_system_wait_shutdown(g_sys, 0, NULL, 0), "no system shutdown for a non-root");
    /* counted after the restarted child's init returned: wait for them */
    cr_assert(metric_wait(g_sys, "troupe_actor_restarts_total{actor=\"mid\"}", 1, T_WAIT_MS));
    cr_assert(metric_wait(g_sys, "troupe_actor_restarts_total{actor=\"w\"}", 2, T_WAIT_MS));
    cr_assert_eq(ask_rc(g_sys, "w", "ping", T_WAIT_MS), 0);
}

Test(sup, root_supervisor_escalation_requests_system_shutdown)
{
    probe_copy();
    static tr_child_spec_t kid = CHILD("k", TR_PERMANENT);
    static tr_sup_spec_t spec = {.strategy = TR_ONE_FOR_ONE,
                                 .intensity = 1,
                                 .period_ms = 60000,
                                 .children = &kid,
                                 .n_children = 1,
                                 .root = true};
    tr_pid_t sup;
    cr_assert_eq(tr_supervisor_start(g_sys, "root", &spec, &sup), 0);
    cr_assert_not(tr_system_wait_shutdown(g_sys, 0, NULL, 0));
    cr_assert_eq(tr_send(g_sys, "k", "crash", NULL, 0), 0);
    cr_assert(ev_wait("init:k", 2, T_WAIT_MS));
    cr_assert_not(tr_system_wait_shutdown(g_sys, 0, NULL, 0), "one restart is allowed");
    cr_assert_eq(tr_send(g_sys, "k", "crash", NULL, 0), 0);
    char reason[256] = "";
    cr_assert(tr_system_wait_shutdown(g_sys, T_WAIT_MS, reason, sizeof reason));
    cr_assert(strstr(reason, "restart intensity exceeded"), "reason: %s", reason);
    cr_assert_eq(tr_wait(g_sys, sup, T_WAIT_MS), 0, "the root supervisor is gone");
    cr_assert_eq(ev_count("init:k"), 2);
}

Test(sup, intensity_minus_one_allows_no_restart)
{
    probe_copy();
    static tr_child_spec_t kid = CHILD("k", TR_PERMANENT);
    static tr_sup_spec_t spec = {
        .strategy = TR_ONE_FOR_ONE, .intensity = -1, .children = &kid, .n_children = 1, .root = true};
    tr_pid_t sup;
    cr_assert_eq(tr_supervisor_start(g_sys, "root", &spec, &sup), 0);
    cr_assert_eq(tr_send(g_sys, "k", "crash", NULL, 0), 0);
    cr_assert(tr_system_wait_shutdown(g_sys, T_WAIT_MS, NULL, 0));
    cr_assert_eq(tr_wait(g_sys, sup, T_WAIT_MS), 0);
    cr_assert_eq(ev_count("init:k"), 1);
}

Test(sup, crashes_spread_over_more_than_the_period_are_absorbed)
{
    probe_copy();
    static tr_child_spec_t kid = CHILD("k", TR_PERMANENT);
    static tr_sup_spec_t spec = {
        .strategy = TR_ONE_FOR_ONE, .intensity = 1, .period_ms = 200, .children = &kid, .n_children = 1, .root = true};
    tr_pid_t sup;
    cr_assert_eq(tr_supervisor_start(g_sys, "root", &spec, &sup), 0);
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(tr_send(g_sys, "k", "crash", NULL, 0), 0);
        cr_assert(ev_wait("init:k", 1 + i, T_WAIT_MS));
        tr_sleep_ms(300); /* a lower bound: the previous restart leaves the window */
    }
    cr_assert(tr_alive(g_sys, sup));
    cr_assert_not(tr_system_wait_shutdown(g_sys, 0, NULL, 0));
}

Test(sup, normal_supervisor_stop_is_not_an_escalation)
{
    probe_copy();
    static tr_child_spec_t kid = CHILD("k", TR_PERMANENT);
    static tr_sup_spec_t spec = {.strategy = TR_ONE_FOR_ONE, .children = &kid, .n_children = 1, .root = true};
    tr_pid_t sup;
    cr_assert_eq(tr_supervisor_start(g_sys, "root", &spec, &sup), 0);
    cr_assert_eq(tr_stop(g_sys, sup, "shutdown", T_WAIT_MS), 0);
    cr_assert_not(tr_system_wait_shutdown(g_sys, 0, NULL, 0));
    cr_assert_eq(ev_count("term:k"), 1);
}

Test(sup, root_stopped_with_a_shutdown_reason_is_not_an_escalation)
{
    /* "shutdown: <why>" is how callers say why they stop something; the
     * restart rules already read it as a normal end */
    probe_copy();
    static tr_child_spec_t kid = CHILD("k", TR_PERMANENT);
    static tr_sup_spec_t spec = {.strategy = TR_ONE_FOR_ONE, .children = &kid, .n_children = 1, .root = true};
    tr_pid_t sup;
    cr_assert_eq(tr_supervisor_start(g_sys, "root", &spec, &sup), 0);
    cr_assert_eq(tr_stop(g_sys, sup, "shutdown: maintenance", T_WAIT_MS), 0);
    cr_assert_not(tr_system_wait_shutdown(g_sys, 0, NULL, 0));
}

Test(sup, start_child_under_a_name_taken_elsewhere_is_eexist)
{
    probe_copy();
    static tr_sup_spec_t spec = {.strategy = TR_ONE_FOR_ONE};
    cr_assert_eq(tr_supervisor_start(g_sys, "dyn", &spec, NULL), 0);
    cr_assert_eq(tr_spawn(g_sys, "taken", probe(), NULL, NULL, NULL), 0);
    tr_child_spec_t c = CHILD("taken", TR_PERMANENT);
    cr_assert_eq(tr_supervisor_start_child(g_sys, "dyn", &c, T_WAIT_MS), TR_EEXIST);
    int running = -1;
    cr_assert_eq(tr_supervisor_count(g_sys, "dyn", &running, T_WAIT_MS), 0);
}

Test(sup, child_failing_init_fails_the_start_and_stops_the_others)
{
    probe_copy();
    static probe_arg_t bad = {.fail_init = true};
    static tr_child_spec_t kids[] = {
        CHILD("a", TR_PERMANENT), CHILD("b", TR_PERMANENT), {.name = "c", .behaviour = &g_probe, .arg = &bad}};
    static tr_sup_spec_t spec = {.strategy = TR_ONE_FOR_ONE, .children = kids, .n_children = 3};
    int base = tr_system_actor_count(g_sys);
    cr_assert_eq(tr_supervisor_start(g_sys, "sup", &spec, NULL), TR_EINIT);
    char got[512];
    cr_assert_str_eq(lifecycle(0, got, sizeof got), "init:a,init:b,term:b,term:a");
    cr_assert_eq(tr_system_actor_count(g_sys), base);
}

/* ---- dynamic children ---- */

Test(sup, dynamic_children)
{
    probe_copy();
    static tr_sup_spec_t spec = {.strategy = TR_ONE_FOR_ONE};
    cr_assert_eq(tr_supervisor_start(g_sys, "dyn", &spec, NULL), 0);
    int running = -1;
    cr_assert_eq(tr_supervisor_count(g_sys, "dyn", &running, T_WAIT_MS), 0);

    char name[16];
    snprintf(name, sizeof name, "d1"); /* copied by start_child */
    tr_child_spec_t c = CHILD(name, TR_PERMANENT);
    cr_assert_eq(tr_supervisor_start_child(g_sys, "dyn", &c, T_WAIT_MS), 0);
    memset(name, 0, sizeof name);
    c.name = "d2";
    cr_assert_eq(tr_supervisor_start_child(g_sys, "dyn", &c, T_WAIT_MS), 0);
    cr_assert_eq(tr_supervisor_count(g_sys, "dyn", &running, T_WAIT_MS), 2);
    cr_assert_eq(running, 2);
    cr_assert_eq(tr_supervisor_start_child(g_sys, "dyn", &c, T_WAIT_MS), TR_EEXIST);

    static probe_arg_t bad = {.fail_init = true};
    tr_child_spec_t failing = {.name = "d3", .behaviour = &g_probe, .arg = &bad};
    cr_assert_eq(tr_supervisor_start_child(g_sys, "dyn", &failing, T_WAIT_MS), TR_EINIT);
    cr_assert_eq(tr_supervisor_count(g_sys, "dyn", &running, T_WAIT_MS), 2, "a failed child is not kept");

    /* a dynamic child is supervised like the others */
    tr_pid_t d1 = pid_of("d1");
    cr_assert_eq(tr_send(g_sys, "d1", "crash", NULL, 0), 0);
    cr_assert(ev_wait("init:d1", 2, T_WAIT_MS));
    cr_assert_neq(pid_of("d1"), d1);

    int from = ev_n();
    cr_assert_eq(tr_supervisor_stop_child(g_sys, "dyn", "d1", T_WAIT_MS), 0);
    char got[128];
    cr_assert_str_eq(lifecycle(from, got, sizeof got), "term:d1", "stop_child returns after the child stopped");
    tr_pid_t p;
    cr_assert_eq(tr_lookup(g_sys, "d1", &p), TR_ENOPROC);
    cr_assert_eq(tr_supervisor_count(g_sys, "dyn", &running, T_WAIT_MS), 1);
    cr_assert_eq(running, 1);
    cr_assert_eq(ev_count("init:d1"), 2, "a stopped child is not restarted");
    cr_assert_eq(tr_supervisor_stop_child(g_sys, "dyn", "d1", T_WAIT_MS), TR_ENOPROC);
    cr_assert_eq(tr_supervisor_start_child(g_sys, "nosuch", &c, T_WAIT_MS), TR_ENOPROC);
    cr_assert_eq(tr_supervisor_count(g_sys, "nosuch", NULL, T_WAIT_MS), -1);

    /* dynamic children stop in reverse order with the supervisor */
    c.name = "d4";
    cr_assert_eq(tr_supervisor_start_child(g_sys, "dyn", &c, T_WAIT_MS), 0);
    tr_pid_t dyn = pid_of("dyn");
    from = ev_n();
    cr_assert_eq(tr_stop(g_sys, dyn, NULL, T_WAIT_MS), 0);
    cr_assert_str_eq(lifecycle(from, got, sizeof got), "term:d4,term:d2");
}

Test(sup, restart_metric_counts_restarts)
{
    start_abc(TR_ONE_FOR_ONE);
    cr_assert_eq(metric_value(g_sys, "troupe_actor_restarts_total{actor=\"b\"}"), 0);
    cr_assert_eq(tr_send(g_sys, "b", "crash", NULL, 0), 0);
    cr_assert(ev_wait("init:b", 2, T_WAIT_MS));
    cr_assert_eq(tr_send(g_sys, "b", "crash", NULL, 0), 0);
    cr_assert(ev_wait("init:b", 3, T_WAIT_MS));
    cr_assert(metric_wait(g_sys, "troupe_actor_restarts_total{actor=\"b\"}", 2, T_WAIT_MS));
    cr_assert_eq(metric_value(g_sys, "troupe_actor_restarts_total{actor=\"a\"}"), 0);
    char *text = metrics_text(g_sys);
    cr_assert(strstr(text, "# TYPE troupe_actor_restarts_total counter"), "%s", text);
    free(text);
}

Test(sup, system_destroy_with_a_supervision_tree)
{
    start_abc(TR_ONE_FOR_ALL);
    int from = ev_n();
    tr_system_destroy(&g_sys);
    char got[512];
    cr_assert_str_eq(lifecycle(from, got, sizeof got), "term:c,term:b,term:a",
                     "reverse start order, and nothing restarted while the system closes: %s", got);
}
