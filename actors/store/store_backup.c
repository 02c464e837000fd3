/* store_backup.c - copy, check and swap LMDB environments for backup and
 * restore (see store_backup.h). */
#include "store_backup.h"

#include "st_db.h"
#include "tr_err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATH_CAP 1200

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Makes path (not followed if a link) belong to uid:gid, through its
 * descriptor so the file checked is the file changed. */
static int give_to(const char *path, uid_t uid, gid_t gid)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0 && (st.st_uid != uid || st.st_gid != gid))
        rc = fchown(fd, uid, gid);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* What a store says about itself: layout version, embedder, sizes. The
 * environment is already open; the named databases are opened here. */
static int read_info(MDB_env *env, store_backup_info_t *info, const char *what, char *err, size_t errcap)
{
    memset(info, 0, sizeof *info);
    MDB_txn *txn;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        snprintf(err, errcap, "%s: cannot begin a read transaction: %s", what, mdb_strerror(rc));
        return TR_ESYS;
    }
    st_db_t db;
    memset(&db, 0, sizeof db);
    db.env = env;
    int trc = 0;
    if ((rc = mdb_dbi_open(txn, "meta", 0, &db.meta))) {
        snprintf(err, errcap, "%s is not a troupe store (no meta database: %s)", what, mdb_strerror(rc));
        trc = TR_ECONFIG;
        goto done;
    }
    MDB_val k = {7, (void *)"version"}, v;
    if ((rc = mdb_get(txn, db.meta, &k, &v)) || v.mv_size != sizeof info->schema_version) {
        snprintf(err, errcap, "%s is not a troupe store (no layout version)", what);
        trc = TR_ECONFIG;
        goto done;
    }
    memcpy(&info->schema_version, v.mv_data, sizeof info->schema_version);
    if (info->schema_version != ST_SCHEMA_VERSION) {
        snprintf(err, errcap, "%s has store layout version %u; this build reads version %d", what, info->schema_version,
                 ST_SCHEMA_VERSION);
        trc = TR_ECONFIG;
        goto done;
    }
    info->has_embedder = st_db_read_identity(&db, txn, info->emb_name, sizeof info->emb_name, &info->dim,
                                             info->emb_params, sizeof info->emb_params) == 0;
    MDB_dbi docs, chunks;
    MDB_stat st;
    if (mdb_dbi_open(txn, "docs", 0, &docs) == 0 && mdb_stat(txn, docs, &st) == 0)
        info->docs = st.ms_entries;
    if (mdb_dbi_open(txn, "chunks", 0, &chunks) == 0 && mdb_stat(txn, chunks, &st) == 0)
        info->chunks = st.ms_entries;
done:
    mdb_txn_abort(txn);
    return trc;
}

int store_backup(const char *data_dir, const char *dest, store_backup_info_t *info, char *err, size_t errcap)
{
    store_backup_info_t local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    char dir[PATH_CAP], data[PATH_CAP + 16];
    if ((size_t)snprintf(dir, sizeof dir, "%s/store", data_dir) >= sizeof dir) {
        snprintf(err, errcap, "data_dir path is too long");
        return TR_EINVAL;
    }
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    struct stat sb;
    if (stat(data, &sb) != 0) {
        if (errno == ENOENT) {
            snprintf(err, errcap, "no store at %s (nothing has been stored yet)", dir);
            return TR_ENOPROC;
        }
        snprintf(err, errcap, "cannot read the store %s: %s", data, strerror(errno));
        return TR_ESYS;
    }
    MDB_env *env;
    int rc = mdb_env_create(&env);
    if (rc) {
        snprintf(err, errcap, "lmdb: %s", mdb_strerror(rc));
        return st_db_err(rc);
    }
    mdb_env_set_maxdbs(env, 16);
    /* map size 0: LMDB takes the one recorded in the environment */
    if ((rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600))) {
        snprintf(err, errcap, "cannot open the store %s read-only: %s", dir, mdb_strerror(rc));
        mdb_env_close(env);
        return TR_ESYS;
    }
    /* root opening a store that belongs to the troupe user may just have
     * created its lock file: hand it to the store's owner, or troupe could
     * not open its own store afterwards */
    char lockf[PATH_CAP + 16];
    snprintf(lockf, sizeof lockf, "%s/lock.mdb", dir);
    if (geteuid() == 0 && give_to(lockf, sb.st_uid, sb.st_gid) != 0) {
        snprintf(err, errcap, "cannot give %s to the store's owner (uid %ld): %s", lockf, (long)sb.st_uid,
                 strerror(errno));
        mdb_env_close(env);
        return TR_ESYS;
    }
    int trc = read_info(env, info, dir, err, errcap);
    if (trc) {
        mdb_env_close(env);
        return trc;
    }
    int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errcap, "cannot create %s: %s", dest, strerror(e));
        mdb_env_close(env);
        return e == EEXIST ? TR_EEXIST : TR_ESYS;
    }
    /* one read transaction: the snapshot of the last commit; free pages are
     * left out and the copy is renumbered (compacted) */
    rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
    if (rc)
        snprintf(err, errcap, "copy of the store %s to %s failed: %s", dir, dest, mdb_strerror(rc));
    else if (fsync(fd) != 0 || fstat(fd, &sb) != 0) {
        snprintf(err, errcap, "cannot write %s: %s", dest, strerror(errno));
        rc = errno ? errno : EIO;
    }
    if (close(fd) != 0 && !rc) {
        snprintf(err, errcap, "cannot write %s: %s", dest, strerror(errno));
        rc = EIO;
    }
    mdb_env_close(env);
    if (rc) {
        unlink(dest);
        return TR_ESYS;
    }
    /* what the copy holds, from the copy: the server may have committed
     * between the check above and the copy's own read transaction */
    if ((trc = store_backup_inspect(dest, info, err, errcap)))
        unlink(dest);
    return trc;
}

int store_backup_inspect(const char *file, store_backup_info_t *info, char *err, size_t errcap)
{
    MDB_env *env;
    int rc = mdb_env_create(&env);
    if (rc) {
        snprintf(err, errcap, "lmdb: %s", mdb_strerror(rc));
        return st_db_err(rc);
    }
    mdb_env_set_maxdbs(env, 16);
    /* a plain file, no lock file: nobody else has this copy open */
    if ((rc = mdb_env_open(env, file, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0600))) {
        snprintf(err, errcap, "%s is not a readable LMDB store: %s", file, mdb_strerror(rc));
        mdb_env_close(env);
        return TR_ESYS;
    }
    int trc = read_info(env, info, file, err, errcap);
    if (!trc) {
        struct stat sb;
        if (stat(file, &sb) == 0)
            info->bytes = (uint64_t)sb.st_size;
    }
    mdb_env_close(env);
    return trc;
}

/* Copies src to a new file dst (mode 0600) and fsyncs it. */
static int copy_file(const char *src, const char *dst, char *err, size_t errcap)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(err, errcap, "cannot read %s: %s", src, strerror(errno));
        return TR_ESYS;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        snprintf(err, errcap, "cannot create %s: %s", dst, strerror(errno));
        close(in);
        return TR_ESYS;
    }
    enum { BUF = 1 << 20 };
    char *buf = malloc(BUF);
    int trc = buf ? 0 : TR_ENOMEM;
    if (!buf)
        snprintf(err, errcap, "out of memory");
    while (!trc) {
        ssize_t n = read(in, buf, BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errcap, "cannot read %s: %s", src, strerror(errno));
            trc = TR_ESYS;
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n && !trc;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                snprintf(err, errcap, "cannot write %s: %s", dst, w < 0 ? strerror(errno) : "short write");
                trc = TR_ESYS;
            } else {
                off += w;
            }
        }
    }
    free(buf);
    if (!trc && fsync(out) != 0) {
        snprintf(err, errcap, "cannot write %s: %s", dst, strerror(errno));
        trc = TR_ESYS;
    }
    if (close(out) != 0 && !trc) {
        snprintf(err, errcap, "cannot write %s: %s", dst, strerror(errno));
        trc = TR_ESYS;
    }
    close(in);
    return trc;
}

/* "<data_dir>/store.before-restore-<UTC time>[-n]" that does not exist yet. */
static int aside_name(const char *data_dir, char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    char ts[32];
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    for (int i = 0; i < 1000; i++) {
        int n = i ? snprintf(out, cap, "%s/store.before-restore-%s-%d", data_dir, ts, i)
                  : snprintf(out, cap, "%s/store.before-restore-%s", data_dir, ts);
        if (n < 0 || (size_t)n >= cap)
            return -1;
        struct stat sb;
        if (lstat(out, &sb) != 0 && errno == ENOENT)
            return 0;
    }
    return -1;
}

void store_restore_abort(const char *stage)
{
    if (!stage || !*stage)
        return;
    char p[PATH_CAP + 16];
    snprintf(p, sizeof p, "%s/data.mdb", stage);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", stage);
    unlink(p);
    rmdir(stage);
}

int store_restore_prepare(const char *data_dir, const char *file, char *stage, size_t stagecap, char *err,
                          size_t errcap)
{
    char staged[PATH_CAP + 16];
    stage[0] = '\0';
    if ((size_t)snprintf(stage, stagecap, "%s/store.restoring-%ld", data_dir, (long)getpid()) >= stagecap ||
        strlen(stage) >= PATH_CAP) {
        stage[0] = '\0';
        snprintf(err, errcap, "data_dir path is too long");
        return TR_EINVAL;
    }
    snprintf(staged, sizeof staged, "%s/data.mdb", stage);
    store_restore_abort(stage); /* a leftover of an earlier attempt by a process with our pid */
    if (mkdir(stage, 0700) != 0) {
        snprintf(err, errcap, "cannot create %s: %s", stage, strerror(errno));
        stage[0] = '\0';
        return TR_ESYS;
    }
    store_backup_info_t info;
    int trc = copy_file(file, staged, err, errcap);
    if (!trc)
        trc = store_backup_inspect(staged, &info, err, errcap);
    /* a restore run as root into a data_dir owned by the troupe user: the
     * new store must be the troupe user's too, or troupe cannot open it */
    struct stat db;
    if (!trc && geteuid() == 0 && stat(data_dir, &db) == 0 && db.st_uid != 0 &&
        (give_to(stage, db.st_uid, db.st_gid) != 0 || give_to(staged, db.st_uid, db.st_gid) != 0)) {
        snprintf(err, errcap, "cannot give %s to the owner of %s (uid %ld): %s", stage, data_dir, (long)db.st_uid,
                 strerror(errno));
        trc = TR_ESYS;
    }
    if (!trc && fsync_dir(stage) != 0) {
        snprintf(err, errcap, "cannot sync %s: %s", stage, strerror(errno));
        trc = TR_ESYS;
    }
    if (trc) {
        store_restore_abort(stage);
        stage[0] = '\0';
    }
    return trc;
}

int store_restore_commit(const char *data_dir, const char *stage, char *aside, size_t asidecap, char *err,
                         size_t errcap)
{
    if (aside && asidecap)
        aside[0] = '\0';
    char cur[PATH_CAP], old[PATH_CAP + 64];
    if ((size_t)snprintf(cur, sizeof cur, "%s/store", data_dir) >= sizeof cur) {
        snprintf(err, errcap, "data_dir path is too long");
        return TR_EINVAL;
    }
    struct stat sb;
    bool have_cur = lstat(cur, &sb) == 0;
    if (!have_cur && errno != ENOENT) {
        snprintf(err, errcap, "cannot read %s: %s", cur, strerror(errno));
        return TR_ESYS;
    }
    if (have_cur) {
        if (aside_name(data_dir, old, sizeof old) != 0) {
            snprintf(err, errcap, "no free name to move %s aside", cur);
            return TR_ESYS;
        }
        if (rename(cur, old) != 0) {
            snprintf(err, errcap, "cannot move %s aside to %s: %s", cur, old, strerror(errno));
            return TR_ESYS;
        }
        if (aside)
            snprintf(aside, asidecap, "%s", old);
    }
    if (stage && rename(stage, cur) != 0) {
        int e = errno;
        /* put the old store back: the data_dir stays as it was */
        bool back = !have_cur || rename(old, cur) == 0;
        if (back && aside)
            aside[0] = '\0';
        snprintf(err, errcap, "cannot move the restored store %s into place as %s: %s (%s%s)", stage, cur, strerror(e),
                 back ? "the current store is unchanged" : "the previous store is at ", back ? "" : old);
        return TR_ESYS;
    }
    if (fsync_dir(data_dir) != 0) {
        snprintf(err, errcap, "cannot sync %s: %s", data_dir, strerror(errno));
        return TR_ESYS;
    }
    return 0;
}
