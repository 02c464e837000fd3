/* test_agents.c - the five agents' real output through the whole tree
 * (HTTP → tasks → agents → LLM gateway → the fake Ollama), with the LLM up
 * (mode "llm", model set) and down (llm_url at a closed port: mode
 * "degraded" with a degraded_reason): orchestrator routing by the model's
 * choice and by rules, coordinator fan-out with partial failure, code
 * assistant findings from gcc / cppcheck / py_compile without ever running
 * the code, the extractive summarizer, and the doc assistant's honest
 * failure while the document store is absent. */
#include "task_helpers.h"

#include <unistd.h>

static th_server_t g_s;
static fake_ollama_t *g_fo;
static char g_url[64];
static tuser_t g_u;

static void start_llm_up(void)
{
    g_fo = fake_up(g_url);
    th_start(&g_s, "llm_url", g_url, "llm_retries", "0", NULL);
    tuser(&g_s, &g_u);
}

static void start_llm_down(void)
{
    th_start(&g_s, "llm_url", LLM_DOWN_URL, "llm_retries", "0", NULL);
    tuser(&g_s, &g_u);
}

static void fini(void)
{
    fake_ollama_stop(g_fo); /* first: nothing waits on a slow model while stopping */
    g_fo = NULL;
    tuser_free(&g_u);
    th_stop(&g_s);
}

TestSuite(agents, .fini = fini, .timeout = 240);

/* The result of an LLM-mode answer names the model; a degraded one says why. */
static void assert_llm_mode(json_t *res)
{
    char *d = json_dumps(res, JSON_COMPACT);
    cr_assert(jstr_is(res, "mode", "llm"), "mode llm: %s", d);
    cr_assert(jstr_is(res, "model", "tinyllama"), "model set: %s", d);
    cr_assert_null(json_object_get(res, "degraded_reason"), "%s", d);
    free(d);
}

static void assert_degraded(json_t *res, const char *reason_has)
{
    char *d = json_dumps(res, JSON_COMPACT);
    cr_assert(jstr_is(res, "mode", "degraded"), "mode degraded: %s", d);
    cr_assert(json_is_null(json_object_get(res, "model")), "no model: %s", d);
    const char *why = js(res, "degraded_reason");
    cr_assert(why && *why, "a degraded answer says why: %s", d);
    if (reason_has)
        cr_assert(strstr(why, reason_has), "degraded_reason mentions %s: %s", reason_has, why);
    free(d);
}

static const char *const ARTICLE =
    "Rivers shape the land they cross. Over thousands of years a river cuts valleys, carries sediment and builds "
    "wide plains where it slows down.\n\n"
    "Floods are part of a river's life. A flood spreads fertile silt over the plain, which is why farmers settled "
    "along rivers since the earliest times.\n\n"
    "Dams change this balance. A dam holds back water and sediment, so the plain below receives less silt and the "
    "delta at the river's mouth can shrink.\n\n"
    "Engineers now plan controlled floods. Releasing water from a dam at the right season restores some of the "
    "sediment flow that rivers and their plains depend on.";

/* ------------------------------------------------------------------ */
/* orchestrator                                                        */

Test(agents, orchestrator_routes_by_the_llm_choice)
{
    start_llm_up();
    /* the rules would pick the code assistant ("review", "code", "bug"); the model picks the summarizer */
    const char *choice = "{\"agent\":\"summarizer\",\"reason\":\"the user wants a digest\"}";
    char input[512];
    snprintf(input, sizeof input, "Please review this code snippet for a bug.\nFAKE_JSON: %s", choice);
    json_t *t;
    json_t *res = task_run(&g_s, g_u.token, "auto", input, &t);
    assert_llm_mode(res);
    cr_assert(jstr_is(res, "agent", "summarizer"));
    cr_assert_str_eq(js(res, "output"), choice, "the summarizer's own LLM answer (the fake echoes FAKE_JSON)");
    json_t *routing = json_object_get(res, "routing");
    cr_assert(jstr_is(routing, "by", "orchestrator") && jstr_is(routing, "to", "summarizer"));
    cr_assert(jstr_is(routing, "mode", "llm") && jstr_is(routing, "model", "tinyllama"));
    json_t *route = step_find(t, "orchestrator", "route");
    cr_assert(route, "the routing is a step");
    cr_assert(jstr_is(route, "routed_to", "summarizer") && jstr_is(route, "mode", "llm"));
    cr_assert(step_find(t, "summarizer", "summarise"), "then the summarizer worked");
    assert_steps_shape(t);
    cr_assert(jstr_is(t, "agent", "auto"));
    json_decref(res);
    json_decref(t);
}

Test(agents, orchestrator_routes_by_rules_when_the_llm_is_down)
{
    start_llm_down();
    char input[2048];
    snprintf(input, sizeof input, "Summarize this article for me:\n\n%s", ARTICLE);
    json_t *t;
    json_t *res = task_run(&g_s, g_u.token, "auto", input, &t);
    assert_degraded(res, "LLM");
    cr_assert(jstr_is(res, "agent", "summarizer"));
    json_t *routing = json_object_get(res, "routing");
    cr_assert(jstr_is(routing, "to", "summarizer") && jstr_is(routing, "mode", "degraded"));
    json_t *route = step_find(t, "orchestrator", "route");
    cr_assert(route && jstr_is(route, "routed_to", "summarizer") && jstr_is(route, "mode", "degraded"));
    cr_assert(js(route, "degraded_reason") && strstr(js(route, "degraded_reason"), "LLM"));
    json_decref(res);
    json_decref(t);

    res = task_run(&g_s, g_u.token, "auto", "```c\nint main(void) { return 0 }\n```", &t);
    cr_assert(jstr_is(json_object_get(res, "routing"), "to", "code_assistant"));
    cr_assert(jstr_is(res, "agent", "code_assistant"));
    cr_assert_gt(json_array_size(json_object_get(res, "findings")), 0, "the missing ';' is found");
    json_decref(res);
    json_decref(t);

    /* the same text the model routed to the summarizer above: the rules say code assistant, which finds no code */
    char *id = task_submit(&g_s, g_u.token, "auto", "Please review this code snippet for a bug.");
    t = task_wait(&g_s, g_u.token, id);
    cr_assert(jstr_is(t, "state", "failed"), "no code to check: an explicit failure");
    cr_assert(js(t, "error") && strstr(js(t, "error"), "no C or Python code"), "%s", js(t, "error"));
    route = step_find(t, "orchestrator", "route");
    cr_assert(route && jstr_is(route, "routed_to", "code_assistant"));
    json_decref(t);
    free(id);
}

/* ------------------------------------------------------------------ */
/* coordinator                                                         */

static const char *const THREE_PARTS =
    "1. Review this code: int main(void) { return missing_var; }\n"
    "2. Summarize: Solar panels turn light into electricity. They work best facing the sun. Cleaning them keeps "
    "their output high.\n"
    "3. Review this code snippet that I forgot to paste";

/* Parts in order: code assistant, summarizer, code assistant again (no code: fails twice). */
static void assert_three_parts(json_t *res, const char *part_mode)
{
    char *d = json_dumps(res, JSON_COMPACT);
    json_t *parts = json_object_get(res, "parts");
    cr_assert_eq(json_array_size(parts), 3, "%s", d);
    static const char *const agents[] = {"code_assistant", "summarizer", "code_assistant"};
    for (size_t i = 0; i < 3; i++)
        cr_assert(jstr_is(json_array_get(parts, i), "agent", agents[i]), "part %zu → %s: %s", i, agents[i], d);
    json_t *p0 = json_array_get(parts, 0), *p1 = json_array_get(parts, 1), *p2 = json_array_get(parts, 2);
    cr_assert(json_is_true(json_object_get(p0, "ok")) && json_is_true(json_object_get(p1, "ok")), "%s", d);
    cr_assert(strstr(js(p0, "input"), "missing_var") && strstr(js(p1, "input"), "Solar panels"));
    json_t *r0 = json_object_get(p0, "result"), *r1 = json_object_get(p1, "result");
    cr_assert(jstr_is(r0, "mode", part_mode) && jstr_is(r1, "mode", part_mode), "%s", d);
    cr_assert_gt(json_array_size(json_object_get(r0, "findings")), 0, "the code part has findings: %s", d);
    cr_assert(js(r1, "output") && *js(r1, "output"));
    cr_assert(json_is_false(json_object_get(p2, "ok")), "%s", d);
    cr_assert_eq(ji(p2, "attempts"), 2, "a failed part is retried once");
    cr_assert(js(p2, "error") && strstr(js(p2, "error"), "no C or Python code"), "%s", d);
    cr_assert_eq(ji(res, "succeeded"), 2);
    cr_assert_eq(ji(res, "failed"), 1);
    cr_assert(json_is_true(json_object_get(res, "partial")));
    cr_assert(jstr_is(res, "plan", "rules"));
    cr_assert(strstr(js(res, "output"), "## Part 3 (code_assistant) - FAILED"), "%s", js(res, "output"));
    free(d);
}

Test(agents, coordinator_fans_out_an_explicit_list_and_reports_partial_failure)
{
    start_llm_up();
    json_t *t;
    json_t *res = task_run(&g_s, g_u.token, "coordinator", THREE_PARTS, &t);
    assert_three_parts(res, "llm");
    /* an explicit list needs no planning: labelled so */
    assert_degraded(res, "explicit sub-task list");
    json_t *plan = step_find(t, "coordinator", "plan");
    cr_assert(plan && ji(plan, "parts") == 3);
    cr_assert(step_find(t, "coordinator", "gather"));
    cr_assert(step_find(t, "code_assistant", "static_checks") && step_find(t, "summarizer", "summarise"));
    cr_assert(!step_find(t, "doc_assistant", "retrieve"), "no part went to the doc assistant");
    assert_steps_shape(t);
    json_decref(res);
    json_decref(t);
}

Test(agents, coordinator_fans_out_by_rules_when_the_llm_is_down)
{
    start_llm_down();
    json_t *res = task_run(&g_s, g_u.token, "coordinator", THREE_PARTS, NULL);
    assert_three_parts(res, "degraded");
    assert_degraded(res, NULL);
    json_decref(res);
}

Test(agents, coordinator_plans_with_the_llm)
{
    start_llm_up();
    const char *input =
        "Please handle my two requests.\n"
        "FAKE_JSON: [{\"agent\":\"summarizer\",\"input\":\"Summarize: Bees pollinate flowers and make honey from "
        "nectar they collect.\"},{\"agent\":\"code_assistant\",\"input\":\"```python\\nprint(1 +)\\n```\"}]";
    json_t *res = task_run(&g_s, g_u.token, "coordinator", input, NULL);
    assert_llm_mode(res);
    cr_assert(jstr_is(res, "plan", "llm"));
    json_t *parts = json_object_get(res, "parts");
    cr_assert_eq(json_array_size(parts), 2);
    cr_assert(jstr_is(json_array_get(parts, 0), "agent", "summarizer"));
    cr_assert(jstr_is(json_array_get(parts, 1), "agent", "code_assistant"));
    cr_assert_eq(ji(res, "succeeded"), 2);
    cr_assert(json_is_false(json_object_get(res, "partial")));
    json_t *code = json_object_get(json_array_get(parts, 1), "result");
    cr_assert(jstr_is(code, "language", "python"));
    json_t *f = json_array_get(json_object_get(code, "findings"), 0);
    cr_assert(jstr_is(f, "tool", "py_compile") && ji(f, "line") == 1, "the broken line is found");
    json_decref(res);
}

/* ------------------------------------------------------------------ */
/* code assistant                                                      */

static json_t *finding(json_t *res, const char *tool, long line)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(res, "findings"), i, f) if (jstr_is(f, "tool", tool) && ji(f, "line") == line)
        return f;
    char *d = json_dumps(json_object_get(res, "findings"), JSON_COMPACT);
    cr_assert_fail("no %s finding on line %ld: %s", tool, line, d);
    return NULL;
}

static bool tool_ran(json_t *res, const char *tool)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(res, "tools"), i, t) if (jstr_is(t, "tool", tool)) return
        json_is_false(json_object_get(t, "timed_out"));
    return false;
}

static const char *const C_SNIPPET = "```c\n"
                                     "#include <stdio.h>\n"
                                     "\n"
                                     "int main(void)\n"
                                     "{\n"
                                     "    int a[3];\n"
                                     "    a[3] = 1;\n"
                                     "    printf(\"%d\\n\", counter);\n"
                                     "    return a[0];\n"
                                     "}\n"
                                     "```";

static void assert_c_findings(json_t *res)
{
    cr_assert(jstr_is(res, "language", "c"));
    cr_assert(tool_ran(res, "gcc") && tool_ran(res, "cppcheck"));
    json_t *f = finding(res, "gcc", 7);
    cr_assert(jstr_is(f, "severity", "error"));
    cr_assert(strstr(js(f, "message"), "counter") && strstr(js(f, "message"), "undeclared"), "%s", js(f, "message"));
    cr_assert_eq(ji(f, "column"), 20);
    f = finding(res, "cppcheck", 6);
    cr_assert(jstr_is(f, "severity", "error"));
    cr_assert(strstr(js(f, "message"), "arrayIndexOutOfBounds"), "%s", js(f, "message"));
    cr_assert(strstr(js(res, "output"), "line 7: error (gcc)"), "the text lists the findings: %s", js(res, "output"));
}

Test(agents, code_assistant_finds_c_errors_without_an_llm)
{
    start_llm_down();
    json_t *t;
    json_t *res = task_run(&g_s, g_u.token, "code_assistant", C_SNIPPET, &t);
    assert_degraded(res, "LLM");
    assert_c_findings(res);
    cr_assert_null(json_object_get(res, "review"));
    json_t *st = step_find(t, "code_assistant", "static_checks");
    cr_assert(st && json_is_true(json_object_get(st, "ok")));
    st = step_find(t, "code_assistant", "llm_review");
    cr_assert(st && json_is_false(json_object_get(st, "ok")), "the failed LLM step is recorded");
    json_decref(res);
    json_decref(t);
}

Test(agents, code_assistant_adds_an_llm_review_to_the_findings)
{
    start_llm_up();
    json_t *res = task_run(&g_s, g_u.token, "code_assistant", C_SNIPPET, NULL);
    assert_llm_mode(res);
    assert_c_findings(res);
    const char *review = js(res, "review");
    cr_assert(review && strncmp(review, "fake-tinyllama reply to: ", 25) == 0, "%s", review);
    cr_assert(strstr(js(res, "output"), review) && strstr(js(res, "output"), "Static checks (c)"));
    json_decref(res);
}

Test(agents, code_assistant_finds_python_syntax_errors)
{
    start_llm_down();
    json_t *res = task_run(&g_s, g_u.token, "code_assistant",
                           "```python\nimport os\nx = 1\ndef broken(:\n    return x\n```", NULL);
    cr_assert(jstr_is(res, "language", "python"));
    cr_assert(tool_ran(res, "py_compile"));
    json_t *f = finding(res, "py_compile", 3);
    cr_assert(jstr_is(f, "severity", "error"));
    cr_assert(strstr(js(f, "message"), "SyntaxError"), "%s", js(f, "message"));
    json_decref(res);

    res = task_run(&g_s, g_u.token, "code_assistant", "```python\ndef fine(x):\n    return x * 2\n```", NULL);
    cr_assert_eq(json_array_size(json_object_get(res, "findings")), 0, "valid code: no findings");
    json_decref(res);
}

Test(agents, code_assistant_never_runs_user_code)
{
    start_llm_down();
    char c_marker[128], py_marker[128], input[1024];
    snprintf(c_marker, sizeof c_marker, "/tmp/troupe-test-ran-c-%d-%llu", (int)getpid(),
             (unsigned long long)tr_mono_ns());
    snprintf(py_marker, sizeof py_marker, "/tmp/troupe-test-ran-py-%d-%llu", (int)getpid(),
             (unsigned long long)tr_mono_ns());
    snprintf(input, sizeof input,
             "```c\n#include <stdio.h>\nint main(void)\n{\n    FILE *f = fopen(\"%s\", \"w\");\n"
             "    if (f) { fputs(\"ran\", f); fclose(f); }\n    return 0;\n}\n```",
             c_marker);
    json_t *res = task_run(&g_s, g_u.token, "code_assistant", input, NULL);
    cr_assert(jstr_is(res, "language", "c") && tool_ran(res, "gcc"));
    json_decref(res);
    snprintf(input, sizeof input,
             "```python\nimport os\nwith open(\"%s\", \"w\") as f:\n    f.write(\"ran\")\nos.system(\"touch %s.sh\")\n```",
             py_marker, py_marker);
    res = task_run(&g_s, g_u.token, "code_assistant", input, NULL);
    cr_assert(jstr_is(res, "language", "python") && tool_ran(res, "py_compile"));
    cr_assert_eq(json_array_size(json_object_get(res, "findings")), 0, "it compiles");
    json_decref(res);
    char sh[160];
    snprintf(sh, sizeof sh, "%s.sh", py_marker);
    cr_assert_neq(access(c_marker, F_OK), 0, "the C program was never run");
    cr_assert_neq(access(py_marker, F_OK), 0, "the Python top-level code was never run");
    cr_assert_neq(access(sh, F_OK), 0);
}

/* ------------------------------------------------------------------ */
/* summarizer                                                          */

Test(agents, summarizer_is_extractive_without_an_llm)
{
    start_llm_down();
    json_t *t;
    json_t *res = task_run(&g_s, g_u.token, "summarizer", ARTICLE, &t);
    assert_degraded(res, "LLM");
    cr_assert(jstr_is(res, "source", "input"));
    json_t *sents = json_object_get(res, "sentences");
    size_t n = json_array_size(sents);
    cr_assert(n >= 2 && n <= 5, "a few sentences, not all (%zu)", n);
    long long prev = -1;
    size_t i;
    json_t *s;
    const char *out = js(res, "output");
    json_array_foreach(sents, i, s)
    {
        long long a = ji(s, "start"), b = ji(s, "end");
        const char *text = js(s, "text");
        cr_assert(a > prev && b > a && (size_t)b <= strlen(ARTICLE), "in document order, inside the text");
        cr_assert_eq(strncmp(ARTICLE + a, text, (size_t)(b - a)), 0, "offsets point at the sentence");
        cr_assert_eq(strlen(text), (size_t)(b - a));
        char line[1024];
        snprintf(line, sizeof line, "- %s\n", text);
        cr_assert(strstr(out, line), "the output lists it");
        prev = a;
    }
    cr_assert_lt(strlen(out), strlen(ARTICLE), "a summary is shorter than the text");
    cr_assert(strstr(out, "Rivers shape the land they cross."), "the lead sentence is central: %s", out);
    cr_assert(step_find(t, "summarizer", "gather_text") && step_find(t, "summarizer", "summarise"));
    json_decref(res);
    json_decref(t);
}

Test(agents, summarizer_is_abstractive_with_the_llm)
{
    start_llm_up();
    json_t *res = task_run(&g_s, g_u.token, "summarizer", ARTICLE, NULL);
    assert_llm_mode(res);
    cr_assert(jstr_is(res, "source", "input"));
    char *want = fake_ollama_reply("tinyllama", ARTICLE);
    cr_assert_str_eq(js(res, "output"), want);
    free(want);
    cr_assert_null(json_object_get(res, "sentences"));
    json_decref(res);
}

/* ------------------------------------------------------------------ */
/* documentation assistant (the store is not merged yet)               */

Test(agents, doc_assistant_answers_from_the_users_documents_with_citations)
{
    start_llm_up();
    /* nothing uploaded yet: an honest "nothing found", and the LLM is not asked */
    char *id = task_submit(&g_s, g_u.token, "doc_assistant", "How long are search results cached?");
    json_t *t = task_wait(&g_s, g_u.token, id);
    cr_assert(jstr_is(t, "state", "succeeded"), "%s", js(t, "error"));
    json_t *res = json_object_get(t, "result");
    cr_assert(jstr_is(res, "mode", "degraded"));
    cr_assert(js(res, "output") && strstr(js(res, "output"), "found nothing"), "%s", js(res, "output"));
    cr_assert_eq(fake_ollama_requests(g_fo, "/api/chat"), 0, "the LLM is not asked to answer from nothing");
    json_t *st = step_find(t, "doc_assistant", "retrieve");
    cr_assert(st && json_is_true(json_object_get(st, "ok")));
    json_decref(t);
    free(id);

    /* a document of this user: the answer cites its chunk */
    static const char doc[] = "# Caching\n\nThe design caches search results for sixty seconds in each reader. "
                              "Writes invalidate the cache of the owner.\n";
    char auth[4200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", g_u.token);
    const char *h[] = {"Content-Type: text/markdown", auth, NULL};
    th_resp_t up = th_http(&g_s, "POST", "/v1/documents?title=design", h, doc, sizeof doc - 1);
    cr_assert_eq(up.status, 201, "%s", up.body);
    const char *doc_id = json_string_value(json_object_get(up.json, "id"));
    cr_assert(doc_id);
    char docid[64];
    snprintf(docid, sizeof docid, "%s", doc_id);
    th_free(&up);
    id = task_submit(&g_s, g_u.token, "doc_assistant", "How long are search results cached?");
    t = task_wait(&g_s, g_u.token, id);
    cr_assert(jstr_is(t, "state", "succeeded"), "%s", js(t, "error"));
    res = json_object_get(t, "result");
    cr_assert(jstr_is(res, "mode", "llm"));
    json_t *cites = json_object_get(res, "citations");
    cr_assert_gt(json_array_size(cites), 0);
    cr_assert(jstr_is(json_array_get(cites, 0), "document_id", docid), "%s", json_dumps(cites, 0));
    cr_assert_gt(fake_ollama_requests(g_fo, "/api/chat"), 0);
    json_decref(t);
    free(id);
}

/* A snippet cannot make the checkers read the service's files: an #include
 * of a readable file outside the check's directory (directly, or through a
 * computed include) is refused by the filesystem sandbox, and nothing of
 * the file comes back in the findings. */
Test(agents, code_assistant_cannot_include_the_services_files)
{
    start_llm_down();
    char path[] = "/tmp/troupe-secret-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    static const char secret[] = "int TOP_SECRET_4f1c9 = 1;\nTOP_SECRET_4f1c9 syntax error here\n";
    cr_assert_eq(write(fd, secret, sizeof secret - 1), (ssize_t)(sizeof secret - 1));
    close(fd);
    char code[512];
    snprintf(code, sizeof code,
             "```c\n#include \"%s\"\n#define F \"%s\"\n#include F\nint main(void) { return 0; }\n```", path, path);
    json_t *res = task_run(&g_s, g_u.token, "code_assistant", code, NULL);
    char *dump = json_dumps(res, 0);
    cr_assert(tool_ran(res, "gcc"), "%s", dump);
    cr_assert_null(strstr(dump, "TOP_SECRET_4f1c9"), "the file's content leaked: %s", dump);
    free(dump);
    json_decref(res);
    unlink(path);
}
