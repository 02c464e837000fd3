/* store_testutil.h - helpers shared by the tests/test_store_*.c files
 * (header-only: each test binary is one translation unit). */
#ifndef STORE_TESTUTIL_H
#define STORE_TESTUTIL_H

#include "store/st_check.h"
#include "store/st_db.h"
#include "store/st_embed.h"
#include "store/st_reader.h"
#include "store/st_search.h"
#include "store/st_writer.h"
#include "tr_err.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tu_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tu_rmrf(const char *path)
{
    nftw(path, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *tu_tmpdir(void)
{
    char *d = strdup("/tmp/troupe-store-test-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

/* An engine: db + writer + reader with the built-in embedder (dim 0 = off). */
typedef struct tu_engine {
    char path[512];
    st_embedder_t *emb;
    st_db_t *db;
    st_writer_t *w;
    st_reader_t *r;
    st_search_opts_t so;
} tu_engine_t;

static inline int tu_engine_open(tu_engine_t *e, const char *dir, int dim, bool allow_mismatch, char *err,
                                 size_t errcap)
{
    memset(e, 0, sizeof *e);
    snprintf(e->path, sizeof e->path, "%s/store", dir);
    if (dim > 0)
        cr_assert_eq(st_embed_builtin_new(dim, 0, &e->emb), 0);
    st_db_opts_t o = {.path = e->path,
                      .emb_name = e->emb ? e->emb->name : NULL,
                      .emb_params = e->emb ? e->emb->params : NULL,
                      .dim = dim,
                      .M = 8,
                      .efc = 64,
                      .allow_mismatch = allow_mismatch};
    int rc = st_db_open(&o, &e->db, err, errcap);
    if (rc) {
        st_embedder_destroy(&e->emb);
        return rc;
    }
    st_writer_opts_t wo = {.chunk = {.target = 400, .overlap = 40}};
    cr_assert_eq(st_writer_new(e->db, e->emb, &wo, &e->w), 0);
    cr_assert_eq(st_reader_new(e->db, e->emb, &e->r), 0);
    e->so.vectors = dim > 0;
    return 0;
}

static inline void tu_engine_close(tu_engine_t *e)
{
    st_reader_destroy(&e->r);
    st_writer_destroy(&e->w);
    st_db_close(&e->db);
    st_embedder_destroy(&e->emb);
}

/* Puts and commits one document; returns its id in id (may be NULL). */
static inline int tu_put(tu_engine_t *e, const char *owner, const char *title, const char *ctype, const char *text,
                         const uint8_t *meta, size_t meta_len, uint8_t id[16])
{
    st_doc_in_t d = {.owner = owner,
                     .owner_len = strlen(owner),
                     .title = title,
                     .title_len = strlen(title),
                     .content_type = ctype,
                     .content_type_len = strlen(ctype),
                     .metadata = meta,
                     .metadata_len = meta_len,
                     .content = text,
                     .content_len = strlen(text)};
    st_put_result_t res;
    char err[256] = "";
    int rc = st_writer_put(e->w, &d, &res, err, sizeof err);
    if (rc)
        return rc;
    if (id)
        memcpy(id, res.id, 16);
    return st_writer_commit(e->w);
}

static inline void tu_check(st_db_t *db)
{
    char msg[512];
    st_check_report_t rep;
    int rc = st_check(db, &rep, msg, sizeof msg);
    cr_assert_eq(rc, 0, "store inconsistent: %s", msg);
}

/* Runs a search; returns hit count, fills doc ids of hits (ids[i] 16 bytes). */
static inline int tu_search(tu_engine_t *e, const char *owner, const char *q, st_mode_t mode, int k,
                            const uint8_t *filter, size_t flen, uint8_t (*ids)[16], float *scores)
{
    st_query_t qq = {.owner = owner,
                     .owner_len = owner ? strlen(owner) : 0,
                     .text = q,
                     .len = strlen(q),
                     .k = k,
                     .mode = mode,
                     .filter = filter,
                     .filter_len = flen,
                     .all_owners = owner == NULL};
    st_hit_t hits[ST_SEARCH_MAX_K];
    int n = 0;
    st_mode_t used;
    char err[256];
    cr_assert_eq(st_reader_begin(e->r), 0);
    int rc = st_search(e->r, &e->so, &qq, hits, &n, &used, err, sizeof err);
    cr_assert_eq(rc, 0, "search failed: %s", err);
    for (int i = 0; i < n; i++) {
        if (ids)
            memcpy(ids[i], hits[i].chunk.rec.doc, 16);
        if (scores)
            scores[i] = hits[i].score;
    }
    st_reader_end(e->r);
    return n;
}

#endif
