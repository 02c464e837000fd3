/* code_assistant.c - reviews and explains code. Real static checks always
 * run (gcc -fsyntax-only -Wall -Wextra and cppcheck for C, py_compile for
 * Python) in a limited child process; their findings are structured JSON.
 * With an LLM, a review and explanation is added on top. User code is only
 * compiled or parsed, never executed. */
#include "agent.h"
#include "common/fail.h"
#include "sandbox.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const REVIEW_SYSTEM =
    "You are a careful code reviewer. Explain what the code does, then list concrete problems (bugs, undefined "
    "behaviour, security issues, style) with line numbers, and suggest fixes. The static-check findings given "
    "are real tool output: use them.";

/* The code and its language: the first fenced block if any (its info
 * string names the language); else what follows a short prose lead-in
 * ending with ':' ("Review this code: int main..."); else the whole input. */
static char *extract_code(const char *input, char lang[16])
{
    lang[0] = '\0';
    const char *f = strstr(input, "```");
    if (f) {
        const char *info = f + 3, *nl = strchr(info, '\n');
        if (nl) {
            size_t il = (size_t)(nl - info);
            snprintf(lang, 16, "%.*s", (int)(il < 15 ? il : 15), info);
            for (char *p = lang; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            const char *end = strstr(nl + 1, "```");
            size_t n = end ? (size_t)(end - nl - 1) : strlen(nl + 1);
            return strndup(nl + 1, n);
        }
    }
    const char *colon = strchr(input, ':');
    if (colon && colon - input < 100 && strcspn(input, ";{}()#=") > (size_t)(colon - input))
        return strdup(colon + 1 + strspn(colon + 1, " \t\r\n"));
    return strdup(input);
}

static const char *detect(const char *code, const char *hint)
{
    if (!strcmp(hint, "c") || !strcmp(hint, "h"))
        return "c";
    if (!strcmp(hint, "python") || !strcmp(hint, "py") || !strcmp(hint, "python3"))
        return "python";
    int c = 0, py = 0;
    static const char *const cw[] = {"#include", "int main", ";\n", "{\n", "printf(", "malloc(", "->", "void ", NULL};
    static const char *const pw[] = {"def ", "import ", "print(", "self.", "elif ", ":\n    ", "None", NULL};
    for (const char *const *w = cw; *w; w++)
        c += strstr(code, *w) != NULL;
    for (const char *const *w = pw; *w; w++)
        py += strstr(code, *w) != NULL;
    if (c == 0 && py == 0)
        return NULL;
    return c >= py ? "c" : "python";
}

static void add_finding(json_t *arr, const char *tool, long line, long col, const char *sev, const char *msg)
{
    json_array_append_new(arr, json_pack("{s:s,s:I,s:I,s:s,s:s}", "tool", tool, "line", (json_int_t)line, "column",
                                         (json_int_t)col, "severity", sev, "message", msg));
}

/* "snippet.c:3:5: warning: message" */
static void parse_gcc(const char *out, json_t *arr)
{
    for (const char *p = out; p && *p;) {
        const char *eol = strchr(p, '\n');
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(eol ? (size_t)(eol - p) : strlen(p)), p);
        long ln, col;
        char sev[16];
        int off = 0;
        if (sscanf(line, "snippet.c:%ld:%ld: %15[a-z ]:%n", &ln, &col, sev, &off) == 3 && off > 0) {
            char *s = sev;
            if (strncmp(s, "fatal ", 6) == 0)
                s += 6;
            if (strcmp(s, "note") != 0)
                add_finding(arr, "gcc", ln, col, s, line + off + (line[off] == ' '));
        }
        p = eol ? eol + 1 : NULL;
    }
}

/* --template={line}|{column}|{severity}|{id}|{message} */
static void parse_cppcheck(const char *out, json_t *arr)
{
    for (const char *p = out; p && *p;) {
        const char *eol = strchr(p, '\n');
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(eol ? (size_t)(eol - p) : strlen(p)), p);
        long ln, col;
        char sev[32], id[64];
        int off = 0;
        if (sscanf(line, "%ld|%ld|%31[^|]|%63[^|]|%n", &ln, &col, sev, id, &off) == 4 && off > 0 &&
            strcmp(id, "missingIncludeSystem") != 0 && strcmp(id, "checkersReport") != 0) {
            char msg[1100];
            snprintf(msg, sizeof msg, "%s [%s]", line + off, id);
            add_finding(arr, "cppcheck", ln, col, strcmp(sev, "error") == 0 ? "error" : "warning", msg);
        }
        p = eol ? eol + 1 : NULL;
    }
}

/* File "snippet.py", line 3 ... then "SyntaxError: invalid syntax" */
static void parse_python(const char *out, json_t *arr)
{
    long ln = 0;
    const char *l = strstr(out, "line ");
    if (l)
        ln = strtol(l + 5, NULL, 10);
    const char *err = NULL;
    for (const char *p = out; p && *p;) {
        const char *eol = strchr(p, '\n');
        const char *colon = strstr(p, "Error: ");
        if (colon && (!eol || colon < eol))
            err = p;
        p = eol ? eol + 1 : NULL;
    }
    if (err) {
        char msg[512];
        const char *eol = strchr(err, '\n');
        snprintf(msg, sizeof msg, "%.*s", (int)(eol ? (size_t)(eol - err) : strlen(err)), err);
        add_finding(arr, "py_compile", ln, 0, "error", msg);
    }
}

/* Runs one checker; a checker that could not be confined is reported, not run. */
static int run_tool(const char *dir, char *argv[], const sandbox_limits_t *lim, sandbox_result_t *r, json_t *tools,
                    const char *name)
{
    int rc = sandbox_run(dir, argv, lim, r);
    if (rc == SANDBOX_UNCONFINED)
        json_array_append_new(tools, json_pack("{s:s,s:s}", "tool", name, "skipped",
                                               "no filesystem sandbox (Landlock) on this kernel: not run"));
    return rc;
}

static json_t *check(const agents_config_t *cfg, const char *lang, const char *code, json_t *tools)
{
    json_t *findings = json_array();
    const char *file = strcmp(lang, "c") == 0 ? "snippet.c" : "snippet.py";
    char dir[64];
    if (sandbox_dir_new(dir, file, code, strlen(code)))
        return findings;
    sandbox_limits_t lim = {cfg->check_timeout_ms, cfg->check_memory_mb, 64 * 1024};
    sandbox_result_t r;
    if (strcmp(lang, "c") == 0) {
        char *gcc[] = {"/usr/bin/gcc", "-fsyntax-only", "-Wall", "-Wextra", "-std=c11", "-x", "c", "snippet.c", NULL};
        if (run_tool(dir, gcc, &lim, &r, tools, "gcc") == 0) {
            parse_gcc(r.output ? r.output : "", findings);
            json_array_append_new(tools, json_pack("{s:s,s:i,s:b,s:b}", "tool", "gcc", "exit", r.exit_code, "timed_out",
                                                   r.timed_out, "network_isolated", r.net_isolated));
            sandbox_result_free(&r);
        }
        char *cpp[] = {"/usr/bin/cppcheck", "--quiet", "--enable=warning,style,performance,portability",
                       "--template={line}|{column}|{severity}|{id}|{message}", "--language=c", "snippet.c", NULL};
        if (run_tool(dir, cpp, &lim, &r, tools, "cppcheck") == 0) {
            parse_cppcheck(r.output ? r.output : "", findings);
            json_array_append_new(tools, json_pack("{s:s,s:i,s:b}", "tool", "cppcheck", "exit", r.exit_code,
                                                   "timed_out", r.timed_out));
            sandbox_result_free(&r);
        }
    } else {
        char *py[] = {"/usr/bin/python3", "-m", "py_compile", "snippet.py", NULL};
        if (run_tool(dir, py, &lim, &r, tools, "py_compile") == 0) {
            parse_python(r.output ? r.output : "", findings);
            json_array_append_new(tools, json_pack("{s:s,s:i,s:b}", "tool", "py_compile", "exit", r.exit_code,
                                                   "timed_out", r.timed_out));
            sandbox_result_free(&r);
        }
    }
    sandbox_dir_remove(dir, file);
    return findings;
}

static char *findings_text(const char *lang, json_t *findings)
{
    size_t n = json_array_size(findings), cap = 256 + n * 600;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    int off = snprintf(t, cap, "Static checks (%s): %zu finding%s.\n", lang, n, n == 1 ? "" : "s");
    size_t i;
    json_t *f;
    json_array_foreach(findings, i, f)
    {
        if ((size_t)off >= cap)
            break;
        off += snprintf(t + off, cap - (size_t)off, "- line %lld: %s (%s): %s\n",
                        (long long)json_integer_value(json_object_get(f, "line")),
                        json_string_value(json_object_get(f, "severity")), json_string_value(json_object_get(f, "tool")),
                        json_string_value(json_object_get(f, "message")));
    }
    return t;
}

static int ca_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (agent_common(self, msg))
        return 0;
    const agents_config_t *cfg = state;
    if (!tr_str_eq(msg->type, "agent.run"))
        return 0;
    agent_run_t run;
    if (agent_run_parse(msg, &run)) {
        agent_run_free(&run);
        return fail_reply(self, msg, FAIL_INVALID, "malformed agent.run", 0);
    }
    char hint[16];
    char *code = extract_code(run.input, hint);
    if (!code || strlen(code) > cfg->code_max_bytes) {
        free(code);
        agent_fail(self, &run, FAIL_TOO_LARGE, "the code is larger than the code assistant takes");
        agent_run_free(&run);
        return 0;
    }
    const char *lang = detect(code, hint);
    if (!lang) {
        free(code);
        agent_fail(self, &run, FAIL_INVALID, "no C or Python code found in the task (put it in a ``` block)");
        agent_run_free(&run);
        return 0;
    }
    uint64_t t0 = tr_mono_ns();
    json_t *tools = json_array();
    json_t *findings = check(cfg, lang, code, tools);
    agent_step(self, &run, "static_checks", true, t0);
    char *summary = findings_text(lang, findings);
    json_t *result = json_pack("{s:s,s:O,s:o}", "language", lang, "findings", findings, "tools", tools);
    json_decref(findings);
    if (agent_cancelled(self, &run)) {
        free(summary);
        free(code);
        json_decref(result);
        agent_fail(self, &run, "cancelled", "the task was cancelled");
        agent_run_free(&run);
        return 0;
    }
    size_t ul = strlen(code) + (summary ? strlen(summary) : 0) + 128;
    char *user = malloc(ul);
    char *content = NULL, *model = NULL, why[256] = "";
    t0 = tr_mono_ns();
    int rc = user ? (snprintf(user, ul, "Language: %s\n```%s\n%s\n```\n%s", lang, lang, code, summary ? summary : ""),
                     agent_llm(self, &run, cfg, REVIEW_SYSTEM, user, true, &content, &model, why, sizeof why))
                  : TR_ENOMEM;
    agent_step(self, &run, "llm_review", rc == 0, t0);
    if (rc == 0) {
        size_t ol = strlen(content) + (summary ? strlen(summary) : 0) + 4;
        char *out = malloc(ol);
        if (out)
            snprintf(out, ol, "%s\n\n%s", content, summary ? summary : "");
        json_object_set_new(result, "output", json_string(out ? out : content));
        json_object_set_new(result, "review", json_string(content));
        free(out);
        agent_reply(self, &run, result, "llm", model, NULL);
    } else {
        json_object_set_new(result, "output", json_string(summary ? summary : "static checks ran"));
        agent_reply(self, &run, result, "degraded", NULL, why);
    }
    free(content);
    free(model);
    free(user);
    free(summary);
    free(code);
    agent_run_free(&run);
    return 0;
}

const tr_behaviour_t agent_code_behaviour = {.kind = "agent", .init = agent_init_config, .handle = ca_handle};
