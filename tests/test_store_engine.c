/* test_store_engine.c - the store engine without actors: BM25 against hand
 * computed scores, hybrid ordering, persistence across restart, owner
 * isolation, delete, metadata filters, malformed uploads, embedder changes
 * and re-index. Every test ends with the whole-store consistency check. */
#include "store_testutil.h"

#include "store/st_bm25.h"
#include "store/st_vindex.h"
#include "tr_mp.h"

#include <math.h>

Test(store_engine, bm25_matches_hand_computed_scores)
{
    char *dir = tu_tmpdir();
    tu_engine_t e;
    cr_assert_eq(tu_engine_open(&e, dir, 0, false, NULL, 0), 0);
    uint8_t d1[16], d2[16], d3[16];
    cr_assert_eq(tu_put(&e, "alice", "", "text/plain", "apple banana apple", NULL, 0, d1), 0);
    cr_assert_eq(tu_put(&e, "alice", "", "text/plain", "banana cherry", NULL, 0, d2), 0);
    cr_assert_eq(tu_put(&e, "alice", "", "text/plain", "Cherry cherry CHERRY durian", NULL, 0, d3), 0);
    /* N = 3 chunks, avgdl = (3 + 2 + 4) / 3 = 3.
     * "apple": df 1, idf = ln(1 + 2.5/1.5) = 0.980829; d1 tf 2, dl 3:
     *   0.980829 * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75)) = 1.348640 */
    uint8_t ids[10][16];
    float sc[10];
    int n = tu_search(&e, "alice", "apple", ST_MODE_KEYWORD, 10, NULL, 0, ids, sc);
    cr_assert_eq(n, 1);
    cr_assert_arr_eq(ids[0], d1, 16);
    cr_assert_float_eq(sc[0], 1.348640, 1e-4);
    /* "banana cherry": idf = ln(1 + 1.5/2.5) = 0.470004 for both.
     * d2 (dl 2, norm 1.2 * 0.75 = 0.9): 2 * 0.470004 * 2.2 / 1.9 = 1.088430
     * d3 (cherry tf 3, dl 4, norm 1.5): 0.470004 * 3 * 2.2 / 4.5 = 0.689339
     * d1 (banana tf 1, dl 3, norm 1.2): 0.470004 * 2.2 / 2.2 = 0.470004 */
    n = tu_search(&e, "alice", "the Banana, and CHERRY?", ST_MODE_KEYWORD, 10, NULL, 0, ids, sc);
    cr_assert_eq(n, 3);
    cr_assert_arr_eq(ids[0], d2, 16);
    cr_assert_arr_eq(ids[1], d3, 16);
    cr_assert_arr_eq(ids[2], d1, 16);
    cr_assert_float_eq(sc[0], 1.088430, 1e-4);
    cr_assert_float_eq(sc[1], 0.689339, 1e-4);
    cr_assert_float_eq(sc[2], 0.470004, 1e-4);
    /* stop words alone find nothing; k limits */
    cr_assert_eq(tu_search(&e, "alice", "the of and", ST_MODE_KEYWORD, 10, NULL, 0, NULL, NULL), 0);
    cr_assert_eq(tu_search(&e, "alice", "banana cherry", ST_MODE_KEYWORD, 2, NULL, 0, NULL, NULL), 2);
    /* with vector search off, hybrid runs as keyword */
    st_query_t q = {.owner = "alice", .owner_len = 5, .text = "apple", .len = 5, .k = 3, .mode = ST_MODE_HYBRID};
    st_hit_t hits[3];
    st_mode_t used;
    char err[128];
    cr_assert_eq(st_reader_begin(e.r), 0);
    cr_assert_eq(st_search(e.r, &e.so, &q, hits, &n, &used, err, sizeof err), 0);
    cr_assert_eq(used, ST_MODE_KEYWORD);
    q.mode = ST_MODE_VECTOR;
    cr_assert_eq(st_search(e.r, &e.so, &q, hits, &n, &used, err, sizeof err), TR_EINVAL);
    cr_assert(strstr(err, "disabled"));
    st_reader_end(e.r);
    tu_check(e.db);
    tu_engine_close(&e);
    tu_rmrf(dir);
    free(dir);
}

Test(store_engine, hybrid_finds_word_variants_keyword_misses)
{
    char *dir = tu_tmpdir();
    tu_engine_t e;
    cr_assert_eq(tu_engine_open(&e, dir, 256, false, NULL, 0), 0);
    uint8_t a[16], b[16], c[16], d[16];
    cr_assert_eq(tu_put(&e, "u", "a", "text/plain", "boundary layer separation on swept wings", NULL, 0, a), 0);
    cr_assert_eq(tu_put(&e, "u", "b", "text/plain", "boundary conditions of the heat equation", NULL, 0, b), 0);
    cr_assert_eq(tu_put(&e, "u", "c", "text/plain", "separating layers near boundaries", NULL, 0, c), 0);
    cr_assert_eq(tu_put(&e, "u", "d", "text/plain", "propeller noise measurements", NULL, 0, d), 0);
    uint8_t ids[10][16];
    float sc[10];
    const char *q = "boundary layer separation";
    int n = tu_search(&e, "u", q, ST_MODE_KEYWORD, 10, NULL, 0, ids, sc);
    cr_assert_eq(n, 2, "keyword matches exact words only");
    cr_assert_arr_eq(ids[0], a, 16);
    n = tu_search(&e, "u", q, ST_MODE_VECTOR, 3, NULL, 0, ids, sc);
    cr_assert_eq(n, 3);
    cr_assert_arr_eq(ids[0], a, 16);
    cr_assert_arr_eq(ids[1], c, 16, "stems (bound-, layer, separ-) bring the variant up");
    cr_assert_gt(sc[0], sc[1]);
    n = tu_search(&e, "u", q, ST_MODE_HYBRID, 3, NULL, 0, ids, sc);
    cr_assert_eq(n, 3);
    cr_assert_arr_eq(ids[0], a, 16, "first in both lists, first fused");
    bool has_c = false, has_d = false;
    for (int i = 0; i < n; i++) {
        has_c |= memcmp(ids[i], c, 16) == 0;
        has_d |= memcmp(ids[i], d, 16) == 0;
    }
    cr_assert(has_c && !has_d);
    for (int i = 1; i < n; i++)
        cr_assert_geq(sc[i - 1], sc[i]);
    for (int m = 0; m < 3; m++)
        cr_assert_eq(tu_search(&e, "u", "the of and which", (st_mode_t)m, 3, NULL, 0, NULL, NULL), 0,
                     "stop words alone match nothing (mode %d)", m);
    tu_check(e.db);
    tu_engine_close(&e);
    tu_rmrf(dir);
    free(dir);
}

static const char *const corpus[] = {
    "Laminar boundary layers on flat plates at high Mach numbers.",
    "Heat transfer to blunt bodies in hypersonic flow.",
    "# Buckling\n\nBuckling of thin cylindrical shells under axial compression.",
    "Flutter of panels in supersonic flow and aerodynamic heating.",
    "```c\nint main(void) { return 0; }\n```\nA small C program.",
    "Shock wave interaction with turbulent boundary layers.",
    "Wind tunnel measurements of pressure on swept cylinders.",
    "Vibration frequencies of clamped plates.",
};
#define NCORPUS (sizeof corpus / sizeof corpus[0])

static void put_corpus(tu_engine_t *e, const char *owner, uint8_t (*ids)[16])
{
    for (size_t i = 0; i < NCORPUS; i++)
        cr_assert_eq(tu_put(e, owner, "t", i == 4 ? "text/markdown" : "text/plain", corpus[i], NULL, 0, ids[i]), 0);
}

Test(store_engine, results_survive_restart_without_rebuild)
{
    char *dir = tu_tmpdir();
    tu_engine_t e;
    cr_assert_eq(tu_engine_open(&e, dir, 128, false, NULL, 0), 0);
    uint8_t ids[NCORPUS][16];
    put_corpus(&e, "owner-1", ids);
    const char *queries[] = {"boundary layer", "heating of panels", "shells buckling", "c program"};
    uint8_t before[4][3][10][16];
    float sbefore[4][3][10];
    int nbefore[4][3];
    for (int qi = 0; qi < 4; qi++)
        for (int m = 0; m < 3; m++)
            nbefore[qi][m] =
                tu_search(&e, "owner-1", queries[qi], (st_mode_t)m, 5, NULL, 0, before[qi][m], sbefore[qi][m]);
    tu_engine_close(&e);

    cr_assert_eq(tu_engine_open(&e, dir, 128, false, NULL, 0), 0);
    MDB_envinfo info;
    mdb_env_info(e.db->env, &info);
    size_t txn_before = info.me_last_txnid;
    for (int qi = 0; qi < 4; qi++)
        for (int m = 0; m < 3; m++) {
            uint8_t after[10][16];
            float safter[10];
            int n = tu_search(&e, "owner-1", queries[qi], (st_mode_t)m, 5, NULL, 0, after, safter);
            cr_assert_eq(n, nbefore[qi][m]);
            for (int i = 0; i < n; i++) {
                cr_assert_arr_eq(after[i], before[qi][m][i], 16, "query %d mode %d rank %d", qi, m, i);
                cr_assert_float_eq(safter[i], sbefore[qi][m][i], 1e-6);
            }
        }
    /* the graph was read, not rebuilt: nothing was written since the reopen */
    mdb_env_info(e.db->env, &info);
    cr_assert_eq(info.me_last_txnid, txn_before);
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(e.db->env, NULL, MDB_RDONLY, &txn), 0);
    st_graph_hdr_t h;
    cr_assert_eq(st_vindex_header(e.db, txn, 0, &h), 0);
    cr_assert_eq(h.count, NCORPUS);
    mdb_txn_abort(txn);
    /* and inserting after the restart extends the loaded graph */
    cr_assert_eq(tu_put(&e, "owner-1", "t", "text/plain", "Boundary layer transition.", NULL, 0, NULL), 0);
    tu_check(e.db);
    tu_engine_close(&e);
    tu_rmrf(dir);
    free(dir);
}

Test(store_engine, owners_are_isolated)
{
    char *dir = tu_tmpdir();
    tu_engine_t e;
    cr_assert_eq(tu_engine_open(&e, dir, 64, false, NULL, 0), 0);
    uint8_t a[16], b[16];
    cr_assert_eq(tu_put(&e, "alice", "secret", "text/plain", "zebra quartz launch codes", NULL, 0, a), 0);
    cr_assert_eq(tu_put(&e, "bob", "notes", "text/plain", "zebra crossing notes", NULL, 0, b), 0);
    uint8_t ids[10][16];
    for (int m = 0; m < 3; m++) {
        int n = tu_search(&e, "bob", "zebra quartz launch codes", (st_mode_t)m, 10, NULL, 0, ids, NULL);
        for (int i = 0; i < n; i++)
            cr_assert_arr_eq(ids[i], b, 16, "bob sees only his own chunks (mode %d)", m);
    }
    cr_assert_eq(tu_search(&e, "carol", "zebra", ST_MODE_HYBRID, 10, NULL, 0, NULL, NULL), 0);
    cr_assert_eq(tu_search(&e, NULL, "zebra", ST_MODE_KEYWORD, 10, NULL, 0, ids, NULL), 2, "admin: all owners");
    st_doc_view_t d;
    cr_assert_eq(st_reader_begin(e.r), 0);
    cr_assert_eq(st_reader_get(e.r, "bob", 3, a, &d), TR_ENOPROC);
    cr_assert_eq(st_reader_get(e.r, "carol", 5, a, &d), TR_ENOPROC);
    cr_assert_eq(st_reader_get(e.r, "alice", 5, a, &d), 0);
    const void *p;
    size_t len;
    cr_assert_eq(st_reader_content(e.r, "bob", 3, a, &d, &p, &len), TR_ENOPROC);
    cr_assert_eq(st_reader_get(e.r, "bad owner!", 10, a, &d), TR_EINVAL);
    st_reader_end(e.r);
    char err[128];
    cr_assert_eq(st_writer_delete(e.w, "bob", 3, a, NULL, err, sizeof err), TR_ENOPROC);
    cr_assert_eq(st_writer_commit(e.w), 0);
    cr_assert_eq(st_reader_begin(e.r), 0);
    cr_assert_eq(st_reader_get(e.r, "alice", 5, a, &d), 0, "bob's delete did not touch alice's document");
    st_reader_end(e.r);
    tu_check(e.db);
    tu_engine_close(&e);
    tu_rmrf(dir);
    free(dir);
}

Test(store_engine, delete_removes_chunks_vectors_postings_and_nodes)
{
    char *dir = tu_tmpdir();
    tu_engine_t e;
    cr_assert_eq(tu_engine_open(&e, dir, 64, false, NULL, 0), 0);
    uint8_t ids[NCORPUS][16];
    put_corpus(&e, "o", ids);
    MDB_txn *txn;
    st_check_report_t before, after;
    char msg[256];
    cr_assert_eq(st_check(e.db, &before, msg, sizeof msg), 0, "%s", msg);
    uint32_t chunks;
    char err[128];
    cr_assert_eq(st_writer_delete(e.w, "o", 1, ids[5], &chunks, err, sizeof err), 0);
    cr_assert_eq(st_writer_delete(e.w, "o", 1, ids[0], NULL, err, sizeof err), 0);
    cr_assert_eq(st_writer_commit(e.w), 0);
    cr_assert_eq(st_check(e.db, &after, msg, sizeof msg), 0, "%s", msg);
    cr_assert_eq(after.docs, before.docs - 2);
    cr_assert_lt(after.postings, before.postings);
    cr_assert_eq(after.vectors, after.chunks);
    cr_assert_eq(after.nodes, after.chunks);
    uint8_t found[10][16];
    for (int m = 0; m < 3; m++) {
        int n = tu_search(&e, "o", "turbulent shock wave boundary layers", (st_mode_t)m, 10, NULL, 0, found, NULL);
        for (int i = 0; i < n; i++)
            cr_assert(memcmp(found[i], ids[5], 16) && memcmp(found[i], ids[0], 16));
    }
    cr_assert_eq(st_writer_delete(e.w, "o", 1, ids[5], NULL, err, sizeof err), TR_ENOPROC);
    /* delete everything: the graph empties cleanly and accepts new nodes */
    for (size_t i = 1; i < NCORPUS; i++)
        if (i != 5)
            cr_assert_eq(st_writer_delete(e.w, "o", 1, ids[i], NULL, err, sizeof err), 0, "doc %zu: %s", i, err);
    cr_assert_eq(st_writer_commit(e.w), 0);
    cr_assert_eq(mdb_txn_begin(e.db->env, NULL, MDB_RDONLY, &txn), 0);
    st_graph_hdr_t h;
    cr_assert_eq(st_vindex_header(e.db, txn, 0, &h), 0);
    cr_assert_eq(h.count, 0);
    cr_assert_eq(h.entry, ST_HNSW_NONE);
    mdb_txn_abort(txn);
    cr_assert_eq(tu_search(&e, "o", "plates", ST_MODE_HYBRID, 10, NULL, 0, NULL, NULL), 0);
    cr_assert_eq(tu_put(&e, "o", "t", "text/plain", "plates again", NULL, 0, NULL), 0);
    cr_assert_eq(tu_search(&e, "o", "plates", ST_MODE_VECTOR, 10, NULL, 0, NULL, NULL), 1);
    tu_check(e.db);
    tu_engine_close(&e);
    tu_rmrf(dir);
    free(dir);
}

static size_t meta_map(uint8_t *buf, size_t cap, const char *k1, const char *v1, const char *k2, int64_t v2)
{
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, cap);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, k1);
    tr_mpw_cstr(&w, v1);
    tr_mpw_cstr(&w, k2);
    tr_mpw_int(&w, v2);
    cr_assert_eq(w.err, 0);
    return w.len;
}

Test(store_engine, metadata_filters)
{
    char *dir = tu_tmpdir();
    tu_engine_t e;
    cr_assert_eq(tu_engine_open(&e, dir, 64, false, NULL, 0), 0);
    uint8_t m[64], f[64];
    uint8_t c1[16], py[16], c2[16];
    size_t n = meta_map(m, sizeof m, "lang", "c", "year", 2020);
    cr_assert_eq(tu_put(&e, "o", "a", "text/x-c", "int parse_header(void) { return 0; }", m, n, c1), 0);
    n = meta_map(m, sizeof m, "lang", "python", "year", 2021);
    cr_assert_eq(tu_put(&e, "o", "b", "text/x-python", "def parse_header():\n    return 0\n", m, n, py), 0);
    n = meta_map(m, sizeof m, "lang", "c", "year", 2021);
    cr_assert_eq(tu_put(&e, "o", "c", "text/x-c", "static int parse_header_fast(void);", m, n, c2), 0);
    uint8_t ids[10][16];
    for (int mode = 0; mode < 3; mode++) {
        size_t fl = meta_map(f, sizeof f, "lang", "c", "year", 2021);
        int got = tu_search(&e, "o", "parse header", (st_mode_t)mode, 10, f, fl, ids, NULL);
        cr_assert_eq(got, 1, "mode %d", mode);
        cr_assert_arr_eq(ids[0], c2, 16);
    }
    /* one key; an array means any of */
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, f, sizeof f);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "lang");
    tr_mpw_array(&w, 2);
    tr_mpw_cstr(&w, "python");
    tr_mpw_cstr(&w, "rust");
    int got = tu_search(&e, "o", "parse header", ST_MODE_HYBRID, 10, f, w.len, ids, NULL);
    cr_assert_eq(got, 1);
    cr_assert_arr_eq(ids[0], py, 16);
    /* a key nobody has */
    tr_mpw_init_fixed(&w, f, sizeof f);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "team");
    tr_mpw_cstr(&w, "x");
    cr_assert_eq(tu_search(&e, "o", "parse header", ST_MODE_VECTOR, 10, f, w.len, ids, NULL), 0);
    /* malformed filters are refused */
    st_query_t q = {.owner = "o",
                    .owner_len = 1,
                    .text = "x",
                    .len = 1,
                    .k = 5,
                    .filter = (const uint8_t *)"\x91\x01",
                    .filter_len = 2};
    st_hit_t hits[5];
    int nh;
    st_mode_t used;
    char err[128];
    cr_assert_eq(st_reader_begin(e.r), 0);
    cr_assert_eq(st_search(e.r, &e.so, &q, hits, &nh, &used, err, sizeof err), TR_EINVAL);
    q.filter = NULL;
    q.filter_len = 0;
    q.k = 0;
    cr_assert_eq(st_search(e.r, &e.so, &q, hits, &nh, &used, err, sizeof err), TR_EINVAL);
    st_reader_end(e.r);
    (void)c1;
    tu_check(e.db);
    tu_engine_close(&e);
    tu_rmrf(dir);
    free(dir);
}

Test(store_engine, malformed_uploads_are_refused_without_writing)
{
    char *dir = tu_tmpdir();
    tu_engine_t e;
    cr_assert_eq(tu_engine_open(&e, dir, 64, false, NULL, 0), 0);
    char err[256];
    st_put_result_t res;
    st_doc_in_t d = {.owner = "o",
                     .owner_len = 1,
                     .content_type = "text/plain",
                     .content_type_len = 10,
                     .content = "ok",
                     .content_len = 2};
    st_doc_in_t x = d;
    x.content = "bad \xff byte";
    x.content_len = 10;
    cr_assert_eq(st_writer_put(e.w, &x, &res, err, sizeof err), TR_EINVAL);
    cr_assert(strstr(err, "UTF-8") && strstr(err, "offset 4"), "%s", err);
    x = d;
    x.content_type = "application/pdf";
    x.content_type_len = 15;
    cr_assert_eq(st_writer_put(e.w, &x, &res, err, sizeof err), ST_EUNSUPPORTED);
    x.content_type = "text/plain; charset=latin1";
    x.content_type_len = strlen(x.content_type);
    cr_assert_eq(st_writer_put(e.w, &x, &res, err, sizeof err), ST_EUNSUPPORTED);
    x = d;
    x.owner = "a/b";
    x.owner_len = 3;
    cr_assert_eq(st_writer_put(e.w, &x, &res, err, sizeof err), TR_EINVAL);
    x = d;
    x.metadata = (const uint8_t *)"\x92\x01\x02"; /* an array, not a map */
    x.metadata_len = 3;
    cr_assert_eq(st_writer_put(e.w, &x, &res, err, sizeof err), TR_EINVAL);
    x.metadata = (const uint8_t *)"\x81\xa1k"; /* truncated */
    x.metadata_len = 3;
    cr_assert_eq(st_writer_put(e.w, &x, &res, err, sizeof err), TR_EINVAL);
    size_t big = (8u << 20) + 1;
    char *huge = malloc(big);
    memset(huge, 'a', big);
    x = d;
    x.content = huge;
    x.content_len = big;
    cr_assert_eq(st_writer_put(e.w, &x, &res, err, sizeof err), TR_ETOOBIG);
    cr_assert(strstr(err, "limit"), "%s", err);
    free(huge);
    cr_assert_eq(st_writer_pending(e.w), 0, "nothing was written");
    /* valid ones still work, including an empty document and a CRLF one */
    cr_assert_eq(st_writer_put(e.w, &d, &res, err, sizeof err), 0);
    x = d;
    x.content = "";
    x.content_len = 0;
    cr_assert_eq(st_writer_put(e.w, &x, &res, err, sizeof err), 0);
    cr_assert_eq(res.chunks, 0);
    x.content = "line one\r\n\r\nline two\r\n";
    x.content_len = strlen(x.content);
    x.content_type = "text/markdown; charset=UTF-8";
    x.content_type_len = strlen(x.content_type);
    cr_assert_eq(st_writer_put(e.w, &x, &res, err, sizeof err), 0);
    cr_assert_eq(st_writer_commit(e.w), 0);
    tu_check(e.db);
    tu_engine_close(&e);
    tu_rmrf(dir);
    free(dir);
}

Test(store_engine, changed_embedder_requires_reindex)
{
    char *dir = tu_tmpdir();
    tu_engine_t e;
    cr_assert_eq(tu_engine_open(&e, dir, 64, false, NULL, 0), 0);
    uint8_t ids[NCORPUS][16];
    put_corpus(&e, "o", ids);
    tu_engine_close(&e);
    char err[512] = "";
    cr_assert_eq(tu_engine_open(&e, dir, 96, false, err, sizeof err), TR_ECONFIG);
    cr_assert(strstr(err, "re-index required"), "%s", err);
    cr_assert(strstr(err, "dim 64") && strstr(err, "dim 96"), "%s", err);
    cr_assert_eq(tu_engine_open(&e, dir, 0, false, err, sizeof err), TR_ECONFIG, "vectors off is a change too");
    /* allowed: writes are refused until the re-index */
    cr_assert_eq(tu_engine_open(&e, dir, 96, true, err, sizeof err), 0);
    cr_assert(e.db->mismatch);
    cr_assert_eq(tu_put(&e, "o", "t", "text/plain", "x", NULL, 0, NULL), TR_ECONFIG);
    uint64_t docs = 0, chunks = 0;
    cr_assert_eq(st_writer_reindex(e.w, &docs, &chunks, err, sizeof err), 0, "%s", err);
    cr_assert_eq(docs, NCORPUS);
    cr_assert_geq(chunks, NCORPUS);
    cr_assert_not(e.db->mismatch);
    tu_check(e.db);
    uint8_t found[10][16];
    int n = tu_search(&e, "o", "buckling of cylindrical shells", ST_MODE_VECTOR, 3, NULL, 0, found, NULL);
    cr_assert_geq(n, 1);
    cr_assert_arr_eq(found[0], ids[2], 16);
    tu_engine_close(&e);
    cr_assert_eq(tu_engine_open(&e, dir, 96, false, err, sizeof err), 0, "recorded after the re-index: %s", err);
    cr_assert_eq(tu_put(&e, "o", "t", "text/plain", "more", NULL, 0, NULL), 0);
    tu_check(e.db);
    tu_engine_close(&e);
    tu_rmrf(dir);
    free(dir);
}

Test(store_engine, many_puts_and_deletes_stay_consistent)
{
    char *dir = tu_tmpdir();
    tu_engine_t e;
    cr_assert_eq(tu_engine_open(&e, dir, 32, false, NULL, 0), 0);
    enum { N = 120 };
    uint8_t ids[N][16];
    bool alive[N];
    char text[600];
    uint64_t x = 7;
    const char *words[] = {"flow", "wing", "shock", "heat", "plate", "shell", "noise", "jet", "vortex", "lift"};
    for (int i = 0; i < N; i++) {
        size_t o = 0;
        for (int w = 0; w < 60; w++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            o += (size_t)snprintf(text + o, sizeof text - o, "%s%d ", words[(x >> 33) % 10], (int)((x >> 40) % 7));
        }
        cr_assert_eq(tu_put(&e, i % 3 ? "p" : "q", "t", "text/plain", text, NULL, 0, ids[i]), 0);
        alive[i] = true;
        if (i % 4 == 3) { /* delete an earlier one */
            int v = (int)((x >> 20) % (uint64_t)i);
            char err[64];
            int rc = st_writer_delete(e.w, v % 3 ? "p" : "q", 1, ids[v], NULL, err, sizeof err);
            cr_assert_eq(rc, alive[v] ? 0 : TR_ENOPROC);
            alive[v] = false;
            cr_assert_eq(st_writer_commit(e.w), 0);
        }
    }
    tu_check(e.db);
    uint8_t found[20][16];
    int n = tu_search(&e, "p", "flow3 wing2 shock1", ST_MODE_VECTOR, 20, NULL, 0, found, NULL);
    cr_assert_gt(n, 0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < N; j++)
            if (!memcmp(found[i], ids[j], 16))
                cr_assert(alive[j], "a deleted document came back");
    tu_engine_close(&e);
    tu_rmrf(dir);
    free(dir);
}
