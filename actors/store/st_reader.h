/* st_reader.h - the store's read side: one read transaction at a time over
 * a snapshot, documents by id, listings, content, metadata filters.
 *
 * Each reader actor owns one st_reader_t: its LMDB read transaction (reset
 * between requests and renewed, so a request sees one consistent snapshot
 * while writers go on), its zero-copy vector-index views (kept across
 * requests while the snapshot is unchanged), its embedder for query vectors
 * and its HNSW search scratch. Search itself is in st_search.h.
 *
 * Every lookup is by (owner, ...) key: a document id of another owner is
 * simply not found (TR_ENOPROC), exactly like an id that does not exist. */
#ifndef ST_READER_H
#define ST_READER_H

#include "st_db.h"
#include "st_embed.h"
#include "st_hnsw.h"
#include "st_vindex.h"

typedef struct st_reader st_reader_t;

/* emb may be NULL (keyword search only). Borrows db and emb. */
int st_reader_new(st_db_t *db, st_embedder_t *emb, st_reader_t **out);
void st_reader_destroy(st_reader_t **self_p);

/* Opens (renews) the read transaction; st_reader_end releases it. Views and
 * pointers handed out are valid until st_reader_end. */
int st_reader_begin(st_reader_t *r);
void st_reader_end(st_reader_t *r);

st_db_t *st_reader_db(st_reader_t *r);
MDB_txn *st_reader_txn(st_reader_t *r);
st_embedder_t *st_reader_embedder(st_reader_t *r);
st_hnsw_scratch_t *st_reader_scratch(st_reader_t *r);
/* The zero-copy view of owner ix's graph in the current snapshot. */
int st_reader_view(st_reader_t *r, uint32_t ix, const st_hnsw_view_t **view);

/* A document's record. TR_ENOPROC if the owner has no such document,
 * TR_EINVAL for a malformed owner. */
int st_reader_get(st_reader_t *r, const char *owner, size_t owner_len, const uint8_t id[ST_UUID_LEN],
                  st_doc_view_t *doc);
/* A document's bytes (and record). */
int st_reader_content(st_reader_t *r, const char *owner, size_t owner_len, const uint8_t id[ST_UUID_LEN],
                      st_doc_view_t *doc, const void **content, size_t *len);

/* Calls fn for documents offset .. offset+limit-1 of the owner, oldest
 * first; *total gets the owner's document count. A non-zero return from fn
 * stops the listing and is returned. */
typedef int (*st_list_fn)(void *arg, const st_doc_view_t *doc);
int st_reader_list(st_reader_t *r, const char *owner, size_t owner_len, uint64_t offset, uint64_t limit, st_list_fn fn,
                   void *arg, uint64_t *total);

/* Owner statistics (all zero for an owner that never stored anything). */
int st_reader_stats(st_reader_t *r, const char *owner, size_t owner_len, st_owner_rec_t *rec);

/* Metadata filters: `filter` is a msgpack map {key: value}; a document
 * matches when, for every key, its metadata has that key with an equal
 * scalar (numbers compare by value), or the filter value is an array and
 * one of its elements is equal, or the document's value is an array that
 * contains the filter value. An empty filter matches everything. */
bool st_meta_match(const uint8_t *filter, size_t flen, const uint8_t *doc_map, size_t dlen);
/* TR_EINVAL unless filter is a map with string keys and scalar or array values. */
int st_filter_check(const uint8_t *filter, size_t flen);

#endif
