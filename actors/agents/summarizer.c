/* summarizer.c - summarises documents (by id), the results of a search in
 * the user's documents, or the text of the task itself: abstractive with an
 * LLM, extractive (the most central sentences, in order) without. */
#include "agent.h"
#include "common/fail.h"
#include "common/mpget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TEXT (64 * 1024)

static const char *const SUMMARY_SYSTEM =
    "Summarise the text for a busy reader: at most five short bullet points, then one sentence of conclusion. "
    "Do not add facts that are not in the text.";

static void append(char **buf, size_t *len, const char *s, size_t n)
{
    if (*len >= MAX_TEXT)
        return;
    if (*len + n > MAX_TEXT)
        n = MAX_TEXT - *len;
    char *nb = realloc(*buf, *len + n + 2);
    if (!nb)
        return;
    memcpy(nb + *len, s, n);
    *len += n;
    nb[(*len)++] = '\n';
    nb[*len] = '\0';
    *buf = nb;
}

/* The document's text from the store ("store.content"). */
static int fetch_doc(tr_actor_t *self, const agents_config_t *cfg, const agent_run_t *run, const char *id, char **buf,
                     size_t *len, char *why, size_t cap)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, run->owner);
    tr_mpw_cstr(&w, "id");
    tr_mpw_cstr(&w, id);
    tr_reply_t rep;
    int rc = w.err ? w.err : agent_store_call(self, cfg, "store.content", w.buf, w.len, 10000, &rep, why, cap);
    tr_mpw_free(&w);
    if (rc)
        return rc;
    const char *p;
    uint32_t n;
    tr_mp_obj_t o;
    tr_mpr_t r;
    tr_mpr_init(&r, rep.msg.payload, rep.msg.payload_len);
    if (mpget_view(&rep.msg, "content", &p, &n) ||
        (!tr_mpr_next(&r, &o) && (o.type == TR_MP_BIN || o.type == TR_MP_STR) && (p = o.v.str.ptr, n = o.v.str.len, 1)))
        append(buf, len, p, n);
    tr_reply_close(&rep);
    return 0;
}

static int su_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
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
    char *text = NULL, why[256] = "";
    size_t len = 0;
    const char *source = "input";
    json_t *sources = json_array();
    if (json_array_size(run.document_ids)) {
        source = "documents";
        size_t i;
        json_t *id;
        json_array_foreach(run.document_ids, i, id)
        {
            int frc = fetch_doc(self, cfg, &run, json_string_value(id), &text, &len, why, sizeof why);
            if (frc) { /* the store's own refusal (no such document) vs the store being away */
                agent_fail(self, &run, frc == TR_EREMOTE ? FAIL_NOT_FOUND : FAIL_UNAVAILABLE, why);
                free(text);
                json_decref(sources);
                agent_run_free(&run);
                return 0;
            }
            json_array_append_new(sources, json_pack("{s:O}", "document_id", id));
        }
    } else if (strlen(run.input) < 300) {
        /* a short input names what to summarise: search for it */
        source = "search";
        json_t *rep = agent_store_ask(self, cfg, "store.search",
                                      json_pack("{s:s,s:s,s:i,s:s}", "owner", run.owner, "query", run.input, "k", 8,
                                                "mode", "hybrid"),
                                      10000, why, sizeof why);
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(rep, "results"), i, r)
        {
            const char *t = json_string_value(json_object_get(r, "text"));
            if (!t)
                t = json_string_value(json_object_get(r, "snippet"));
            if (t)
                append(&text, &len, t, strlen(t));
            json_array_append_new(sources, json_pack("{s:O?,s:O?}", "document_id", json_object_get(r, "document_id"),
                                                     "chunk_id", json_object_get(r, "chunk_id")));
        }
        json_decref(rep);
    }
    if (!len) { /* nothing found or a long input: summarise the input itself */
        source = "input";
        append(&text, &len, run.input, strlen(run.input));
    }
    agent_step(self, &run, "gather_text", true, t0);
    char *content = NULL, *model = NULL;
    t0 = tr_mono_ns();
    int rc = agent_llm(self, &run, cfg, SUMMARY_SYSTEM, text, true, &content, &model, why, sizeof why);
    agent_step(self, &run, "summarise", rc == 0, t0);
    if (rc == 0) {
        agent_reply(self, &run, json_pack("{s:s,s:s,s:o}", "output", content, "source", source, "sources", sources), "llm",
                    model, NULL);
    } else {
        json_t *best = agent_extract(text, NULL, 5);
        size_t cap = len + 64, used = 0, i;
        char *out = calloc(1, cap);
        json_t *s;
        json_array_foreach(best, i, s) used +=
            (size_t)snprintf(out + used, cap - used, "- %s\n", json_string_value(json_object_get(s, "text")));
        agent_reply(self, &run,
                    json_pack("{s:s,s:s,s:o,s:o}", "output", used ? out : "The text has no sentences to extract.",
                              "source", source, "sources", sources, "sentences", best),
                    "degraded", NULL, why);
        free(out);
    }
    free(content);
    free(model);
    free(text);
    agent_run_free(&run);
    return 0;
}

const tr_behaviour_t agent_summarizer_behaviour = {.kind = "agent", .init = agent_init_config, .handle = su_handle};
