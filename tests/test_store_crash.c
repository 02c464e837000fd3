/* test_store_crash.c - crash safety: a child process ingests documents
 * through the store actors and writes each acknowledged id to a pipe; the
 * parent kills it with SIGKILL at a random moment, reopens the store and
 * checks that every acknowledged document is there and complete (content,
 * chunks, vectors, postings, graph nodes) and that the store as a whole is
 * consistent: no half-written document. Three rounds on the same store, so
 * recovery from one crash is crashed again.
 *
 * The kill point is random (seed printed on failure); what is asserted does
 * not depend on where it lands. */
#include "store/store.h"
#include "store_testutil.h"

#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>

#define ROUNDS 3

/* Deterministic content for (round, i): markdown of 1..6 KB, several chunks. */
static size_t make_content(int round, int i, char *buf, size_t cap)
{
    static const char *words[] = {"shock",       "wave",         "boundary", "layer", "flutter",
                                  "panel",       "heat",         "transfer", "wing",  "vortex",
                                  "caf\xc3\xa9", "na\xc3\xafve", "jet",      "noise", "plate"};
    size_t o = (size_t)snprintf(buf, cap, "# Document %d.%d\n\n", round, i);
    uint64_t x = (uint64_t)round * 1000003u + (uint64_t)i * 7919u + 1;
    int paras = 2 + i % 5;
    for (int p = 0; p < paras && o + 1200 < cap; p++) {
        int n = 40 + (int)(x % 120);
        for (int w = 0; w < n; w++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            o += (size_t)snprintf(buf + o, cap - o, "%s ", words[(x >> 33) % 15]);
        }
        o += (size_t)snprintf(buf + o, cap - o, "%s", p % 3 == 1 ? "\n\n```c\nint x = 1;\n```\n\n" : "\n\n");
    }
    return o;
}

static size_t put_payload(tr_mpw_t *w, int round, int i, char *content, size_t cap)
{
    size_t len = make_content(round, i, content, cap);
    char title[32];
    snprintf(title, sizeof title, "doc %d.%d", round, i);
    tr_mpw_init(w);
    tr_mpw_map(w, 5);
    tr_mpw_cstr(w, "owner");
    tr_mpw_cstr(w, i % 2 ? "owner-a" : "owner-b");
    tr_mpw_cstr(w, "title");
    tr_mpw_cstr(w, title);
    tr_mpw_cstr(w, "content_type");
    tr_mpw_cstr(w, "text/markdown");
    tr_mpw_cstr(w, "metadata");
    tr_mpw_map(w, 1);
    tr_mpw_cstr(w, "round");
    tr_mpw_uint(w, (uint64_t)round);
    tr_mpw_cstr(w, "content");
    tr_mpw_bin(w, content, len);
    return len;
}

static store_config_t config(const char *dir)
{
    return (store_config_t){.data_dir = dir,
                            .dim = 64,
                            .readers = 1,
                            .hnsw_m = 8,
                            .hnsw_ef_construction = 48,
                            .chunk_target = 500,
                            .chunk_overlap = 50};
}

typedef struct ingester {
    tr_system_t *sys;
    int fd, round, first, step;
} ingester_t;

/* One of the child's ingest threads: put, wait for the ack, print it. */
static void *ingest(void *arg)
{
    ingester_t *g = arg;
    char *content = malloc(16384);
    for (int i = g->first;; i += g->step) {
        tr_mpw_t w;
        put_payload(&w, g->round, i, content, 16384);
        tr_reply_t reply;
        int rc = tr_ask(g->sys, "store", "store.put", w.buf, w.len, 60000, &reply);
        tr_mpw_free(&w);
        if (rc)
            _exit(4);
        tr_mpr_t r;
        const char *id;
        uint32_t n;
        if (tr_mp_map_find(reply.msg.payload, reply.msg.payload_len, "id", &r) || tr_mpr_str(&r, &id, &n) ||
            n != ST_UUID_STR)
            _exit(5);
        char line[64];
        int ll = snprintf(line, sizeof line, "%.*s %d %d\n", (int)n, id, g->round, i);
        tr_reply_close(&reply);
        if (write(g->fd, line, (size_t)ll) != ll) /* < PIPE_BUF: atomic */
            _exit(6);
    }
    return NULL;
}

/* The child: three threads ingest until killed (so the writer batches
 * several documents per commit and the kill often lands mid-batch). */
static _Noreturn void child(const char *dir, int fd, int round)
{
    tr_log_set_level(TR_LOG_ERROR);
    tr_system_t *sys;
    store_config_t cfg = config(dir);
    store_t *s;
    char err[512];
    if (tr_system_new(NULL, &sys) || store_start(sys, &cfg, &s, err, sizeof err))
        _exit(3);
    ingester_t g[3];
    pthread_t t[3];
    for (int k = 0; k < 3; k++) {
        g[k] = (ingester_t){sys, fd, round, k, 3};
        pthread_create(&t[k], NULL, ingest, &g[k]);
    }
    pthread_join(t[0], NULL);
    _exit(7);
}

typedef struct ack {
    char id[ST_UUID_STR + 1];
    int round, i;
} ack_t;

static uint32_t rnd32(void)
{
    uint32_t x;
    cr_assert_eq(getrandom(&x, sizeof x, 0), (ssize_t)sizeof x);
    return x;
}

Test(store_crash, acknowledged_documents_survive_kill_9, .timeout = 600)
{
    char *dir = tu_tmpdir();
    ack_t *acks = calloc(4096, sizeof *acks);
    size_t nacks = 0;
    char *content = malloc(16384);
    for (int round = 0; round < ROUNDS; round++) {
        uint32_t seed = rnd32();
        int kill_after = 2 + (int)(seed % 30);  /* acks to wait for */
        unsigned extra_us = (seed >> 8) % 4000; /* then a little more */
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child(dir, fds[1], round);
        }
        close(fds[1]);
        FILE *in = fdopen(fds[0], "r");
        char line[128];
        int seen = 0;
        bool killed = false;
        while (fgets(line, sizeof line, in)) {
            ack_t a;
            cr_assert_eq(sscanf(line, "%36s %d %d", a.id, &a.round, &a.i), 3, "bad line %s", line);
            acks[nacks++] = a;
            if (++seen == kill_after && !killed) {
                usleep(extra_us);
                kill(pid, SIGKILL);
                killed = true; /* keep reading: lines written before the kill still count */
            }
        }
        fclose(in);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d (seed %u): the child ended on its own (status %d) after %d acks", round, seed, status,
                  seen);

        /* reopen: everything acknowledged is there, whole; nothing is half there */
        char err[512];
        store_config_t cfg = config(dir);
        store_t *s;
        cr_assert_eq(store_open(&cfg, &s, err, sizeof err), 0, "round %d (seed %u): %s", round, seed, err);
        st_db_t *db = store_db(s);
        char msg[512];
        st_check_report_t rep;
        cr_assert_eq(st_check(db, &rep, msg, sizeof msg), 0, "round %d (seed %u): %s", round, seed, msg);
        cr_assert_geq(rep.docs, nacks, "round %d (seed %u)", round, seed);
        cr_log_info("round %d (seed %u): killed after %d acks (+%u us); %zu acknowledged in all, store holds %llu "
                    "documents, %llu chunks",
                    round, seed, seen, extra_us, nacks, (unsigned long long)rep.docs, (unsigned long long)rep.chunks);
        st_reader_t *r;
        cr_assert_eq(st_reader_new(db, NULL, &r), 0);
        cr_assert_eq(st_reader_begin(r), 0);
        for (size_t k = 0; k < nacks; k++) {
            uint8_t id[16];
            cr_assert_eq(st_uuid_parse(acks[k].id, ST_UUID_STR, id), 0);
            const char *owner = acks[k].i % 2 ? "owner-a" : "owner-b";
            st_doc_view_t d;
            const void *p;
            size_t len;
            int rc = st_reader_content(r, owner, strlen(owner), id, &d, &p, &len);
            cr_assert_eq(rc, 0, "round %d (seed %u): acknowledged %s (%d.%d) is missing", round, seed, acks[k].id,
                         acks[k].round, acks[k].i);
            size_t want = make_content(acks[k].round, acks[k].i, content, 16384);
            cr_assert_eq(len, want);
            cr_assert_eq(memcmp(p, content, len), 0, "content of %s differs", acks[k].id);
        }
        st_reader_end(r);
        st_reader_destroy(&r);
        store_close(&s);
    }
    cr_assert_gt(nacks, 0);
    free(content);
    free(acks);
    tu_rmrf(dir);
    free(dir);
}
