/* test_backup.c - the pieces of backup and restore that need no database:
 * the manifest (round trip, every refusal, verification of damaged
 * files), the password's redaction and the URL taken apart for pg_dump,
 * the data_dir lock, and the store's copy / check / swap, including copies
 * taken while another process keeps writing (each must be a consistent
 * store). The whole flow with Postgres is tools/check-backup.sh (test
 * "backup"). */
#include "backup/backup.h"
#include "backup/datalock.h"
#include "backup/manifest.h"
#include "backup/pgtool.h"
#include "store/store_backup.h"
#include "store_testutil.h"
#include "tr.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

TestSuite(backup, .timeout = 120);

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    cr_assert_eq(fclose(f), 0);
}

static void flip_byte(const char *path, long at)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char c;
    cr_assert_eq(pread(fd, &c, 1, at), 1);
    c ^= 0x01;
    cr_assert_eq(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* manifest                                                            */

static bk_manifest_t sample(void)
{
    bk_manifest_t m;
    memset(&m, 0, sizeof m);
    m.format_version = BK_FORMAT_VERSION;
    snprintf(m.troupe_version, sizeof m.troupe_version, "0.1.0");
    snprintf(m.created, sizeof m.created, "2025-01-31T12:00:00Z");
    snprintf(m.database, sizeof m.database, "troupe");
    m.migration_version = 2;
    m.store_present = true;
    m.store_schema_version = 1;
    m.store_docs = 12;
    m.store_chunks = 40;
    m.has_embedder = true;
    snprintf(m.emb_name, sizeof m.emb_name, "builtin");
    snprintf(m.emb_params, sizeof m.emb_params, "hash=v1 \"quoted\" \\ back");
    m.emb_dim = 384;
    m.nfiles = 2;
    snprintf(m.files[0].name, sizeof m.files[0].name, BK_DUMP_NAME);
    m.files[0].size = 13734;
    snprintf(m.files[0].sha256, 65, "%s", "9279ceb10daeba14404e451aefcb62a9e52f1a13648f28ec1c0494ca652652c8");
    snprintf(m.files[1].name, sizeof m.files[1].name, BK_STORE_NAME);
    m.files[1].size = (uint64_t)1 << 40;
    snprintf(m.files[1].sha256, 65, "%s", "0000000000000000000000000000000000000000000000000000000000000000");
    return m;
}

Test(backup, manifest_round_trips)
{
    bk_manifest_t m = sample(), back;
    char *text;
    cr_assert_eq(bk_manifest_dump(&m, &text), 0);
    char err[512];
    cr_assert_eq(bk_manifest_parse(text, strlen(text), &back, err, sizeof err), 0, "%s\n%s", err, text);
    cr_assert_eq(memcmp(&m, &back, sizeof m), 0, "parsed manifest differs:\n%s", text);
    free(text);

    /* without a store: a note instead, and no store.mdb */
    m.store_present = false;
    m.has_embedder = false;
    m.store_schema_version = 0;
    m.store_docs = m.store_chunks = 0;
    memset(m.emb_name, 0, sizeof m.emb_name);
    memset(m.emb_params, 0, sizeof m.emb_params);
    m.emb_dim = 0;
    snprintf(m.store_note, sizeof m.store_note, "no store at /x/store (nothing has been stored yet)");
    m.nfiles = 1;
    memset(&m.files[1], 0, sizeof m.files[1]);
    cr_assert_eq(bk_manifest_dump(&m, &text), 0);
    cr_assert_eq(bk_manifest_parse(text, strlen(text), &back, err, sizeof err), 0, "%s", err);
    cr_assert_eq(memcmp(&m, &back, sizeof m), 0, "parsed manifest differs:\n%s", text);
    free(text);
}

Test(backup, manifest_dump_refuses_a_bad_name)
{
    bk_manifest_t m = sample();
    snprintf(m.files[0].name, sizeof m.files[0].name, "../etc/passwd");
    char *text = (char *)1;
    cr_assert_eq(bk_manifest_dump(&m, &text), TR_EINVAL);
    cr_assert_null(text);
}

Test(backup, file_names)
{
    cr_assert(bk_name_valid("postgres.dump"));
    cr_assert(bk_name_valid("store.mdb"));
    cr_assert(bk_name_valid("a_b-c.9"));
    const char *bad[] = {"", ".", "..", ".hidden", "a/b", "../x", "/abs", "a\\b", "sp ace", "ä.mdb", "new\nline", NULL};
    for (int i = 0; bad[i]; i++)
        cr_assert_not(bk_name_valid(bad[i]), "%s", bad[i]);
    char longname[BK_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_assert_not(bk_name_valid(longname));
    longname[BK_NAME_MAX] = '\0';
    cr_assert(bk_name_valid(longname));
}

/* the sample's JSON with one substitution (from -> to, first occurrence) */
static int parse_edited(const char *from, const char *to, char *err, size_t errcap)
{
    bk_manifest_t m = sample(), out;
    char *text;
    cr_assert_eq(bk_manifest_dump(&m, &text), 0);
    char *at = strstr(text, from);
    cr_assert_not_null(at, "'%s' not in\n%s", from, text);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *edited = malloc(n);
    cr_assert_not_null(edited);
    snprintf(edited, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    free(text);
    memset(&out, 0x5a, sizeof out);
    err[0] = '\0';
    int rc = bk_manifest_parse(edited, strlen(edited), &out, err, errcap);
    free(edited);
    if (rc) {
        bk_manifest_t zero;
        memset(&zero, 0, sizeof zero);
        cr_assert_eq(memcmp(&out, &zero, sizeof out), 0, "a refused manifest is handed out zeroed");
        cr_assert(err[0], "a refusal says why");
    }
    return rc;
}

Test(backup, manifest_refusals_name_the_key)
{
    static const struct {
        const char *from, *to, *says;
        int rc;
    } cases[] = {
        {"\"format\": \"troupe-backup\"", "\"format\": \"tar\"", "format", TR_EINVAL},
        {"\"format\": \"troupe-backup\",", "", "format is missing", TR_EINVAL},
        {"\"format_version\": 1", "\"format_version\": 2", "format version 2 is not supported", TR_EVERSION},
        {"\"format_version\": 1", "\"format_version\": 0", "format version 0", TR_EVERSION},
        {"\"format_version\": 1", "\"format_version\": \"1\"", "format_version must be an integer", TR_EINVAL},
        {"\"format_version\": 1", "\"format_version\": 1.0", "format_version must be an integer", TR_EINVAL},
        {"\"troupe_version\": \"0.1.0\",", "", "troupe_version is missing", TR_EINVAL},
        {"\"troupe_version\": \"0.1.0\"", "\"troupe_version\": 1", "troupe_version must be a string", TR_EINVAL},
        {"\"troupe_version\": \"0.1.0\"", "\"troupe_version\": \"0123456789012345678901234567890123456789\"",
         "troupe_version is longer", TR_EINVAL},
        {"2025-01-31T12:00:00Z", "2025-01-31 12:00:00", "created", TR_EINVAL},
        {"2025-01-31T12:00:00Z", "2025-01-31T12:00:00+01:00", "created", TR_EINVAL},
        {"\"migration_version\": 2", "\"migration_version\": -1", "database.migration_version is out of range",
         TR_EINVAL},
        {"\"migration_version\": 2", "\"migration_version\": null", "database.migration_version must be", TR_EINVAL},
        {"\"name\": \"troupe\"", "\"name\": \"tro\\u0000upe\"", "not valid JSON", TR_EINVAL},
        {"\"present\": true", "\"present\": 1", "store.present", TR_EINVAL},
        {"\"present\": true", "\"present\": false", "store.present is false but files lists store.mdb", TR_EINVAL},
        {"\"documents\": 12", "\"documents\": -12", "store.documents is out of range", TR_EINVAL},
        {"\"dim\": 384", "\"dim\": 70000", "store.embedder.dim", TR_EINVAL},
        {"\"embedder\": {", "\"embedder\": 7, \"x\": {", "store.embedder must be an object", TR_EINVAL},
        {"\"name\": \"postgres.dump\"", "\"name\": \"../postgres.dump\"", "not a plain file name", TR_EINVAL},
        {"\"name\": \"postgres.dump\"", "\"name\": \"/etc/passwd\"", "not a plain file name", TR_EINVAL},
        {"\"name\": \"postgres.dump\"", "\"name\": \"sub\\\\postgres.dump\"", "not a plain file name", TR_EINVAL},
        {"\"name\": \"postgres.dump\"", "\"name\": \".postgres.dump\"", "not a plain file name", TR_EINVAL},
        {"\"name\": \"postgres.dump\"", "\"name\": \"notes.txt\"", "format version 1 does not have", TR_EINVAL},
        {"\"name\": \"postgres.dump\"", "\"name\": \"store.mdb\"", "store.mdb is listed twice", TR_EINVAL},
        {"\"size\": 13734", "\"size\": -1", "files[0].size is out of range", TR_EINVAL},
        {"\"size\": 13734", "\"size\": 9007199254740993", "files[0].size is out of range", TR_EINVAL},
        {"\"size\": 13734", "\"size\": 13734.5", "files[0].size must be an integer", TR_EINVAL},
        {"9279ceb10d", "9279CEB10D", "files[0].sha256 must be 64 lower-case hex", TR_EINVAL},
        {"9279ceb10d", "9279ceb1", "files[0].sha256", TR_EINVAL},
        {"\"files\": [", "\"files\": {\"a\": 1}, \"x\": [", "files must be an array", TR_EINVAL},
        {"\"files\": [", "\"files\": [7, ", "files[0] must be an object", TR_EINVAL},
        {"{\n  \"format\"", "[{\n  \"format\"", "not valid JSON", TR_EINVAL},
        {"\"database\": {", "\"database\": {\"name\": \"x\", ", "not valid JSON", TR_EINVAL}, /* duplicate key */
    };
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = parse_edited(cases[i].from, cases[i].to, err, sizeof err);
        cr_assert_eq(rc, cases[i].rc, "case %zu (%s): rc %d, %s", i, cases[i].to, rc, err);
        cr_assert(strstr(err, cases[i].says), "case %zu: '%s' does not say '%s'", i, err, cases[i].says);
    }
    /* unknown keys are ignored (a later minor addition) */
    cr_assert_eq(parse_edited("\"created\"", "\"comment\": \"hi\", \"created\"", err, sizeof err), 0, "%s", err);
}

Test(backup, manifest_file_list_limits)
{
    char err[512];
    /* postgres.dump is required */
    const char *no_dump = "{\"format\":\"troupe-backup\",\"format_version\":1,\"troupe_version\":\"x\","
                          "\"created\":\"2025-01-31T12:00:00Z\",\"database\":{\"name\":\"d\",\"migration_version\":1},"
                          "\"store\":{\"present\":false},\"files\":[]}";
    bk_manifest_t m;
    cr_assert_eq(bk_manifest_parse(no_dump, strlen(no_dump), &m, err, sizeof err), TR_EINVAL);
    cr_assert(strstr(err, "files must list 1.."), "%s", err);
    /* more than BK_FILES_MAX entries */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "%.*s", (int)(strlen(no_dump) - 2), no_dump);
    for (int i = 0; i <= BK_FILES_MAX; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s{\"name\":\"f%d\",\"size\":1,\"sha256\":\"%064d\"}",
                              i ? "," : "", i, 0);
    snprintf(big + n, sizeof big - n, "]}");
    cr_assert_eq(bk_manifest_parse(big, strlen(big), &m, err, sizeof err), TR_EINVAL);
    cr_assert(strstr(err, "files must list"), "%s", err);
    /* too big as a whole */
    size_t huge = BK_MANIFEST_MAX + 1;
    char *h = malloc(huge);
    cr_assert_not_null(h);
    memset(h, ' ', huge);
    cr_assert_eq(bk_manifest_parse(h, huge, &m, err, sizeof err), TR_ETOOBIG);
    free(h);
    /* store.present without store.mdb */
    bk_manifest_t s = sample();
    s.nfiles = 1;
    char *text;
    cr_assert_eq(bk_manifest_dump(&s, &text), 0);
    cr_assert_eq(bk_manifest_parse(text, strlen(text), &m, err, sizeof err), TR_EINVAL);
    cr_assert(strstr(err, "store.present is true but files does not list store.mdb"), "%s", err);
    free(text);
}

/* ---- verification of the files ---- */

#define DUMP_TEXT "PGDMP pretend dump, long enough to flip a byte in the middle!"

static char *backup_dir_with_files(bk_manifest_t *m)
{
    char *d = tu_tmpdir();
    char p[600];
    snprintf(p, sizeof p, "%s/%s", d, BK_DUMP_NAME);
    write_file(p, DUMP_TEXT);
    snprintf(p, sizeof p, "%s/%s", d, BK_STORE_NAME);
    write_file(p, "pretend store");
    memset(m, 0, sizeof *m);
    char err[512];
    cr_assert_eq(bk_manifest_add_file(m, d, BK_DUMP_NAME, err, sizeof err), 0, "%s", err);
    cr_assert_eq(bk_manifest_add_file(m, d, BK_STORE_NAME, err, sizeof err), 0, "%s", err);
    return d;
}

Test(backup, verify_accepts_intact_files_and_names_a_damaged_one)
{
    bk_manifest_t m;
    char *d = backup_dir_with_files(&m), err[1024], p[600];
    cr_assert_eq(m.files[0].size, strlen(DUMP_TEXT));
    cr_assert_eq(bk_manifest_verify(&m, d, err, sizeof err), 0, "%s", err);

    snprintf(p, sizeof p, "%s/%s", d, BK_DUMP_NAME);
    flip_byte(p, 30);
    cr_assert_eq(bk_manifest_verify(&m, d, err, sizeof err), TR_EINVAL);
    cr_assert(strstr(err, "postgres.dump does not match its SHA-256"), "%s", err);
    flip_byte(p, 30);
    cr_assert_eq(bk_manifest_verify(&m, d, err, sizeof err), 0, "%s", err);

    cr_assert_eq(truncate(p, 10), 0);
    cr_assert_eq(bk_manifest_verify(&m, d, err, sizeof err), TR_EINVAL);
    cr_assert(strstr(err, "postgres.dump is 10 bytes but the manifest says 61"), "%s", err);

    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(bk_manifest_verify(&m, d, err, sizeof err), TR_ENOPROC);
    cr_assert(strstr(err, "postgres.dump"), "%s", err);

    /* a link or a directory in its place is not the file */
    snprintf(p, sizeof p, "%s/%s", d, BK_STORE_NAME);
    char q[600];
    snprintf(q, sizeof q, "%s/%s", d, BK_DUMP_NAME);
    cr_assert_eq(symlink(p, q), 0);
    cr_assert_neq(bk_manifest_verify(&m, d, err, sizeof err), 0);
    cr_assert(strstr(err, "postgres.dump"), "%s", err);
    cr_assert_eq(unlink(q), 0);
    cr_assert_eq(mkdir(q, 0700), 0);
    cr_assert_eq(bk_manifest_verify(&m, d, err, sizeof err), TR_EINVAL);
    cr_assert(strstr(err, "postgres.dump is not a regular file"), "%s", err);
    tu_rmrf(d);
    free(d);
}

Test(backup, load_refuses_a_missing_or_oversized_manifest)
{
    char *d = tu_tmpdir(), err[1024], p[600];
    bk_manifest_t m;
    cr_assert_eq(bk_manifest_load(d, &m, err, sizeof err), TR_ENOPROC);
    cr_assert(strstr(err, "manifest.json") && strstr(err, "incomplete"), "%s", err);
    snprintf(p, sizeof p, "%s/%s", d, BK_MANIFEST_NAME);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, BK_MANIFEST_MAX + 1), 0);
    close(fd);
    cr_assert_eq(bk_manifest_load(d, &m, err, sizeof err), TR_ETOOBIG);
    cr_assert(strstr(err, "more than"), "%s", err);
    write_file(p, "{\"format\": \"troupe-backup\", \"format_version\": 3}");
    cr_assert_eq(bk_manifest_load(d, &m, err, sizeof err), TR_EVERSION);
    cr_assert(strstr(err, "manifest.json: backup format version 3"), "%s", err);
    tu_rmrf(d);
    free(d);
}

/* ------------------------------------------------------------------ */
/* the password                                                        */

Test(backup, redaction)
{
    char t[128];
    snprintf(t, sizeof t, "pw s3cret! and again s3cret!, end");
    bk_redact(t, "s3cret!");
    cr_assert_str_eq(t, "pw *** and again ***, end");
    snprintf(t, sizeof t, "ab ab");
    bk_redact(t, "ab");
    cr_assert_str_eq(t, "** **");
    snprintf(t, sizeof t, "unchanged");
    bk_redact(t, "");
    bk_redact(t, NULL);
    cr_assert_str_eq(t, "unchanged");

    char pw[64];
    bk_url_password("postgresql://troupe:hunter2@127.0.0.1:5432/troupe", pw, sizeof pw);
    cr_assert_str_eq(pw, "hunter2");
    bk_url_password("postgresql://troupe@127.0.0.1/troupe", pw, sizeof pw);
    cr_assert_str_eq(pw, "");
    bk_url_password("postgres://host/db?user=a", pw, sizeof pw);
    cr_assert_str_eq(pw, "");
    bk_url_password("host=db user=x password=plain dbname=t", pw, sizeof pw);
    cr_assert_str_eq(pw, "plain");
    bk_url_password("host=db password = 'with space' dbname=t", pw, sizeof pw);
    cr_assert_str_eq(pw, "with space");
    bk_url_password("host=db oldpassword=x", pw, sizeof pw);
    cr_assert_str_eq(pw, "");
}

Test(backup, url_taken_apart_keeps_the_password_out_of_argv)
{
    bk_pg_target_t t;
    char err[512];
    cr_assert_eq(
        bk_pg_target_parse("postgresql://troupe:p%40ss'w\\rd@127.0.0.1:54329/tr?sslmode=disable", &t, err, sizeof err),
        0, "%s", err);
    cr_assert_str_eq(t.password, "p@ss'w\\rd");
    cr_assert_null(strstr(t.conninfo, "ss'w"), "%s", t.conninfo);
    cr_assert_null(strstr(t.conninfo, "password"), "%s", t.conninfo);
    cr_assert(strstr(t.conninfo, "host='127.0.0.1'") && strstr(t.conninfo, "port='54329'") &&
                  strstr(t.conninfo, "dbname='tr'") && strstr(t.conninfo, "sslmode='disable'"),
              "%s", t.conninfo);
    cr_assert_str_eq(t.display, "troupe@127.0.0.1:54329/tr");
    cr_assert_str_eq(t.dbname, "tr");
    bk_pg_target_free(&t);
    cr_assert_null(t.password);
    bk_pg_target_free(&t); /* twice is harmless */

    /* quotes and backslashes in other values are escaped for libpq */
    cr_assert_eq(bk_pg_target_parse("host=h dbname='it\\'s' user=u", &t, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(t.conninfo, "dbname='it\\'s'"), "%s", t.conninfo);
    cr_assert_null(t.password);
    bk_pg_target_free(&t);

    /* a URL libpq refuses: the message does not quote the password */
    int rc = bk_pg_target_parse("postgresql://u:topsecret@h:5432/db?bogus=1", &t, err, sizeof err);
    cr_assert_eq(rc, TR_EINVAL);
    cr_assert(strstr(err, "database_url cannot be parsed"), "%s", err);
    cr_assert_null(strstr(err, "topsecret"), "%s", err);
    rc = bk_pg_target_parse("host=h password=topsecret%zz junk", &t, err, sizeof err);
    cr_assert_eq(rc, TR_EINVAL);
    cr_assert_null(strstr(err, "topsecret"), "%s", err);
}

Test(backup, a_missing_tool_is_named_with_its_package)
{
    bk_pg_target_t t;
    char err[1024];
    cr_assert_eq(bk_pg_target_parse("postgresql://u:pw@127.0.0.1:1/db", &t, err, sizeof err), 0);
    cr_assert_eq(setenv("PATH", "/nonexistent", 1), 0);
    char *d = tu_tmpdir(), out[600];
    snprintf(out, sizeof out, "%s/x.dump", d);
    cr_assert_eq(bk_pg_dump(&t, out, err, sizeof err), TR_ENOPROC);
    cr_assert(strstr(err, "pg_dump not found in PATH") && strstr(err, "postgresql-client"), "%s", err);
    cr_assert_eq(bk_pg_restore(&t, out, err, sizeof err), TR_ENOPROC);
    cr_assert(strstr(err, "pg_restore not found"), "%s", err);
    bk_pg_target_free(&t);
    tu_rmrf(d);
    free(d);
}

Test(backup, a_failing_tool_is_quoted_without_the_password)
{
    if (access("/usr/bin/pg_dump", X_OK) != 0)
        cr_skip_test("pg_dump is not installed");
    /* port 1 on loopback: refused at once, and pg_dump says where it tried */
    bk_pg_target_t t;
    char err[2048];
    cr_assert_eq(bk_pg_target_parse("postgresql://u:Sup3rSecret@127.0.0.1:1/db", &t, err, sizeof err), 0);
    char *d = tu_tmpdir(), out[600];
    snprintf(out, sizeof out, "%s/x.dump", d);
    cr_assert_eq(bk_pg_dump(&t, out, err, sizeof err), TR_EREMOTE);
    cr_assert(strstr(err, "pg_dump failed (exit 1) on u@127.0.0.1:1/db"), "%s", err);
    cr_assert_null(strstr(err, "Sup3rSecret"), "%s", err);
    bk_pg_target_free(&t);
    tu_rmrf(d);
    free(d);
}

/* ------------------------------------------------------------------ */
/* the data_dir lock                                                   */

Test(backup, one_holder_of_the_data_dir_lock)
{
    char *d = tu_tmpdir(), err[512], sub[600];
    snprintf(sub, sizeof sub, "%s/new/data", d); /* created on the way */
    int a, b;
    cr_assert_eq(bk_lock_acquire(sub, &a, err, sizeof err), 0, "%s", err);
    char want[64];
    snprintf(want, sizeof want, "(pid %ld)", (long)getpid());
    /* another open of the file (here: the same process) is refused */
    cr_assert_eq(bk_lock_acquire(sub, &b, err, sizeof err), TR_EEXIST);
    cr_assert_eq(b, -1);
    cr_assert(strstr(err, want) && strstr(err, "troupe.lock") && strstr(err, "one troupe per data_dir"), "%s", err);
    /* a child process is refused too, and gets the lock once we let go */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int c;
        char e[512];
        _exit(bk_lock_acquire(sub, &c, e, sizeof e) == TR_EEXIST ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child was not refused");
    bk_lock_release(&a);
    cr_assert_eq(a, -1);
    bk_lock_release(&a); /* harmless */
    /* a holder that dies without releasing leaves no stale lock */
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int c;
        char e[512];
        if (bk_lock_acquire(sub, &c, e, sizeof e))
            _exit(1);
        kill(getpid(), SIGKILL);
    }
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st));
    cr_assert_eq(bk_lock_acquire(sub, &b, err, sizeof err), 0, "%s", err);
    bk_lock_release(&b);
    /* a data_dir that cannot be created */
    snprintf(sub, sizeof sub, "%s/file", d);
    write_file(sub, "x");
    snprintf(sub, sizeof sub, "%s/file/data", d);
    cr_assert_eq(bk_lock_acquire(sub, &b, err, sizeof err), TR_ESYS);
    cr_assert(strstr(err, "cannot be created"), "%s", err);
    tu_rmrf(d);
    free(d);
}

/* ------------------------------------------------------------------ */
/* the store                                                           */

static void fill_store(const char *data_dir, int docs)
{
    tu_engine_t e;
    char err[256];
    cr_assert_eq(tu_engine_open(&e, data_dir, 32, false, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < docs; i++) {
        char text[256];
        snprintf(text, sizeof text, "# Note %d\n\nPumps need grease every %d hours; the quokka valve is number %d.\n",
                 i, 100 + i, i);
        cr_assert_eq(tu_put(&e, "owner-a", "note", "text/markdown", text, NULL, 0, NULL), 0);
    }
    tu_engine_close(&e);
}

/* Opens data_dir's store, checks it through and counts what search finds. */
static int check_store(const char *data_dir, int want_docs)
{
    tu_engine_t e;
    char err[256];
    cr_assert_eq(tu_engine_open(&e, data_dir, 32, false, err, sizeof err), 0, "%s", err);
    tu_check(e.db);
    st_db_counts_t c;
    cr_assert_eq(st_db_counts(e.db, &c), 0);
    if (want_docs >= 0)
        cr_assert_eq(c.docs, (uint64_t)want_docs);
    int hits = want_docs > 0 ? tu_search(&e, "owner-a", "quokka valve", ST_MODE_KEYWORD, 5, NULL, 0, NULL, NULL) : 0;
    tu_engine_close(&e);
    return want_docs >= 0 ? hits : (int)c.docs;
}

Test(backup, store_copy_check_and_swap)
{
    char *src = tu_tmpdir(), *dst = tu_tmpdir(), err[1024], file[600], aside[1400], stage[1400];
    snprintf(file, sizeof file, "%s/copy.mdb", src);
    store_backup_info_t info;
    /* no store yet: said so, nothing written */
    cr_assert_eq(store_backup(src, file, &info, err, sizeof err), TR_ENOPROC);
    cr_assert(strstr(err, "no store at"), "%s", err);
    cr_assert_neq(access(file, F_OK), 0);

    fill_store(src, 25);
    cr_assert_eq(store_backup(src, file, &info, err, sizeof err), 0, "%s", err);
    cr_assert_eq(info.docs, 25);
    cr_assert_gt(info.chunks, 0);
    cr_assert_eq(info.schema_version, ST_SCHEMA_VERSION);
    cr_assert(info.has_embedder);
    cr_assert_str_eq(info.emb_name, "hash-v1");
    cr_assert_eq(info.dim, 32);
    struct stat sb;
    cr_assert_eq(stat(file, &sb), 0);
    cr_assert_eq((uint64_t)sb.st_size, info.bytes);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    /* never over an existing file */
    cr_assert_eq(store_backup(src, file, &info, err, sizeof err), TR_EEXIST);

    store_backup_info_t again;
    cr_assert_eq(store_backup_inspect(file, &again, err, sizeof err), 0, "%s", err);
    cr_assert_eq(again.docs, 25);

    /* into an empty data_dir: nothing to move aside */
    cr_assert_eq(store_restore_prepare(dst, file, stage, sizeof stage, err, sizeof err), 0, "%s", err);
    cr_assert_eq(store_restore_commit(dst, stage, aside, sizeof aside, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(aside, "");
    cr_assert_eq(check_store(dst, 25), 5);

    /* over an existing store: it is moved aside, with its data */
    fill_store(dst, 3);
    cr_assert_eq(store_restore_prepare(dst, file, stage, sizeof stage, err, sizeof err), 0, "%s", err);
    cr_assert_eq(store_restore_commit(dst, stage, aside, sizeof aside, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(aside, "/store.before-restore-"), "%s", aside);
    cr_assert_eq(access(stage, F_OK), -1, "the staging directory is gone");
    cr_assert_eq(check_store(dst, 25), 5);
    char moved[1500];
    snprintf(moved, sizeof moved, "%s/data.mdb", aside);
    cr_assert_eq(access(moved, F_OK), 0, "the previous store is kept");

    /* a backup without a store: the current one is moved aside, none left */
    char aside2[1400];
    cr_assert_eq(store_restore_commit(dst, NULL, aside2, sizeof aside2, err, sizeof err), 0, "%s", err);
    cr_assert(aside2[0] && strcmp(aside, aside2) != 0, "%s vs %s", aside, aside2);
    char cur[700];
    snprintf(cur, sizeof cur, "%s/store", dst);
    cr_assert_eq(access(cur, F_OK), -1);
    tu_rmrf(src);
    tu_rmrf(dst);
    free(src);
    free(dst);
}

Test(backup, a_damaged_copy_is_refused_before_anything_moves)
{
    char *src = tu_tmpdir(), err[1024], file[600], stage[1400];
    snprintf(file, sizeof file, "%s/garbage.mdb", src);
    write_file(file, "this is not an LMDB file at all, not even close to one");
    store_backup_info_t info;
    cr_assert_eq(store_backup_inspect(file, &info, err, sizeof err), TR_ESYS);
    cr_assert(strstr(err, "is not a readable LMDB store"), "%s", err);
    fill_store(src, 2);
    cr_assert_eq(store_restore_prepare(src, file, stage, sizeof stage, err, sizeof err), TR_ESYS);
    cr_assert_str_eq(stage, "");
    /* the current store is untouched and no staging directory is left */
    cr_assert_eq(check_store(src, 2), 2);
    char probe[700];
    snprintf(probe, sizeof probe, "%s/store.restoring-%ld", src, (long)getpid());
    cr_assert_eq(access(probe, F_OK), -1);
    tu_rmrf(src);
    free(src);
}

Test(backup, verify_cross_checks_the_store_copy)
{
    char *src = tu_tmpdir(), *bk = tu_tmpdir(), err[1024], file[600];
    fill_store(src, 4);
    snprintf(file, sizeof file, "%s/%s", bk, BK_STORE_NAME);
    store_backup_info_t info;
    cr_assert_eq(store_backup(src, file, &info, err, sizeof err), 0, "%s", err);
    snprintf(file, sizeof file, "%s/%s", bk, BK_DUMP_NAME);
    write_file(file, "PGDMP");
    bk_manifest_t m = sample();
    m.nfiles = 0;
    m.store_docs = 4;
    cr_assert_eq(bk_manifest_add_file(&m, bk, BK_DUMP_NAME, err, sizeof err), 0);
    cr_assert_eq(bk_manifest_add_file(&m, bk, BK_STORE_NAME, err, sizeof err), 0);
    char *text;
    cr_assert_eq(bk_manifest_dump(&m, &text), 0);
    snprintf(file, sizeof file, "%s/%s", bk, BK_MANIFEST_NAME);
    write_file(file, text);
    free(text);
    bk_manifest_t got;
    cr_assert_eq(bk_verify(bk, &got, err, sizeof err), 0, "%s", err);

    /* checksums that match but a document count that does not */
    m.store_docs = 5;
    cr_assert_eq(bk_manifest_dump(&m, &text), 0);
    write_file(file, text);
    free(text);
    cr_assert_eq(bk_verify(bk, &got, err, sizeof err), TR_EINVAL);
    cr_assert(strstr(err, "holds 4 documents but the manifest says 5"), "%s", err);

    /* a database schema newer than this binary knows */
    m.store_docs = 4;
    m.migration_version = 9999;
    cr_assert_eq(bk_manifest_dump(&m, &text), 0);
    write_file(file, text);
    free(text);
    cr_assert_eq(bk_verify(bk, &got, err, sizeof err), TR_EVERSION);
    cr_assert(strstr(err, "migration 9999"), "%s", err);

    /* not a directory, no directory */
    cr_assert_eq(bk_verify(file, &got, err, sizeof err), TR_EINVAL);
    cr_assert(strstr(err, "is not a directory"), "%s", err);
    cr_assert_eq(bk_verify("/nonexistent/backup", &got, err, sizeof err), TR_ESYS);
    cr_assert(strstr(err, "cannot read the backup directory /nonexistent/backup"), "%s", err);
    tu_rmrf(src);
    tu_rmrf(bk);
    free(src);
    free(bk);
}

/* A writer in another process commits documents without pause while
 * copies are taken: each copy is one committed state, complete and
 * consistent (st_check walks docs, chunks, postings, vectors, graphs). */
Test(backup, copies_taken_during_writes_are_consistent)
{
    char *src = tu_tmpdir(), err[1024];
    fill_store(src, 1); /* created (and closed) before the writer starts */
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* gone with the test, whatever way the test ends */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
            _exit(4);
        /* nothing of the test runner's plumbing: this process only writes */
        for (int fd = 3; fd < 1024; fd++)
            if (fd != ready[1])
                close(fd);
        tu_engine_t e;
        char e2[256];
        if (tu_engine_open(&e, src, 32, false, e2, sizeof e2))
            _exit(1);
        for (int i = 0;; i++) {
            char text[128];
            snprintf(text, sizeof text, "Document %d about the quokka valve and pump number %d.", i, i);
            if (tu_put(&e, "owner-a", "w", "text/plain", text, NULL, 0, NULL))
                _exit(2);
            if (i == 5 && write(ready[1], "r", 1) != 1)
                _exit(3);
        }
    }
    close(ready[1]);
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1, "the writer did not start");
    close(ready[0]);
    uint64_t last = 0;
    for (int round = 0; round < 4; round++) {
        char copy[600], dst[600], stage[1400], aside[1400];
        snprintf(copy, sizeof copy, "%s/copy-%d.mdb", src, round);
        store_backup_info_t info;
        cr_assert_eq(store_backup(src, copy, &info, err, sizeof err), 0, "%s", err);
        cr_assert_geq(info.docs, last, "copies go forward in time");
        last = info.docs;
        snprintf(dst, sizeof dst, "%s/restored-%d", src, round);
        cr_assert_eq(mkdir(dst, 0700), 0);
        cr_assert_eq(store_restore_prepare(dst, copy, stage, sizeof stage, err, sizeof err), 0, "%s", err);
        cr_assert_eq(store_restore_commit(dst, stage, aside, sizeof aside, err, sizeof err), 0, "%s", err);
        cr_assert_eq(check_store(dst, -1), (int)info.docs);
        tr_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFSIGNALED(st), "the writer stopped on its own (exit %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    cr_assert_gt(last, 6);
    tu_rmrf(src);
    free(src);
}

/* Run as root (a restore with sudo) into the troupe user's data_dir: what
 * the restore creates belongs to that user, or troupe could not open it. */
Test(backup, root_restore_keeps_the_data_dir_owner)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    char *src = tu_tmpdir(), *dst = tu_tmpdir(), err[1024], file[600], stage[1400], aside[1400], p[1500];
    fill_store(src, 2);
    snprintf(file, sizeof file, "%s/copy.mdb", src);
    store_backup_info_t info;
    cr_assert_eq(store_backup(src, file, &info, err, sizeof err), 0, "%s", err);
    uid_t uid = 65534; /* nobody */
    gid_t gid = 65534;
    cr_assert_eq(chown(dst, uid, gid), 0);
    int lock;
    cr_assert_eq(bk_lock_acquire(dst, &lock, err, sizeof err), 0, "%s", err);
    cr_assert_eq(store_restore_prepare(dst, file, stage, sizeof stage, err, sizeof err), 0, "%s", err);
    cr_assert_eq(store_restore_commit(dst, stage, aside, sizeof aside, err, sizeof err), 0, "%s", err);
    bk_lock_release(&lock);
    const char *made[] = {"troupe.lock", "store", "store/data.mdb", NULL};
    for (int i = 0; made[i]; i++) {
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dst, made[i]);
        cr_assert_eq(stat(p, &sb), 0, "%s", p);
        cr_assert_eq(sb.st_uid, uid, "%s belongs to uid %d", made[i], (int)sb.st_uid);
    }
    /* a backup by root of that store leaves its lock file to the owner too */
    snprintf(file, sizeof file, "%s/copy2.mdb", src);
    cr_assert_eq(store_backup(dst, file, &info, err, sizeof err), 0, "%s", err);
    struct stat sb;
    snprintf(p, sizeof p, "%s/store/lock.mdb", dst);
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_eq(sb.st_uid, uid);
    tu_rmrf(src);
    tu_rmrf(dst);
    free(src);
    free(dst);
}
