/* backup.c - taking, verifying and restoring backups (see backup.h): the
 * order of the steps and what is said about them; the work is done by the
 * store (store_backup.h), pgtool and manifest. */
#include "backup.h"
#include "common/fsutil.h"

#include "datalock.h"
#include "db/migrate.h"
#include "pgtool.h"
#include "store/store_backup.h"
#include "tr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATH_CAP 1200
#define PREFIX "troupe-backup-"

static void say(const bk_config_t *c, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(const bk_config_t *c, const char *what, const char *fmt, ...)
{
    if (!c->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(c->log, "%s: ", what);
    vfprintf(c->log, fmt, ap); /* Flawfinder: ignore (printf-like: format attribute) */
    fputc('\n', c->log);
    va_end(ap);
    fflush(c->log);
}

static const char *human(uint64_t b, char *buf, size_t cap)
{
    if (b < 1024)
        snprintf(buf, cap, "%llu B", (unsigned long long)b);
    else if (b < 1024 * 1024)
        snprintf(buf, cap, "%.1f KiB", (double)b / 1024);
    else if (b < (uint64_t)1024 * 1024 * 1024)
        snprintf(buf, cap, "%.1f MiB", (double)b / (1024 * 1024));
    else
        snprintf(buf, cap, "%.2f GiB", (double)b / (1024.0 * 1024 * 1024));
    return buf;
}

static double secs_since(uint64_t t0)
{
    return (double)(tr_mono_ms() - t0) / 1000.0;
}

/* a/b into out; -1 (ENAMETOOLONG) if it does not fit */
static int join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static int fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Removes a backup directory: the manifest first (a half-removed backup
 * must not look complete), then the files a backup has, then the directory
 * (which fails, and so stays, if it holds anything else). */
static int remove_backup(const char *dir)
{
    static const char *const names[] = {BK_MANIFEST_NAME, BK_STORE_NAME, BK_DUMP_NAME, NULL};
    char p[PATH_CAP + 32];
    for (int i = 0; names[i]; i++) {
        if (join(p, sizeof p, dir, names[i]) == 0)
            unlink(p);
    }
    return rmdir(dir);
}

static int write_manifest(const bk_manifest_t *m, const char *dir, char *err, size_t errcap)
{
    char *text;
    int rc = bk_manifest_dump(m, &text);
    if (rc) {
        snprintf(err, errcap, "manifest: %s", tr_strerror(rc));
        return rc;
    }
    char path[PATH_CAP + 32];
    int fd = join(path, sizeof path, dir, BK_MANIFEST_NAME) == 0
                 ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
                 : -1;
    size_t len = strlen(text), off = 0;
    rc = fd < 0 ? -1 : 0;
    while (!rc && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = -1;
        else
            off += (size_t)w;
    }
    if (!rc && (write(fd, "\n", 1) != 1 || fsync(fd) != 0))
        rc = -1;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    free(text);
    if (rc) {
        snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
        return TR_ESYS;
    }
    return 0;
}

/* Renames tmp to dir/troupe-backup-<ts>[-n], never over an existing name. */
static int publish(const char *tmp, const char *dir, const char *ts, char *path, size_t cap, char *err, size_t errcap)
{
    for (int i = 1; i < 100; i++) {
        if (i == 1)
            snprintf(path, cap, "%s/" PREFIX "%s", dir, ts);
        else
            snprintf(path, cap, "%s/" PREFIX "%s-%d", dir, ts, i);
        int rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
        if (rc != 0 && errno == EINVAL) { /* a file system without RENAME_NOREPLACE */
            struct stat sb;
            if (lstat(path, &sb) == 0) {
                errno = EEXIST;
                rc = -1;
            } else {
                rc = rename(tmp, path);
            }
        }
        if (rc == 0) {
            if (fsync_path(dir, true) == 0)
                return 0;
            snprintf(err, errcap, "cannot sync %s: %s", dir, strerror(errno));
            return TR_ESYS;
        }
        if (errno != EEXIST && errno != ENOTEMPTY) {
            snprintf(err, errcap, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
            return TR_ESYS;
        }
    }
    snprintf(err, errcap, "no free name for the backup in %s", dir);
    return TR_ESYS;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keeps the newest `keep` complete backups in dir (names sort by time). */
static void prune(const bk_config_t *c, const char *dir, int keep)
{
    DIR *d = opendir(dir);
    if (!d) {
        say(c, "backup", "retention: cannot list %s: %s (nothing removed)", dir, strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) != 0)
            continue;
        char mf[PATH_CAP + 300];
        struct stat sb;
        snprintf(mf, sizeof mf, "%s/%s/%s", dir, e->d_name, BK_MANIFEST_NAME);
        if (stat(mf, &sb) != 0) /* not complete: not ours to judge */
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **p = realloc(names, nc * sizeof *p);
            if (!p)
                break;
            names = p;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i + (size_t)keep < n; i++) {
        char p[PATH_CAP + 300];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (remove_backup(p) == 0)
            say(c, "backup", "retention: removed %s (keeping the newest %d)", p, keep);
        else
            say(c, "backup", "retention: %s not fully removed: %s", p, strerror(errno));
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Why the database could not be read, with libpq's own reason when it is
 * unreachable (redacted: it never quotes the password, but be sure). */
static void describe_db_error(const char *url, const bk_pg_target_t *t, int rc, char *err, size_t errcap)
{
    char why[400] = "";
    if (rc == TR_EUNAVAIL)
        bk_pg_ping(url, t, why, sizeof why);
    if (why[0])
        snprintf(err, errcap, "database %s is unreachable: %s", t->display, why);
    else
        snprintf(err, errcap, "database %s: cannot read its migration version: %s", t->display, tr_strerror(rc));
}

int bk_backup(const bk_config_t *c, const char *dir, int keep, char *path, size_t pathcap, char *err, size_t errcap)
{
    uint64_t t0 = tr_mono_ms();
    path[0] = '\0';
    char dirbuf[PATH_CAP], tmp[PATH_CAP + 96], file[PATH_CAP + 128], sz[32];
    if (!dir) {
        snprintf(dirbuf, sizeof dirbuf, "%s/backups", c->data_dir);
        dir = dirbuf;
    }
    if (strlen(dir) >= PATH_CAP - 64) {
        snprintf(err, errcap, "backup directory path is too long");
        return TR_EINVAL;
    }
    if (fs_mkdirs(dir) != 0) {
        snprintf(err, errcap, "cannot create the backup directory %s: %s", dir, strerror(errno));
        return TR_ESYS;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    bk_manifest_t m;
    memset(&m, 0, sizeof m);
    m.format_version = BK_FORMAT_VERSION;
    snprintf(m.troupe_version, sizeof m.troupe_version, "%s", TROUPE_VERSION);
    strftime(m.created, sizeof m.created, "%Y-%m-%dT%H:%M:%SZ", &tm);

    snprintf(tmp, sizeof tmp, "%s/.troupe-backup-%s.partial-%ld", dir, ts, (long)getpid());
    if (mkdir(tmp, 0700) != 0) {
        snprintf(err, errcap, "cannot create %s: %s", tmp, strerror(errno));
        return TR_ESYS;
    }
    bk_pg_target_t target;
    memset(&target, 0, sizeof target);
    db_t *db = NULL;
    int rc;

    /* the database must answer before anything is copied */
    if ((rc = bk_pg_target_parse(c->database_url, &target, err, errcap)))
        goto fail;
    snprintf(m.database, sizeof m.database, "%s", target.dbname);
    if (!(db = db_new(c->database_url))) {
        snprintf(err, errcap, "out of memory");
        rc = TR_ENOMEM;
        goto fail;
    }
    int v1 = migrate_applied(db);
    if (v1 < 0) {
        describe_db_error(c->database_url, &target, v1, err, errcap);
        rc = v1;
        goto fail;
    }

    /* the store first: every document in the copy has its owner in the dump */
    uint64_t t1 = tr_mono_ms();
    store_backup_info_t si;
    char serr[600];
    if (join(file, sizeof file, tmp, BK_STORE_NAME) != 0) {
        snprintf(err, errcap, "backup directory path is too long");
        rc = TR_EINVAL;
        goto fail;
    }
    rc = store_backup(c->data_dir, file, &si, serr, sizeof serr);
    if (rc == TR_ENOPROC) {
        /* a note: a long one is cut, not refused */
        size_t n = strnlen(serr, sizeof m.store_note - 1);
        memcpy(m.store_note, serr, n);
        m.store_note[n] = '\0';
        say(c, "backup", "store: %s: skipped (the manifest records it)", serr);
        rc = 0;
    } else if (rc) {
        snprintf(err, errcap, "store: %s", serr);
        goto fail;
    } else {
        m.store_present = true;
        m.store_schema_version = si.schema_version;
        m.store_docs = si.docs;
        m.store_chunks = si.chunks;
        m.has_embedder = si.has_embedder;
        snprintf(m.emb_name, sizeof m.emb_name, "%s", si.emb_name);
        snprintf(m.emb_params, sizeof m.emb_params, "%s", si.emb_params);
        m.emb_dim = si.dim;
        say(c, "backup", "store: %llu documents, %llu chunks, %s compacted copy in %.2f s", (unsigned long long)si.docs,
            (unsigned long long)si.chunks, human(si.bytes, sz, sizeof sz), secs_since(t1));
    }

    /* then the database */
    t1 = tr_mono_ms();
    if (join(file, sizeof file, tmp, BK_DUMP_NAME) != 0) {
        snprintf(err, errcap, "backup directory path is too long");
        rc = TR_EINVAL;
        goto fail;
    }
    if ((rc = bk_pg_dump(&target, file, err, errcap)))
        goto fail;
    int v2 = migrate_applied(db);
    if (v2 != v1) {
        snprintf(err, errcap,
                 "database %s: its migration version changed during the backup (%d, then %d): take "
                 "the backup again",
                 target.display, v1, v2);
        rc = TR_EINVAL;
        goto fail;
    }
    m.migration_version = v1;
    if (fsync_path(file, false) != 0) {
        snprintf(err, errcap, "cannot sync %s: %s", file, strerror(errno));
        rc = TR_ESYS;
        goto fail;
    }

    /* sizes and checksums are read back from disk */
    if ((rc = bk_manifest_add_file(&m, tmp, BK_DUMP_NAME, err, errcap)) ||
        (m.store_present && (rc = bk_manifest_add_file(&m, tmp, BK_STORE_NAME, err, errcap))))
        goto fail;
    say(c, "backup", "postgres: database %s at migration %d, %s dump in %.2f s", target.display, v1,
        human(bk_manifest_file(&m, BK_DUMP_NAME)->size, sz, sizeof sz), secs_since(t1));
    if ((rc = write_manifest(&m, tmp, err, errcap)))
        goto fail;
    if (fsync_path(tmp, true) != 0) {
        snprintf(err, errcap, "cannot sync %s: %s", tmp, strerror(errno));
        rc = TR_ESYS;
        goto fail;
    }
    if ((rc = publish(tmp, dir, ts, path, pathcap, err, errcap)))
        goto fail;
    db_destroy(&db);
    bk_pg_target_free(&target);
    say(c, "backup", "complete in %.2f s: %s", secs_since(t0), path);
    if (keep > 0)
        prune(c, dir, keep);
    return 0;

fail:
    db_destroy(&db);
    bk_pg_target_free(&target);
    if (remove_backup(tmp) == 0)
        say(c, "backup", "failed; the partial backup %s was removed", tmp);
    else
        say(c, "backup", "failed; the partial backup %s could not be removed: %s", tmp, strerror(errno));
    return rc;
}

int bk_verify(const char *dir, bk_manifest_t *m, char *err, size_t errcap)
{
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        snprintf(err, errcap, "cannot read the backup directory %s: %s", dir, strerror(errno));
        return TR_ESYS;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, errcap, "%s is not a directory (give the troupe-backup-... directory)", dir);
        return TR_EINVAL;
    }
    int rc = bk_manifest_load(dir, m, err, errcap);
    if (rc || (rc = bk_manifest_verify(m, dir, err, errcap)))
        return rc;
    if (m->store_present) {
        char file[PATH_CAP + 32], serr[600];
        snprintf(file, sizeof file, "%s/%s", dir, BK_STORE_NAME);
        store_backup_info_t si;
        if ((rc = store_backup_inspect(file, &si, serr, sizeof serr))) {
            snprintf(err, errcap, "%s", serr);
            return rc;
        }
        if (si.docs != m->store_docs) {
            snprintf(err, errcap, "%s holds %llu documents but the manifest says %llu: the backup is damaged", file,
                     (unsigned long long)si.docs, (unsigned long long)m->store_docs);
            return TR_EINVAL;
        }
    }
    if (m->migration_version > migrate_latest()) {
        snprintf(err, errcap,
                 "the backup's database is at migration %d but this troupe (%s) knows migrations up to %d: restore "
                 "it with troupe %s, which made it",
                 m->migration_version, TROUPE_VERSION, migrate_latest(), m->troupe_version);
        return TR_EVERSION;
    }
    return 0;
}

int bk_restore(const bk_config_t *c, const char *dir, bool yes, char *err, size_t errcap)
{
    uint64_t t0 = tr_mono_ms();
    bk_manifest_t m;
    int rc = bk_verify(dir, &m, err, errcap);
    if (rc)
        return rc;
    char sz[32];
    const bk_file_t *sf = bk_manifest_file(&m, BK_STORE_NAME);
    say(c, "restore", "backup %s verified (%.2f s): made %s by troupe %s; database at migration %d; %s%llu documents",
        dir, secs_since(t0), m.created, m.troupe_version, m.migration_version, m.store_present ? "store: " : "",
        (unsigned long long)m.store_docs);
    if (!m.store_present)
        say(c, "restore", "the backup has no store (%s)", m.store_note[0] ? m.store_note : "none was recorded");

    bk_pg_target_t target;
    if ((rc = bk_pg_target_parse(c->database_url, &target, err, errcap)))
        return rc;
    char cur[PATH_CAP];
    snprintf(cur, sizeof cur, "%s/store", c->data_dir);
    struct stat sb;
    bool have_cur = lstat(cur, &sb) == 0;
    if (!yes) {
        say(c, "restore",
            "would replace the troupe tables of database %s with the backup's "
            "(pg_restore --clean --if-exists --single-transaction --no-owner)",
            target.display);
        if (have_cur)
            say(c, "restore", "would move the store %s aside to %s/store.before-restore-<UTC time> (kept, not deleted)",
                cur, c->data_dir);
        if (m.store_present)
            say(c, "restore", "would put the backup's store (%s) in place as %s", human(sf->size, sz, sizeof sz), cur);
        else
            say(c, "restore", "would leave no store: troupe starts with an empty one");
        say(c, "restore", "nothing was changed: stop troupe, then run again with --yes to restore");
        bk_pg_target_free(&target);
        return 0;
    }

    int lock = -1;
    char lerr[600];
    rc = bk_lock_acquire(c->data_dir, &lock, lerr, sizeof lerr);
    if (rc) {
        snprintf(err, errcap, "%s%s", rc == TR_EEXIST ? "refusing to restore while troupe runs: " : "", lerr);
        bk_pg_target_free(&target);
        return rc;
    }
    char stage[PATH_CAP + 64] = "", aside[PATH_CAP + 64] = "";
    db_t *db = db_new(c->database_url);
    int now = db ? migrate_applied(db) : TR_ENOMEM;
    db_destroy(&db);
    if (now < 0) {
        char why[700];
        describe_db_error(c->database_url, &target, now, why, sizeof why);
        snprintf(err, errcap, "%s (nothing was changed)", why);
        rc = now;
        goto out;
    }
    if (now > m.migration_version) {
        snprintf(err, errcap,
                 "database %s is at migration %d, newer than the backup's %d: pg_restore --clean would leave the "
                 "newer tables behind. Revert first with `troupe migrate down` (the binary that applied them) or "
                 "restore into a new, empty database (nothing was changed)",
                 target.display, now, m.migration_version);
        rc = TR_EVERSION;
        goto out;
    }
    uint64_t t1 = tr_mono_ms();
    if (m.store_present) {
        char file[PATH_CAP + 32], serr[600];
        snprintf(file, sizeof file, "%s/%s", dir, BK_STORE_NAME);
        if ((rc = store_restore_prepare(c->data_dir, file, stage, sizeof stage, serr, sizeof serr))) {
            snprintf(err, errcap, "store: %s (nothing was changed)", serr);
            goto out;
        }
        say(c, "restore", "store: copy staged and checked in %.2f s", secs_since(t1));
    }
    t1 = tr_mono_ms();
    char file[PATH_CAP + 32];
    snprintf(file, sizeof file, "%s/%s", dir, BK_DUMP_NAME);
    char perr[2000];
    if ((rc = bk_pg_restore(&target, file, perr, sizeof perr))) {
        snprintf(err, errcap, "%s (nothing was changed: pg_restore ran in one transaction)", perr);
        store_restore_abort(stage);
        goto out;
    }
    say(c, "restore", "postgres: database %s restored to migration %d in %.2f s", target.display, m.migration_version,
        secs_since(t1));
    char serr[800];
    if ((rc = store_restore_commit(c->data_dir, m.store_present ? stage : NULL, aside, sizeof aside, serr,
                                   sizeof serr))) {
        snprintf(err, errcap,
                 "the database WAS restored but the store was not: %s. Fix that and run the restore "
                 "again",
                 serr);
        store_restore_abort(stage);
        goto out;
    }
    if (aside[0])
        say(c, "restore", "the previous store is kept at %s (remove it once the restored troupe is good)", aside);
    say(c, "restore", "complete in %.2f s: start troupe (troupe run); whoever logged in after %s logs in again",
        secs_since(t0), m.created);
out:
    bk_lock_release(&lock);
    bk_pg_target_free(&target);
    return rc;
}
