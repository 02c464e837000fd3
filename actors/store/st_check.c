/* st_check.c - whole-store consistency check (see st_check.h). */
#include "st_check.h"

#include "st_chunk.h"
#include "st_hnsw.h"
#include "st_token.h"
#include "st_vindex.h"
#include "tr_err.h"
#include "tr_mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the format is each use's literal (checked by -Wformat) */
#define FAIL(...) (snprintf(msg, cap, __VA_ARGS__), TR_ESYS) /* Flawfinder: ignore */

/* Counts the entries of [ix.0, ix.ST_GRAPH_KEY) in a seq-keyed db and checks
 * each key is a chunk (bit set in have[]). */
static int check_seq_db(st_db_t *db, MDB_txn *txn, MDB_dbi dbi, uint32_t ix, const uint8_t *have, uint32_t nslots,
                        uint64_t *count, const char *what, char *msg, size_t cap)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc)
        return st_db_err(rc);
    uint8_t key[8];
    st_key_seq(key, ix, 0);
    MDB_val k = {8, key}, v;
    int trc = 0;
    *count = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || st_be32_get(k.mv_data) != ix)
            break;
        uint32_t seq = st_be32_get((const uint8_t *)k.mv_data + 4);
        if (seq == ST_GRAPH_KEY)
            break;
        if (seq >= nslots || !have[seq]) {
            trc = FAIL("owner %u: %s %u has no chunk", ix, what, seq);
            break;
        }
        if (dbi == db->vectors && v.mv_size != (size_t)db->dim * sizeof(float)) {
            trc = FAIL("owner %u: vector %u has %zu bytes", ix, seq, v.mv_size);
            break;
        }
        (*count)++;
    }
    mdb_cursor_close(c);
    return trc;
}

typedef struct term {
    char t[ST_TOKEN_MAX];
    size_t len;
} term_t;

static int cmp_term(const void *a, const void *b)
{
    const term_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->t, y->t, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Checks the postings a chunk's text must have; returns the distinct count. */
static int check_chunk_postings(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq, const char *text, size_t len,
                                uint32_t dl, uint64_t *distinct, char *msg, size_t cap)
{
    st_tokenizer_t tk;
    st_tok_init(&tk, text, len);
    const char *tok;
    size_t tl;
    size_t n = 0, ncap = 64;
    term_t *t = malloc(ncap * sizeof *t);
    if (!t)
        return TR_ENOMEM;
    while (st_tok_next(&tk, &tok, &tl, NULL)) {
        if (st_stopword(tok, tl))
            continue;
        if (n == ncap) {
            term_t *p = realloc(t, (ncap *= 2) * sizeof *p);
            if (!p) {
                free(t);
                return TR_ENOMEM;
            }
            t = p;
        }
        memcpy(t[n].t, tok, tl);
        t[n++].len = tl;
    }
    int trc = n == dl ? 0 : FAIL("owner %u chunk %u: %zu tokens, recorded %u", ix, seq, n, dl);
    qsort(t, n, sizeof *t, cmp_term);
    *distinct = 0;
    for (size_t i = 0; i < n && !trc;) {
        size_t j = i;
        while (j < n && cmp_term(&t[i], &t[j]) == 0)
            j++;
        uint32_t tf = (uint32_t)(j - i);
        uint8_t key[4 + ST_TOKEN_MAX], val[8];
        st_be32_put(key, ix);
        memcpy(key + 4, t[i].t, t[i].len);
        st_be32_put(val, seq);
        uint32_t tfc = tf > 0xFFFF ? 0xFFFF : tf, dlc = dl > 0xFFFF ? 0xFFFF : dl;
        val[4] = (uint8_t)(tfc >> 8);
        val[5] = (uint8_t)tfc;
        val[6] = (uint8_t)(dlc >> 8);
        val[7] = (uint8_t)dlc;
        MDB_cursor *c;
        int rc = mdb_cursor_open(txn, db->postings, &c);
        if (rc) {
            trc = st_db_err(rc);
            break;
        }
        MDB_val k = {4 + t[i].len, key}, v = {8, val};
        rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH);
        mdb_cursor_close(c);
        if (rc)
            trc = FAIL("owner %u chunk %u: posting for \"%.*s\" missing", ix, seq, (int)t[i].len, t[i].t);
        (*distinct)++;
        i = j;
    }
    free(t);
    return trc;
}

/* Postings of owner ix: count them and check each points at a chunk. */
static int count_postings(st_db_t *db, MDB_txn *txn, uint32_t ix, const uint8_t *have, uint32_t nslots, uint64_t *count,
                          char *msg, size_t cap)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db->postings, &c);
    if (rc)
        return st_db_err(rc);
    uint8_t key[4];
    st_be32_put(key, ix);
    MDB_val k = {4, key}, v;
    int trc = 0;
    *count = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 4 || st_be32_get(k.mv_data) != ix)
            break;
        uint32_t seq = v.mv_size == 8 ? st_be32_get(v.mv_data) : UINT32_MAX;
        if (seq >= nslots || !have[seq]) {
            trc = FAIL("owner %u: stray posting for chunk %u", ix, seq);
            break;
        }
        (*count)++;
    }
    mdb_cursor_close(c);
    return trc;
}

static int check_owner(st_db_t *db, MDB_txn *txn, uint32_t ix, st_check_report_t *rep, char *msg, size_t cap)
{
    st_owner_rec_t orec;
    int rc = st_owner_get(db, txn, ix, &orec);
    if (rc)
        return FAIL("owner %u: no statistics record", ix);
    uint32_t nslots = orec.next_seq;
    uint8_t *have = calloc(nslots ? nslots : 1, 1);
    if (!have)
        return TR_ENOMEM;
    uint64_t docs = 0, chunks = 0, tokens = 0, bytes = 0, distinct_total = 0;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, db->docs, &c))) {
        free(have);
        return st_db_err(rc);
    }
    uint8_t key[4];
    st_be32_put(key, ix);
    MDB_val k = {4, key}, v;
    int trc = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && !trc; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 20 || st_be32_get(k.mv_data) != ix)
            break;
        const uint8_t *id = (const uint8_t *)k.mv_data + 4;
        st_doc_view_t d;
        if (st_doc_get(db, txn, ix, id, &d)) {
            trc = FAIL("owner %u: unreadable document record", ix);
            break;
        }
        uint64_t size = 0, nch = 0;
        tr_mpr_t r;
        if (tr_mp_map_find(d.map, d.map_len, "size", &r) || tr_mpr_uint(&r, &size) ||
            tr_mp_map_find(d.map, d.map_len, "chunks", &r) || tr_mpr_uint(&r, &nch) || nch != d.count) {
            trc = FAIL("owner %u: malformed document map", ix);
            break;
        }
        uint8_t ckey[20];
        st_key_doc(ckey, ix, id);
        MDB_val ck = {20, ckey}, cv;
        if (mdb_get(txn, db->content, &ck, &cv) || cv.mv_size != size) {
            trc = FAIL("owner %u: document content missing or of the wrong size", ix);
            break;
        }
        const char *sha;
        uint32_t shalen;
        char want[65];
        if (tr_mp_map_find(d.map, d.map_len, "sha256", &r) || tr_mpr_str(&r, &sha, &shalen) || shalen != 64 ||
            st_sha256_hex(cv.mv_data, cv.mv_size, want) || memcmp(want, sha, 64) != 0) {
            trc = FAIL("owner %u: document content does not match its sha256", ix);
            break;
        }
        for (uint32_t i = 0; i < d.count && !trc; i++) {
            uint32_t seq = d.first + i;
            st_chunk_view_t ch;
            if (seq >= nslots || st_chunk_get(db, txn, ix, seq, &ch)) {
                trc = FAIL("owner %u: chunk %u of a document missing", ix, seq);
                break;
            }
            if (memcmp(ch.rec.doc, id, ST_UUID_LEN) || ch.rec.ordinal != i || ch.rec.end < ch.rec.start ||
                ch.rec.end > size || ch.len != ch.rec.end - ch.rec.start ||
                memcmp(ch.text, (const char *)cv.mv_data + ch.rec.start, ch.len)) {
                trc = FAIL("owner %u: chunk %u does not match its document", ix, seq);
                break;
            }
            have[seq] = 1;
            tokens += ch.rec.tokens;
            uint64_t distinct = 0;
            const char *title;
            uint32_t tl = 0;
            if (tr_mp_map_find(d.map, d.map_len, "title", &r) || tr_mpr_str(&r, &title, &tl) || !title)
                title = "", tl = 0;
            char *it;
            size_t il;
            if ((trc = st_chunk_index_text(title, tl, ch.text, ch.len, &it, &il)))
                break;
            trc = check_chunk_postings(db, txn, ix, seq, it, il, ch.rec.tokens, &distinct, msg, cap);
            free(it);
            distinct_total += distinct;
        }
        docs++;
        chunks += d.count;
        bytes += size;
    }
    mdb_cursor_close(c);
    uint64_t nchunk_recs = 0, nvec = 0, nnodes = 0, npost = 0;
    if (!trc)
        trc = check_seq_db(db, txn, db->chunks, ix, have, nslots, &nchunk_recs, "chunk", msg, cap);
    if (!trc && nchunk_recs != chunks)
        trc = FAIL("owner %u: %llu chunk records but documents own %llu", ix, (unsigned long long)nchunk_recs,
                   (unsigned long long)chunks);
    if (!trc)
        trc = count_postings(db, txn, ix, have, nslots, &npost, msg, cap);
    if (!trc && npost != distinct_total)
        trc = FAIL("owner %u: %llu postings, the chunks produce %llu", ix, (unsigned long long)npost,
                   (unsigned long long)distinct_total);
    if (!trc && db->dim > 0) {
        trc = check_seq_db(db, txn, db->vectors, ix, have, nslots, &nvec, "vector", msg, cap);
        if (!trc)
            trc = check_seq_db(db, txn, db->hnsw, ix, have, nslots, &nnodes, "graph node", msg, cap);
        if (!trc && (nvec != chunks || nnodes != chunks))
            trc = FAIL("owner %u: %llu chunks, %llu vectors, %llu graph nodes", ix, (unsigned long long)chunks,
                       (unsigned long long)nvec, (unsigned long long)nnodes);
        st_graph_hdr_t h;
        int hrc = trc ? 0 : st_vindex_header(db, txn, ix, &h);
        if (!trc && hrc == TR_ENOPROC && chunks)
            trc = FAIL("owner %u: chunks but no graph header", ix);
        else if (!trc && hrc == 0 && h.count != chunks)
            trc = FAIL("owner %u: graph header counts %u nodes, %llu chunks", ix, h.count, (unsigned long long)chunks);
        if (!trc && hrc == 0) { /* the view validates every record and link */
            st_vview_t vv;
            memset(&vv, 0, sizeof vv);
            int vrc = st_vview_open(db, txn, ix, &vv);
            if (vrc)
                trc = FAIL("owner %u: graph records invalid (%s)", ix, tr_strerror(vrc));
            for (uint32_t i = 0; !trc && i < vv.view.n_slots; i++) {
                const uint32_t *rec = vv.view.node[i];
                if (!rec)
                    continue;
                for (int l = 0; l <= (int)rec[0] && !trc; l++) {
                    const uint32_t *lk = rec + (l == 0 ? 2 : 3 + 2 * (size_t)h.M + (size_t)(l - 1) * (1 + h.M));
                    for (uint32_t j = 1; j <= lk[0]; j++)
                        if (!vv.view.node[lk[j]] || (int)vv.view.node[lk[j]][0] < l) {
                            trc = FAIL("owner %u: node %u links to missing node %u", ix, i, lk[j]);
                            break;
                        }
                }
            }
            st_vview_release(&vv);
        }
    }
    if (!trc && (orec.docs != docs || orec.chunks != chunks || orec.tokens != tokens || orec.bytes != bytes))
        trc = FAIL("owner %u: statistics (%llu docs, %llu chunks) differ from the data (%llu, %llu)", ix,
                   (unsigned long long)orec.docs, (unsigned long long)orec.chunks, (unsigned long long)docs,
                   (unsigned long long)chunks);
    free(have);
    rep->docs += docs;
    rep->chunks += chunks;
    rep->vectors += nvec;
    rep->nodes += nnodes;
    rep->postings += npost;
    return trc;
}

int st_check(st_db_t *db, st_check_report_t *report, char *msg, size_t cap)
{
    st_check_report_t rep;
    memset(&rep, 0, sizeof rep);
    if (cap)
        msg[0] = '\0';
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return st_db_err(rc);
    uint32_t *ixs;
    size_t n;
    if ((rc = st_owner_list(db, txn, &ixs, &n))) {
        mdb_txn_abort(txn);
        return rc;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        rc = check_owner(db, txn, ixs[i], &rep, msg, cap);
        rep.owners++;
    }
    free(ixs);
    mdb_txn_abort(txn);
    if (report)
        *report = rep;
    return rc;
}
