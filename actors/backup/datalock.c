/* datalock.c - the data directory's lock file (see datalock.h). */
#include "datalock.h"
#include "common/fsutil.h"

#include "tr_err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int bk_lock_acquire(const char *data_dir, int *fd, char *err, size_t errcap)
{
    *fd = -1;
    if (fs_mkdirs(data_dir) != 0) {
        snprintf(err, errcap, "data_dir %s cannot be created: %s", data_dir, strerror(errno));
        return TR_ESYS;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", data_dir, BK_LOCK_NAME);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0) {
        snprintf(err, errcap, "cannot open the lock file %s: %s", path, strerror(errno));
        return TR_ESYS;
    }
    /* root (a restore) creating the lock file in the troupe user's data_dir:
     * the file must stay usable by that user */
    struct stat ds, fs;
    if (geteuid() == 0 && stat(data_dir, &ds) == 0 && fstat(f, &fs) == 0 && ds.st_uid != fs.st_uid &&
        fchown(f, ds.st_uid, ds.st_gid) != 0) {
        snprintf(err, errcap, "cannot give %s to the owner of %s: %s", path, data_dir, strerror(errno));
        close(f);
        return TR_ESYS;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(f, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strspn(pid, "0123456789")] = '\0'; /* only a number is quoted back */
        close(f);
        if (e == EWOULDBLOCK) {
            char who[48] = "";
            if (*pid)
                snprintf(who, sizeof who, " (pid %s)", pid);
            snprintf(err, errcap, "another troupe process%s holds %s: one troupe per data_dir (stop it first)", who,
                     path);
            return TR_EEXIST;
        }
        snprintf(err, errcap, "cannot lock %s: %s", path, strerror(e));
        return TR_ESYS;
    }
    char me[32];
    int n = snprintf(me, sizeof me, "%ld\n", (long)getpid());
    /* the pid is only for messages: writing it may fail without harm */
    bool wrote = ftruncate(f, 0) == 0 && pwrite(f, me, (size_t)n, 0) == n;
    (void)wrote;
    *fd = f;
    return 0;
}

void bk_lock_release(int *fd)
{
    if (!fd || *fd < 0)
        return;
    close(*fd);
    *fd = -1;
}
