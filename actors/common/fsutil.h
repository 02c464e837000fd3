/* fsutil.h - small filesystem helpers shared by the modules that make
 * directories (the data_dir at start, backups, the data_dir lock). */
#ifndef TROUPE_FSUTIL_H
#define TROUPE_FSUTIL_H

/* mkdir -p with mode 0700 for what it creates; 0, or -1 with errno
 * (ENAMETOOLONG past 1023 bytes, ENOTDIR when the path is not a directory). */
int fs_mkdirs(const char *path);

#endif
