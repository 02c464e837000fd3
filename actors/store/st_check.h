/* st_check.h - a consistency check of the whole store (fsck): what the
 * crash-safety test relies on, and what an operator can run after an
 * incident.
 *
 * Checked for every owner: each document's chunks exist, belong to it and
 * are numbered in order; its content exists with the recorded size and
 * SHA-256; no chunk lacks its document; with vectors on, every chunk has
 * exactly one vector and one HNSW node, node records are well-formed, link
 * only to live nodes, and the graph header (count, entry point) agrees;
 * postings are exactly those the chunks' texts produce (no missing, no
 * stray); the owner's statistics equal the sums. */
#ifndef ST_CHECK_H
#define ST_CHECK_H

#include "st_db.h"

typedef struct st_check_report {
    uint64_t owners, docs, chunks, vectors, nodes, postings;
} st_check_report_t;

/* Runs in its own read transaction. Returns 0 if consistent, TR_ESYS with
 * the first problem described in msg otherwise (or an LMDB error code). */
int st_check(st_db_t *db, st_check_report_t *report, char *msg, size_t cap);

#endif
