/* test_agent_pool.c - several actors per agent: tasks spread over the
 * instances, and results and steps still name the agent, not the instance. */
#include "harness.h"

/* Posts n tasks for `agent` and waits (bounded) for each to succeed; the
 * result and every step name the agent, not the instance. */
static void run_all(th_server_t *s, const char *access, const char *agent, const char *input, int n)
{
    char ids[8][40];
    char body[512];
    snprintf(body, sizeof body, "{\"agent\":\"%s\",\"input\":\"%s\"}", agent, input);
    for (int i = 0; i < n; i++) {
        th_resp_t r = th_json(s, "POST", "/v1/tasks", access, body);
        cr_assert_eq(r.status, 202, "%s", r.body);
        snprintf(ids[i], sizeof ids[i], "%s", json_string_value(json_object_get(r.json, "id")));
        th_free(&r);
    }
    for (int i = 0; i < n; i++) {
        char path[80];
        snprintf(path, sizeof path, "/v1/tasks/%.36s", ids[i]);
        const char *state = NULL;
        th_resp_t r = {0};
        for (int k = 0; k < 600; k++) { /* bounded: up to 60 s */
            r = th_json(s, "GET", path, access, NULL);
            json_t *t = json_object_get(r.json, "task");
            state = json_string_value(json_object_get(t, "state"));
            if (state && strcmp(state, "queued") != 0 && strcmp(state, "running") != 0)
                break;
            th_free(&r);
            tr_sleep_ms(100);
        }
        cr_assert_str_eq(state, "succeeded", "%s", r.body);
        json_t *t = json_object_get(r.json, "task");
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(t, "result"), "agent")), agent);
        json_t *step;
        size_t k;
        json_array_foreach(json_object_get(t, "steps"), k, step)
        {
            const char *a = json_string_value(json_object_get(step, "agent"));
            cr_assert(a && strchr(a, '.') == NULL, "a step names an agent, not an instance: %s", a ? a : "(none)");
        }
        th_free(&r);
    }
}

Test(agent_pool, tasks_spread_over_instances)
{
    th_server_t s;
    th_start(&s, "agent_instances", "3", "llm_url", "http://127.0.0.1:1", NULL);
    tr_pid_t pid;
    cr_assert_eq(tr_lookup(s.sys, "summarizer", &pid), 0);
    cr_assert_eq(tr_lookup(s.sys, "summarizer.1", &pid), 0);
    cr_assert_eq(tr_lookup(s.sys, "summarizer.2", &pid), 0);
    cr_assert_neq(tr_lookup(s.sys, "summarizer.3", &pid), 0);
    char email[64], *access, *refresh;
    th_user(&s, email, sizeof email, &access, &refresh);
    run_all(&s, access, "summarizer",
            "Summarize: Pumps are serviced monthly. Filters are replaced after each inspection. The log is reviewed "
            "weekly.",
            6);
    free(access);
    free(refresh);
    th_stop(&s);
}

/* Each coordinator instance gets its own parts' answers (they used to go to
 * "coordinator" alone: jobs on coordinator.1 and .2 waited for their
 * deadline and failed). */
Test(agent_pool, every_coordinator_instance_gets_its_parts_back)
{
    th_server_t s;
    th_start(&s, "agent_instances", "3", "llm_url", "http://127.0.0.1:1", "task_timeout_ms", "20000", NULL);
    char email[64], *access, *refresh;
    th_user(&s, email, sizeof email, &access, &refresh);
    run_all(&s, access, "coordinator",
            "1. Summarize: Solar panels turn light into electricity. They work best facing the sun.\\n"
            "2. Summarize: Pumps are serviced monthly. Filters are replaced after each inspection.",
            6);
    free(access);
    free(refresh);
    th_stop(&s);
}
