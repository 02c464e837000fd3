/* st_ollama.h - the Ollama embedder: POST {base_url}/api/embed
 * {"model": M, "input": [texts...]} -> {"embeddings": [[floats]...]} over
 * libcurl (connect and total timeouts, no signals), batched, L2-normalised.
 *
 * A text the server answers with a vector of the wrong dimension, a non-200
 * status, malformed JSON or a timeout is an error with a message naming the
 * cause; nothing is retried here (the caller decides). */
#ifndef ST_OLLAMA_H
#define ST_OLLAMA_H

#include "st_embed.h"

/* base_url NULL = "http://127.0.0.1:11434", model NULL = "nomic-embed-text",
 * timeout_ms 0 = 30000. dim 0 = ask the server once now (embeds "dimension
 * probe"), which fails if it is unreachable. Errors: TR_ENOMEM, TR_ECONFIG,
 * or the probe's error. */
int st_ollama_new(const char *base_url, const char *model, int dim, int timeout_ms, st_embedder_t **out, char *err,
                  size_t errcap);

#endif
