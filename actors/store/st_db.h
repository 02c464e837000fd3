/* st_db.h - the store's LMDB environment: named databases, key layout,
 * the embedder identity check, owners and their statistics.
 *
 * One environment (a directory, "<data_dir>/store"), opened once per process
 * and shared by the store's actors (one writer, many readers; MDB_NOTLS so a
 * read transaction is not tied to a thread). Durability: the default mode
 * syncs on every commit (neither MDB_NOSYNC nor MDB_NOMETASYNC), so a commit
 * that returned is on disk; `nosync` exists for throwaway benchmark stores.
 *
 * Every per-owner key starts with the owner's 4-byte index (big-endian), so
 * each owner's records form one contiguous key range and no lookup can
 * leave it: isolation is structural, not a filter.
 *
 *   db        key                              value
 *   meta      "version" | "embedder" | "hnsw" | "next_owner"   see st_db.c
 *   owners    'n' owner-string                  u32 owner index
 *             'i' ix                            st_owner_rec_t + owner string
 *   docs      ix . uuid[16]                     u32 first chunk, u32 count, msgpack doc map
 *   content   ix . uuid[16]                     the uploaded bytes
 *   chunks    ix . seq                          st_chunk_rec_t + chunk text
 *   vectors   ix . seq                          float32[dim]
 *   hnsw      ix . seq                          node record (st_hnsw.h)
 *             ix . 0xFFFFFFFF                   graph header (st_vindex.h)
 *   postings  ix . term   (DUPSORT, DUPFIXED)   seq(be32) tf(be16) dl(be16)
 *
 * `seq` is the owner's chunk sequence number (be32, never reused): a
 * document's chunks have consecutive numbers [first, first + count). */
#ifndef ST_DB_H
#define ST_DB_H

#include "st_util.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_SCHEMA_VERSION 1
#define ST_GRAPH_KEY UINT32_MAX /* seq of the per-owner HNSW header record */

typedef struct st_db {
    MDB_env *env;
    MDB_dbi meta, owners, docs, content, chunks, vectors, hnsw, postings;
    char path[1024];
    /* identity of the embedder the data was built with (after open: the
     * configured one; dim 0 = vector search off) */
    char emb_name[64];
    char emb_params[256];
    int dim;
    int M, efc;    /* HNSW build parameters recorded at creation */
    bool mismatch; /* opened with allow_mismatch and the identity differs */
} st_db_t;

typedef struct st_db_opts {
    const char *path;       /* environment directory; created (mode 0700) if missing */
    size_t map_size;        /* 0 = 16 GiB (address space, not disk) */
    int max_readers;        /* 0 = 126 */
    bool nosync;            /* MDB_NOSYNC: only for throwaway stores */
    const char *emb_name;   /* NULL or "none" = vector search off */
    const char *emb_params; /* recorded and compared */
    int dim;
    int M, efc;          /* HNSW parameters; 0 = 16 / 100 */
    bool allow_mismatch; /* open a store built with another embedder (to re-index it) */
} st_db_opts_t;

/* Opens (creating if needed) the environment and checks the embedder
 * identity recorded in meta against the configured one. A mismatch is
 * TR_ECONFIG with a message saying re-index is required, unless
 * allow_mismatch (then db->mismatch is set and the caller must re-index
 * before indexing anything). Other errors: TR_ESYS (LMDB, with its message),
 * TR_EINVAL, TR_ENOMEM. */
int st_db_open(const st_db_opts_t *opts, st_db_t **out, char *err, size_t errcap);
void st_db_close(st_db_t **self_p);

/* Reads the recorded embedder identity (only db->meta is used): TR_ENOPROC
 * if there is none, TR_EINVAL if it is malformed. */
int st_db_read_identity(st_db_t *db, MDB_txn *txn, char *name, size_t ncap, int *dim, char *params, size_t pcap);

/* Records the current identity (after a re-index) and clears mismatch. */
int st_db_write_identity(st_db_t *db, MDB_txn *txn);

/* Whole-store sizes from LMDB's own statistics (no scan): documents and
 * chunks over all owners, bytes of the data file in use. */
typedef struct st_db_counts {
    uint64_t docs, chunks, bytes;
} st_db_counts_t;
int st_db_counts(st_db_t *db, st_db_counts_t *out);

/* Maps an LMDB error to a tr_err code (MDB_MAP_FULL -> TR_ELIMIT, ...). */
int st_db_err(int mdb_rc);

/* ---- owners ---- */

typedef struct st_owner_rec {
    uint64_t docs, chunks, tokens, bytes;
    uint32_t next_seq;
    uint32_t reserved;
} st_owner_rec_t;

/* TR_ENOPROC if the owner has never stored anything. */
int st_owner_find(st_db_t *db, MDB_txn *txn, const char *owner, size_t len, uint32_t *ix);
/* Finds or creates (write txn). */
int st_owner_ensure(st_db_t *db, MDB_txn *txn, const char *owner, size_t len, uint32_t *ix);
int st_owner_get(st_db_t *db, MDB_txn *txn, uint32_t ix, st_owner_rec_t *rec);
int st_owner_put(st_db_t *db, MDB_txn *txn, uint32_t ix, const st_owner_rec_t *rec);
/* The owner string of an index (copied, NUL-terminated). */
int st_owner_name(st_db_t *db, MDB_txn *txn, uint32_t ix, char *buf, size_t cap);
/* All owner indexes, ascending; *ixs malloc'd (caller frees). */
int st_owner_list(st_db_t *db, MDB_txn *txn, uint32_t **ixs, size_t *n);

/* ---- keys ---- */

static inline void st_key_seq(uint8_t k[8], uint32_t ix, uint32_t seq)
{
    st_be32_put(k, ix);
    st_be32_put(k + 4, seq);
}

static inline void st_key_doc(uint8_t k[20], uint32_t ix, const uint8_t id[ST_UUID_LEN])
{
    st_be32_put(k, ix);
    for (int i = 0; i < ST_UUID_LEN; i++)
        k[4 + i] = id[i];
}

/* ---- records ---- */

typedef struct st_chunk_rec {
    uint8_t doc[ST_UUID_LEN];
    uint32_t ordinal;
    uint32_t start, end; /* byte range in the document */
    uint32_t tokens;     /* BM25 length */
} st_chunk_rec_t;

/* A chunk as stored: header and text view (valid during the txn). */
typedef struct st_chunk_view {
    st_chunk_rec_t rec;
    const char *text;
    size_t len;
} st_chunk_view_t;

int st_chunk_get(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq, st_chunk_view_t *out);

/* A document record as stored: chunk range and the msgpack map (a view). */
typedef struct st_doc_view {
    uint32_t first, count;
    const uint8_t *map;
    size_t map_len;
} st_doc_view_t;

/* TR_ENOPROC if absent. */
int st_doc_get(st_db_t *db, MDB_txn *txn, uint32_t ix, const uint8_t id[ST_UUID_LEN], st_doc_view_t *out);

#endif
