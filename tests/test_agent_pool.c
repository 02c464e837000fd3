/* test_agent_pool.c - several actors per agent: tasks spread over the
 * instances, and results and steps still name the agent, not the instance. */
#include "harness.h"

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
    char ids[6][40];
    for (int i = 0; i < 6; i++) {
        th_resp_t r = th_json(&s, "POST", "/v1/tasks", access,
                              "{\"agent\":\"summarizer\",\"input\":\"Summarize: Pumps are serviced monthly. Filters "
                              "are replaced after each inspection. The log is reviewed weekly.\"}");
        cr_assert_eq(r.status, 202, "%s", r.body);
        snprintf(ids[i], sizeof ids[i], "%s", json_string_value(json_object_get(r.json, "id")));
        th_free(&r);
    }
    for (int i = 0; i < 6; i++) {
        char path[80];
        snprintf(path, sizeof path, "/v1/tasks/%.36s", ids[i]);
        const char *state = NULL;
        th_resp_t r = {0};
        for (int k = 0; k < 600; k++) { /* bounded: up to 60 s */
            r = th_json(&s, "GET", path, access, NULL);
            json_t *t = json_object_get(r.json, "task");
            state = json_string_value(json_object_get(t, "state"));
            if (state && strcmp(state, "queued") != 0 && strcmp(state, "running") != 0)
                break;
            th_free(&r);
            tr_sleep_ms(100);
        }
        cr_assert_str_eq(state, "succeeded", "%s", r.body);
        json_t *t = json_object_get(r.json, "task");
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(t, "result"), "agent")), "summarizer");
        json_t *step;
        size_t k;
        json_array_foreach(json_object_get(t, "steps"), k, step)
            cr_assert_str_eq(json_string_value(json_object_get(step, "agent")), "summarizer");
        th_free(&r);
    }
    free(access);
    free(refresh);
    th_stop(&s);
}
