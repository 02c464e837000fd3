/* store.h - the document store actors: one writer ("store") and N readers
 * ("store.r0" .. "store.r<N-1>") over one LMDB environment, under their own
 * supervisor ("store.sup").
 *
 * Modules (actors/store/, prefix st_): st_chunk (upload parsing, chunking),
 * st_token, st_embed / st_ollama (embedders), st_dist / st_hnsw (HNSW),
 * st_vindex (graphs in LMDB), st_bm25, st_db (environment, keys, owners),
 * st_writer (put/delete/re-index, group commit), st_reader / st_search
 * (lookups and search). This file is the message protocol.
 *
 * MESSAGES. Payloads are MessagePack maps. Writes go to "store"; reads may
 * go to any reader (spread them, e.g. store_reader_name(i++)) or to "store"
 * itself (which then commits its pending batch first).
 *
 *   "store.put" {owner: str, title: str, content_type: str,
 *                metadata: map (optional), content: bin | str}
 *       -> "store.put.ok" {id: str, chunks: uint, bytes: uint}
 *       Sent only after the write transaction holding the document committed
 *       (fsync): an acknowledged document survives a crash. Puts that arrive
 *       together share one commit (group commit).
 *   "store.get" {owner, id} -> "store.get.ok" {id, owner, title,
 *       content_type, size, sha256, created (Unix ms), chunks, metadata}
 *   "store.content" {owner, id} -> "store.content.ok" {content_type, content: bin}
 *   "store.list" {owner, offset (default 0), limit (default 20, max 1000)}
 *       -> "store.list.ok" {items: [doc as in get.ok], total: uint}
 *       (oldest first: ids are UUIDv7, ordered by creation time)
 *   "store.delete" {owner, id} -> "store.delete.ok" {id, chunks}
 *       (after commit; removes content, chunks, postings, vectors, graph nodes)
 *   "store.search" {owner, query: str, k (default 10, 1..100),
 *                   mode: "hybrid" | "keyword" | "vector" (default hybrid),
 *                   filter: map (optional; exact match on metadata keys,
 *                   e.g. {"lang": "c"}; an array value means any of),
 *                   all_owners: bool, admin: bool}
 *       -> "store.search.ok" {mode: str (the mode run: hybrid falls back to
 *          keyword when vector search is off), results: [{document_id,
 *          chunk_id (uint, per owner), ordinal, score (float), snippet,
 *          start, end (byte offsets of the chunk in the document), title,
 *          owner}]}
 *       all_owners searches every owner's documents and is refused unless
 *       admin is true: the caller (the HTTP bridge, after checking the
 *       JWT role) is trusted to set admin only for admins.
 *   "store.stats" {owner} -> "store.stats.ok" {docs, chunks, tokens, bytes}
 *   "store.reindex" {} -> "store.reindex.ok" {docs, chunks, ms}
 *       (to "store": rebuilds postings, vectors and graphs from the stored
 *       chunks with the configured embedder)
 *
 * ERRORS are "tr.error" {code, message}; codes and their HTTP mapping:
 *   EINVAL        400  malformed request, invalid UTF-8, bad owner/id/filter
 *   ENOPROC       404  no such document for this owner (also when another
 *                      owner has that id: the content is never revealed)
 *   ETOOBIG       413  content larger than max_doc_bytes
 *   EUNSUPPORTED  415  content type not indexed (ST_EUNSUPPORTED)
 *   ECONFIG       503  the store needs a re-index (embedder changed)
 *   ETIMEDOUT / EREMOTE  502/504  the embedder (Ollama) failed
 *   ELIMIT        507  the LMDB map is full
 *   ESYS / ENOMEM 500
 *
 * CONFIGURATION maps to TROUPE_* settings (the lead wires them):
 * data dir, embedder (builtin|ollama), dimension, Ollama URL/model,
 * HNSW M / efConstruction / efSearch, chunk target/overlap, readers,
 * vector search on/off (TROUPE_VECTOR_SEARCH), max document size,
 * re-index on embedder change. */
#ifndef TROUPE_STORE_H
#define TROUPE_STORE_H

#include "st_search.h"
#include "tr.h"

#define STORE_MAX_READERS 16

typedef struct store_config {
    const char *data_dir;     /* the environment is <data_dir>/store; required */
    const char *embedder;     /* "builtin" (default) | "ollama" */
    int dim;                  /* builtin: 0 = 384; ollama: 0 = ask the server at open */
    float char_ngram_weight;  /* builtin: weight of character 3..5-grams, 0 = off (see st_embed.h) */
    const char *ollama_url;   /* NULL = http://127.0.0.1:11434 */
    const char *ollama_model; /* NULL = nomic-embed-text */
    int ollama_timeout_ms;    /* 0 = 30000 */
    int hnsw_m;               /* 0 = 16 */
    int hnsw_ef_construction; /* 0 = 100 (hnswlib uses 200; 100 halves ingest CPU at ~equal recall on per-owner graphs)
                               */
    int hnsw_ef_search;       /* 0 = 64 */
    int chunk_target;         /* bytes, 0 = 1200 */
    int chunk_overlap;        /* bytes shared by consecutive chunks, 0 = none; < chunk_target / 2 */
    int readers;              /* reader actors, 0 = 2 */
    bool vector_off;          /* TROUPE_VECTOR_SEARCH=off: keyword only, no embeddings */
    size_t max_doc_bytes;     /* 0 = 8 MiB (must stay below the envelope limit) */
    size_t map_size;          /* LMDB map, 0 = 16 GiB */
    bool reindex_on_mismatch; /* embedder changed: re-index at start instead of failing */
    bool nosync;              /* MDB_NOSYNC: throwaway stores (benchmarks) only */
    int batch_max;            /* most operations per group commit, 0 = 64 */
    st_search_opts_t search;  /* fusion tuning; zero = defaults */
} store_config_t;

typedef struct store store_t;

/* Opens the store and starts its actors under their supervisor "store.sup"
 * (writer "store", readers "store.r<i>"). Errors, with a message in err:
 * TR_ECONFIG (bad configuration, or a store built with another embedder:
 * "re-index required", unless reindex_on_mismatch), TR_ESYS (LMDB), the
 * Ollama probe's error, TR_EINIT (an actor could not start, e.g. a failed
 * re-index). Copies cfg. */
int store_start(tr_system_t *sys, const store_config_t *cfg, store_t **out, char *err, size_t errcap);
/* Stops "store.sup" (pending writes are committed first); s stays open. */
int store_stop(tr_system_t *sys, store_t *s, int timeout_ms);
/* Closes the environment, after the actors stopped. NULLs the pointer. */
void store_close(store_t **self_p);

/* To nest the store under your own supervisor instead: store_open (the
 * same checks as store_start), then add this child spec (a supervisor named
 * "store.sup"; valid while s lives); store_close after it stopped. */
int store_open(const store_config_t *cfg, store_t **out, char *err, size_t errcap);
void store_child_spec(store_t *s, tr_child_spec_t *out);

/* Name of reader i (modulo the reader count), e.g. "store.r1". */
const char *store_reader_name(const store_t *s, unsigned i);
int store_readers(const store_t *s);
/* 0 if the store takes documents of this Content-Type, parameters included
 * (a charset must be UTF-8 or US-ASCII); non-zero otherwise. For the
 * bridge, which stores the bare type and must not drop the charset unseen. */
int store_content_type_check(const char *content_type);
/* The environment (tests, tools). */
st_db_t *store_db(store_t *s);

extern const tr_behaviour_t store_writer_behaviour;
extern const tr_behaviour_t store_reader_behaviour;

#endif
