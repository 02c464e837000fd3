/* st_writer.h - the store's write side: put, delete and re-index, in
 * batches that commit once (group commit).
 *
 * Only the "store" actor uses a writer (LMDB allows one write transaction at
 * a time; one thread owning it keeps that simple). Work is grouped: the
 * first operation opens a batch transaction, each operation runs in its own
 * nested transaction (so a failing document never takes its neighbours
 * down), and st_writer_commit makes the whole batch durable at once.
 * Callers acknowledge an operation only after that commit returned 0: a
 * document that was acknowledged is on disk, and a crash before the commit
 * leaves no trace of the batch (LMDB's copy-on-write commit is atomic).
 *
 * Everything that can fail on bad input (owner, content type, size, UTF-8,
 * metadata, embedding) is checked before the first write.
 *
 * The writer keeps each touched owner's HNSW graph in memory (loaded from
 * LMDB on first use, never rebuilt) and writes the changed node records in
 * the same nested transaction as the document. If a nested transaction or
 * the batch fails, the graphs it touched are dropped and reloaded from disk
 * on next use, so memory never runs ahead of what is committed. */
#ifndef ST_WRITER_H
#define ST_WRITER_H

#include "st_chunk.h"
#include "st_db.h"
#include "st_embed.h"

typedef struct st_writer st_writer_t;

typedef struct st_writer_opts {
    st_chunk_opts_t chunk;
    size_t max_doc_bytes;   /* 0 = 8 MiB; larger uploads are TR_ETOOBIG */
    size_t max_title_bytes; /* 0 = 1024 */
    size_t max_meta_bytes;  /* 0 = 64 KiB */
    int ef_construction;    /* 0 = the db's */
    int M;                  /* for graphs built by a re-index; 0 = the db's */
    int graph_cache;        /* owners' graphs kept in memory, 0 = 64 */
} st_writer_opts_t;

/* A document to store. Strings need not be NUL-terminated. */
typedef struct st_doc_in {
    const char *owner;
    size_t owner_len;
    const char *title;
    size_t title_len;
    const char *content_type;
    size_t content_type_len;
    const uint8_t *metadata; /* one msgpack map with string keys, or NULL */
    size_t metadata_len;
    const char *content;
    size_t content_len;
} st_doc_in_t;

typedef struct st_put_result {
    uint8_t id[ST_UUID_LEN];
    uint32_t chunks;
    uint64_t bytes;
} st_put_result_t;

/* emb may be NULL only if db->dim == 0 (vector search off); the writer
 * borrows db and emb (they must outlive it). */
int st_writer_new(st_db_t *db, st_embedder_t *emb, const st_writer_opts_t *opts, st_writer_t **out);
/* Aborts an open batch. */
void st_writer_destroy(st_writer_t **self_p);

/* Stores a document inside the current batch (opening one if needed).
 * Errors, each with a message in err: TR_EINVAL (owner, UTF-8, title,
 * metadata), ST_EUNSUPPORTED (content type), TR_ETOOBIG (size), TR_ECONFIG
 * (store needs a re-index), embedder errors (TR_ETIMEDOUT, TR_EREMOTE),
 * TR_ELIMIT (store full), TR_ESYS. On error the batch is unaffected. */
int st_writer_put(st_writer_t *w, const st_doc_in_t *doc, st_put_result_t *res, char *err, size_t errcap);

/* Deletes a document (its content, chunks, postings, vectors and graph
 * nodes) inside the current batch. TR_ENOPROC if the owner has no such
 * document, whoever else may have one. *chunks (may be NULL) gets the count. */
int st_writer_delete(st_writer_t *w, const char *owner, size_t owner_len, const uint8_t id[ST_UUID_LEN],
                     uint32_t *chunks, char *err, size_t errcap);

/* True while a batch is open; number of operations in it. */
size_t st_writer_pending(const st_writer_t *w);
/* Commits the batch (fsync unless the db is nosync). 0 with no batch. On
 * failure nothing of the batch is stored. */
int st_writer_commit(st_writer_t *w);
void st_writer_abort(st_writer_t *w);

/* Rebuilds postings, statistics, vectors and graphs of every owner from the
 * stored chunks with the current embedder, records its identity, commits.
 * Commits an open batch first. */
int st_writer_reindex(st_writer_t *w, uint64_t *docs, uint64_t *chunks, char *err, size_t errcap);

#endif
