/* sandbox.h - run a checker (compiler, linter) on untrusted input in a
 * child process: its own process group, a fresh temp directory, CPU /
 * address-space / file-size / open-file limits, no network where the
 * platform allows (a new network namespace; needs privileges, skipped
 * otherwise), a Landlock filesystem sandbox (the system's programs and
 * libraries read-only, the work directory read-write, nothing else: no
 * #include of the service's files), a wall-clock timeout (SIGKILL of the
 * group) and a cap on the output read back. The input is only ever compiled
 * or parsed, never run. Without Landlock the checker is not run at all. */
#ifndef TROUPE_SANDBOX_H
#define TROUPE_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int timeout_ms;
    int memory_mb;
    size_t max_output;
} sandbox_limits_t;

typedef struct {
    char *output;  /* stdout+stderr, NUL-terminated, malloc'd */
    size_t len;
    int exit_code; /* -1 if killed by a signal */
    bool timed_out;
    bool truncated;
    bool net_isolated;
    bool fs_confined; /* Landlock applied; if not, the checker did not run (exit 125) */
} sandbox_result_t;

/* Makes a private temp dir and writes `name` with `content` in it. */
int sandbox_dir_new(char dir[64], const char *name, const char *content, size_t len);
void sandbox_dir_remove(const char *dir, const char *name);

/* Runs argv (argv[0] an absolute path) with cwd = dir. 0 if it ran (see
 * exit_code), -1 if it could not start. */
/* 0 with *res filled; -1 (could not start); SANDBOX_UNCONFINED: the kernel
 * has no Landlock, the checker was not run (fail closed). */
#define SANDBOX_UNCONFINED (-2)
int sandbox_run(const char *dir, char *const argv[], const sandbox_limits_t *lim, sandbox_result_t *res);
void sandbox_result_free(sandbox_result_t *res);

#endif
