/* doc_assistant.c - answers a question from the user's own documents:
 * hybrid retrieval in the store (the owner's chunks only), then an LLM
 * answer that cites chunk ids; without an LLM, an extractive answer built
 * from the best sentences of the best passages, each cited. */
#include "agent.h"
#include "common/fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSAGES 6

static const char *const ANSWER_SYSTEM =
    "Answer the question using only the numbered passages from the user's documents. After each claim, cite the "
    "passage label in square brackets, like [chunk-12]. If the passages do not contain the answer, say so.";

/* Keeps results whose document is in `ids` (when ids is non-empty). */
static json_t *retrieve(tr_actor_t *self, const agents_config_t *cfg, const agent_run_t *run, char *why, size_t cap)
{
    json_t *req = json_pack("{s:s,s:s,s:i,s:s}", "owner", run->owner, "query", run->input, "k",
                            json_array_size(run->document_ids) ? 30 : PASSAGES, "mode", "hybrid");
    json_t *rep = agent_store_ask(self, cfg, "store.search", req, 10000, why, cap);
    if (!rep)
        return NULL;
    json_t *all = json_object_get(rep, "results"), *out = json_array();
    size_t i, k;
    json_t *r, *id;
    json_array_foreach(all, i, r)
    {
        bool keep = json_array_size(run->document_ids) == 0;
        json_array_foreach(run->document_ids, k, id) if (json_equal(id, json_object_get(r, "document_id"))) keep = true;
        if (keep && json_array_size(out) < PASSAGES)
            json_array_append(out, r);
    }
    json_decref(rep);
    return out;
}

static json_t *citation(json_t *r)
{
    return json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "chunk_id", json_object_get(r, "chunk_id"), "document_id",
                     json_object_get(r, "document_id"), "title", json_object_get(r, "title"), "start",
                     json_object_get(r, "start"), "end", json_object_get(r, "end"), "score", json_object_get(r, "score"));
}

/* The label a passage is cited by: "chunk-<id>" (ids are per-owner numbers,
 * so a bare number in the answer would be ambiguous). */
static const char *label_of(json_t *r, char buf[40])
{
    json_t *id = json_object_get(r, "chunk_id");
    if (json_is_integer(id))
        snprintf(buf, 40, "chunk-%lld", (long long)json_integer_value(id));
    else
        snprintf(buf, 40, "chunk-%s", json_is_string(id) ? json_string_value(id) : "?");
    return buf;
}

static const char *text_of(json_t *r)
{
    const char *t = json_string_value(json_object_get(r, "text"));
    return t ? t : json_string_value(json_object_get(r, "snippet"));
}

static int da_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
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
    uint64_t t0 = tr_mono_ns();
    char why[256] = "";
    json_t *passages = retrieve(self, cfg, &run, why, sizeof why);
    agent_step(self, &run, "retrieve", passages != NULL, t0);
    if (!passages) {
        agent_fail(self, &run, FAIL_UNAVAILABLE, why);
        agent_run_free(&run);
        return 0;
    }
    if (json_array_size(passages) == 0) {
        agent_reply(self, &run,
                    json_pack("{s:s,s:[]}", "output", "I found nothing in your documents that matches this question.",
                              "citations"),
                    "degraded", NULL, "no passage of the user's documents matched; the LLM was not asked");
        json_decref(passages);
        agent_run_free(&run);
        return 0;
    }
    /* the prompt: passages with their ids */
    size_t cap = strlen(run.input) + 256;
    size_t i;
    json_t *r;
    json_array_foreach(passages, i, r) cap += strlen(text_of(r) ? text_of(r) : "") + 128;
    char *user = malloc(cap);
    size_t off = 0;
    char label[40];
    json_array_foreach(passages, i, r) off += (size_t)snprintf(
        user + off, cap - off, "[%s] (%s)\n%s\n\n", label_of(r, label),
        json_string_value(json_object_get(r, "title")) ? json_string_value(json_object_get(r, "title")) : "",
        text_of(r) ? text_of(r) : "");
    snprintf(user + off, cap - off, "Question: %s", run.input);
    char *content = NULL, *model = NULL;
    t0 = tr_mono_ns();
    int rc = agent_llm(self, &run, cfg, ANSWER_SYSTEM, user, true, &content, &model, why, sizeof why);
    agent_step(self, &run, "answer", rc == 0, t0);
    free(user);
    json_t *cites = json_array();
    if (rc == 0) {
        json_array_foreach(passages, i, r)
        {
            if (strstr(content, label_of(r, label)))
                json_array_append_new(cites, citation(r));
        }
        if (json_array_size(cites) == 0) /* the model cited nothing: show what it was given */
            json_array_foreach(passages, i, r) json_array_append_new(cites, citation(r));
        agent_reply(self, &run, json_pack("{s:s,s:o}", "output", content, "citations", cites), "llm", model, NULL);
    } else {
        /* extractive: the best sentences of each top passage, cited */
        size_t ocap = 64;
        json_array_foreach(passages, i, r) ocap += strlen(text_of(r) ? text_of(r) : "") + 64;
        char *out = calloc(1, ocap);
        size_t used = 0;
        json_array_foreach(passages, i, r)
        {
            if (i >= 3)
                break;
            json_t *best = agent_extract(text_of(r) ? text_of(r) : "", run.input, 2);
            size_t k;
            json_t *sent;
            json_array_foreach(best, k, sent) used += (size_t)snprintf(
                out + used, ocap - used, "%s [%s]\n", json_string_value(json_object_get(sent, "text")),
                label_of(r, label));
            if (json_array_size(best))
                json_array_append_new(cites, citation(r));
            json_decref(best);
        }
        agent_reply(self, &run, json_pack("{s:s,s:o}", "output", used ? out : "No sentence matched the question.", "citations", cites),
                    "degraded", NULL, why);
        free(out);
    }
    free(content);
    free(model);
    json_decref(passages);
    agent_run_free(&run);
    return 0;
}

const tr_behaviour_t agent_doc_behaviour = {.kind = "agent", .init = agent_init_config, .handle = da_handle};
