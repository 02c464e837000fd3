/* sandbox.c - limited child processes for code checks (see sandbox.h). */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <ftw.h>
#include <stdint.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int sandbox_dir_new(char dir[64], const char *name, const char *content, size_t len)
{
    snprintf(dir, 64, "/tmp/troupe-check-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rmdir(dir);
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, content + off, len - off);
        if (w <= 0) {
            close(fd);
            sandbox_dir_remove(dir, name);
            return -1;
        }
        off += (size_t)w;
    }
    close(fd);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? 0 : 0; /* best effort: keep going */
}

void sandbox_dir_remove(const char *dir, const char *name)
{
    (void)name;
    /* checkers may leave files (py_compile's __pycache__): remove the tree */
    if (strncmp(dir, "/tmp/troupe-check-", 18) == 0)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Landlock (Linux >= 5.13): from here on the checker may read and run only
 * the system's programs and libraries and read/write only its own work
 * directory. Without it a snippet could #include any file the service can
 * read (its env file, /proc/self/environ, the data directory) and the
 * checker would quote it back. Returns false if the kernel has no Landlock:
 * the caller then refuses to run the checker (fail closed). */
#define FS_READ (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_ALL                                                                                                    \
    (FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |   \
     LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |                     \
     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |                  \
     LANDLOCK_ACCESS_FS_MAKE_SYM)

static void ll_allow(int ruleset, const char *path, uint64_t access)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return; /* not on this system: nothing to allow */
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE;
    struct landlock_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};
    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    close(fd);
}

static bool fs_confine(const char *dir)
{
    struct landlock_ruleset_attr ra = {.handled_access_fs = FS_ALL};
    int rs = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0);
    if (rs < 0)
        return false;
    static const char *const ro[] = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc/ld.so.cache", NULL};
    for (int i = 0; ro[i]; i++)
        ll_allow(rs, ro[i], FS_READ);
    ll_allow(rs, "/dev/null", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE);
    ll_allow(rs, dir, FS_ALL);
    bool ok = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && syscall(SYS_landlock_restrict_self, rs, 0) == 0;
    close(rs);
    return ok;
}

/* In the child, between fork and exec: system calls only. */
static void child(const char *dir, char *const argv[], const sandbox_limits_t *lim, int out_fd, int ok_fd)
{
    setpgid(0, 0);
    int isolated = unshare(CLONE_NEWNET) == 0; /* no interfaces but a down loopback */
    struct rlimit r;
    r.rlim_cur = r.rlim_max = (rlim_t)(lim->timeout_ms / 1000 + 1);
    setrlimit(RLIMIT_CPU, &r);
    r.rlim_cur = r.rlim_max = (rlim_t)lim->memory_mb * 1024 * 1024;
    setrlimit(RLIMIT_AS, &r);
    r.rlim_cur = r.rlim_max = 4 * 1024 * 1024;
    setrlimit(RLIMIT_FSIZE, &r);
    r.rlim_cur = r.rlim_max = 0;
    setrlimit(RLIMIT_CORE, &r);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 || chdir(dir) < 0)
        _exit(126);
    bool confined = fs_confine(dir);
    char flags[2] = {isolated ? '1' : '0', confined ? '1' : '0'};
    if (write(ok_fd, flags, 2) < 0) {
    }
    if (!confined)
        _exit(125); /* fail closed: no checker without the filesystem sandbox */
    syscall(SYS_close_range, 3U, ~0U, 0U);
    /* only now: the parent's many descriptors are closed */
    r.rlim_cur = r.rlim_max = 64;
    setrlimit(RLIMIT_NOFILE, &r);
    char tmpdir[80];
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", dir); /* the compiler's temporaries stay inside */
    char *const envp[] = {"PATH=/usr/bin:/bin", "LANG=C", "LC_ALL=C", "HOME=/nonexistent", tmpdir, NULL};
    execve(argv[0], argv, envp);
    _exit(127);
}

int sandbox_run(const char *dir, char *const argv[], const sandbox_limits_t *lim, sandbox_result_t *res)
{
    memset(res, 0, sizeof *res);
    /* a fixed system tool (gcc, cppcheck, python3): a quick "not installed"
     * before forking; if it vanished in between, execve fails and the child
     * exits 127, also reported */
    if (access(argv[0], X_OK) != 0) /* Flawfinder: ignore */
        return -1;
    int out[2], ok[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(ok, O_CLOEXEC) < 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(out[0]);
        close(out[1]);
        close(ok[0]);
        close(ok[1]);
        return -1;
    }
    if (pid == 0)
        child(dir, argv, lim, out[1], ok[1]);
    setpgid(pid, pid); /* also from here: no race with the child's own call */
    close(out[1]);
    close(ok[1]);
    char flags[2] = {'0', '0'};
    if (read(ok[0], flags, 2) == 2) {
        res->net_isolated = flags[0] == '1';
        res->fs_confined = flags[1] == '1';
    }
    close(ok[0]);

    size_t cap = lim->max_output + 1;
    res->output = malloc(cap);
    uint64_t until = now_ms() + (uint64_t)lim->timeout_ms;
    for (;;) {
        uint64_t t = now_ms();
        if (t >= until) {
            res->timed_out = true;
            break;
        }
        struct pollfd p = {out[0], POLLIN, 0};
        int n = poll(&p, 1, (int)(until - t));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        char buf[4096];
        ssize_t got = read(out[0], buf, sizeof buf);
        if (got <= 0)
            break;
        size_t room = res->output ? cap - 1 - res->len : 0;
        size_t take = (size_t)got < room ? (size_t)got : room;
        if (take) {
            memcpy(res->output + res->len, buf, take);
            res->len += take;
        }
        if ((size_t)got > take) {
            res->truncated = true;
            break; /* enough: a checker flooding its output is stopped */
        }
    }
    close(out[0]);
    if (res->timed_out || res->truncated)
        kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    kill(-pid, SIGKILL); /* anything the checker left behind in its group */
    res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (res->output)
        res->output[res->len] = '\0';
    if (!res->fs_confined) { /* the checker did not run */
        sandbox_result_free(res);
        return SANDBOX_UNCONFINED;
    }
    return 0;
}

void sandbox_result_free(sandbox_result_t *res)
{
    free(res->output);
    memset(res, 0, sizeof *res);
}
