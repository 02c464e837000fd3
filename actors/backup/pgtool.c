/* pgtool.c - pg_dump / pg_restore child processes (see pgtool.h). */
#include "pgtool.h"

#include "tr_err.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define STDERR_KEEP 1500 /* bytes of a tool's stderr quoted in an error */

void bk_redact(char *text, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    if (!text || n == 0)
        return;
    for (char *p = strstr(text, secret); p; p = strstr(p, secret)) {
        /* "***" is never longer than the secret it replaces when n >= 3;
         * shorter secrets are overwritten with as many '*' */
        size_t w = n < 3 ? n : 3;
        memset(p, '*', w);
        memmove(p + w, p + n, strlen(p + n) + 1);
        p += w;
    }
}

void bk_url_password(const char *url, char *out, size_t cap)
{
    out[0] = '\0';
    const char *s = strstr(url, "://");
    if (s) { /* scheme://user:password@host... */
        s += 3;
        const char *at = strchr(s, '@'), *slash = strchr(s, '/');
        if (!at || (slash && slash < at))
            return;
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (colon)
            snprintf(out, cap, "%.*s", (int)(at - colon - 1), colon + 1);
        return;
    }
    /* key=value: password = value | password='quoted value' */
    const char *p = strstr(url, "password");
    while (p && p != url && p[-1] != ' ')
        p = strstr(p + 1, "password");
    if (!p)
        return;
    p += 8;
    while (*p == ' ')
        p++;
    if (*p++ != '=')
        return;
    while (*p == ' ')
        p++;
    size_t n = *p == '\'' ? strcspn(++p, "'") : strcspn(p, " ");
    snprintf(out, cap, "%.*s", (int)n, p);
}

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 256) + n;
        char *p = realloc(*buf, nc);
        if (!p)
            return TR_ENOMEM;
        *buf = p;
        *cap = nc;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* keyword='value' with ' and \ escaped, as libpq reads it */
static int append_kv(char **buf, size_t *len, size_t *cap, const char *k, const char *v)
{
    int rc = 0;
    if (*len)
        rc = append(buf, len, cap, " ", 1);
    if (!rc)
        rc = append(buf, len, cap, k, strlen(k));
    if (!rc)
        rc = append(buf, len, cap, "='", 2);
    for (const char *p = v; !rc && *p; p++) {
        if (*p == '\'' || *p == '\\')
            rc = append(buf, len, cap, "\\", 1);
        if (!rc)
            rc = append(buf, len, cap, p, 1);
    }
    if (!rc)
        rc = append(buf, len, cap, "'", 1);
    return rc;
}

void bk_pg_target_free(bk_pg_target_t *t)
{
    if (!t)
        return;
    free(t->conninfo);
    if (t->password) {
        memset(t->password, 0, strlen(t->password));
        free(t->password);
    }
    memset(t, 0, sizeof *t);
}

int bk_pg_target_parse(const char *url, bk_pg_target_t *t, char *err, size_t errcap)
{
    memset(t, 0, sizeof *t);
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        char secret[256];
        bk_url_password(url, secret, sizeof secret);
        char msg[400];
        snprintf(msg, sizeof msg, "%s", perr ? perr : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        bk_redact(msg, secret);
        snprintf(err, errcap, "database_url cannot be parsed: %s", msg);
        PQfreemem(perr);
        return perr ? TR_EINVAL : TR_ENOMEM;
    }
    size_t len = 0, cap = 0;
    int rc = 0;
    const char *user = "", *host = "", *port = "", *db = "";
    for (PQconninfoOption *o = opts; o->keyword && !rc; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            if (!(t->password = strdup(o->val)))
                rc = TR_ENOMEM;
            continue;
        }
        rc = append_kv(&t->conninfo, &len, &cap, o->keyword, o->val);
        if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 && !*host))
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
    }
    if (!rc && !t->conninfo && !(t->conninfo = strdup("")))
        rc = TR_ENOMEM;
    if (!rc) {
        snprintf(t->display, sizeof t->display, "%s%s%s%s%s/%s", user, *user ? "@" : "",
                 *host ? host : "(default host)", *port ? ":" : "", port,
                 *db     ? db
                 : *user ? user
                         : "(default database)");
        snprintf(t->dbname, sizeof t->dbname, "%s", *db ? db : user);
    }
    PQconninfoFree(opts);
    if (rc) {
        bk_pg_target_free(t);
        snprintf(err, errcap, "out of memory");
    }
    return rc;
}

void bk_pg_ping(const char *url, const bk_pg_target_t *t, char *why, size_t cap)
{
    why[0] = '\0';
    const char *keys[] = {"dbname", "connect_timeout", NULL};
    const char *vals[] = {url, "5", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK) {
        PQfinish(c);
        return;
    }
    snprintf(why, cap, "%s", c ? PQerrorMessage(c) : "out of memory");
    PQfinish(c);
    /* one line: newlines and tabs become single spaces */
    size_t n = 0;
    for (const char *p = why; *p; p++) {
        bool space = *p == '\n' || *p == '\r' || *p == '\t' || *p == ' ';
        if (!space || (n > 0 && why[n - 1] != ' '))
            why[n++] = space ? ' ' : *p;
    }
    why[n] = '\0';
    while (n > 0 && why[n - 1] == ' ')
        why[--n] = '\0';
    bk_redact(why, t->password);
}

/* The parent's environment with PGPASSWORD replaced by the target's. */
static char **child_env(const bk_pg_target_t *t, char **pw_entry)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (!t->password || strncmp(environ[i], "PGPASSWORD=", 11) != 0)
            env[j++] = environ[i];
    *pw_entry = NULL;
    if (t->password) {
        size_t len = strlen(t->password) + 12;
        if (!(*pw_entry = malloc(len))) {
            free(env);
            return NULL;
        }
        snprintf(*pw_entry, len, "PGPASSWORD=%s", t->password);
        env[j++] = *pw_entry;
    }
    env[j] = NULL;
    return env;
}

/* The last STDERR_KEEP bytes of what the tool wrote, one line, redacted. */
static void read_output(FILE *f, const bk_pg_target_t *t, char *out, size_t cap)
{
    out[0] = '\0';
    if (fseek(f, 0, SEEK_END) != 0)
        return;
    long size = ftell(f);
    long from = size > STDERR_KEEP ? size - STDERR_KEEP : 0;
    if (size <= 0 || fseek(f, from, SEEK_SET) != 0)
        return;
    char buf[STDERR_KEEP + 1];
    size_t n = fread(buf, 1, STDERR_KEEP, f);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
            buf[i] = ' ';
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = '\0';
    bk_redact(buf, t->password);
    snprintf(out, cap, "%s%s", from ? "..." : "", buf);
}

static int run_tool(const char *tool, const char *const *argv, const bk_pg_target_t *t, char *err, size_t errcap)
{
    FILE *cap = tmpfile();
    if (!cap) {
        snprintf(err, errcap, "%s: cannot create a temporary file for its output: %s", tool, strerror(errno));
        return TR_ESYS;
    }
    char *pw = NULL;
    char **env = child_env(t, &pw);
    if (!env) {
        fclose(cap);
        snprintf(err, errcap, "out of memory");
        return TR_ENOMEM;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fileno(cap), 1);
    posix_spawn_file_actions_adddup2(&fa, fileno(cap), 2);
    pid_t pid;
    int src = posix_spawnp(&pid, tool, &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    if (pw) {
        memset(pw, 0, strlen(pw));
        free(pw);
    }
    free(env);
    if (src) {
        fclose(cap);
        if (src == ENOENT) {
            snprintf(err, errcap,
                     "%s not found in PATH: install the PostgreSQL client tools of the server's major version "
                     "(Debian: apt-get install postgresql-client)",
                     tool);
            return TR_ENOPROC;
        }
        snprintf(err, errcap, "cannot start %s: %s", tool, strerror(src));
        return TR_ESYS;
    }
    int status;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    char out[STDERR_KEEP + 8];
    read_output(cap, t, out, sizeof out);
    fclose(cap);
    if (w < 0) {
        snprintf(err, errcap, "%s: waitpid: %s", tool, strerror(errno));
        return TR_ESYS;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        snprintf(err, errcap, "%s failed (exit %d) on %s: %s", tool, WEXITSTATUS(status), t->display,
                 *out ? out : "(no message)");
    else
        snprintf(err, errcap, "%s was killed by signal %d on %s: %s", tool, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                 t->display, *out ? out : "(no message)");
    return TR_EREMOTE;
}

int bk_pg_dump(const bk_pg_target_t *t, const char *out, char *err, size_t errcap)
{
    size_t n = strlen(out) + 8, m = strlen(t->conninfo) + 10;
    char *file = malloc(n), *dbname = malloc(m);
    if (!file || !dbname) {
        free(file);
        free(dbname);
        snprintf(err, errcap, "out of memory");
        return TR_ENOMEM;
    }
    snprintf(file, n, "--file=%s", out);
    snprintf(dbname, m, "--dbname=%s", t->conninfo);
    /* --no-password: fail instead of prompting (cron, systemd); a lock wait
     * bound so a migration holding a table cannot hang the backup forever */
    const char *argv[] = {"pg_dump", "--format=custom", "--no-password", "--lock-wait-timeout=60s", file, dbname, NULL};
    int rc = run_tool("pg_dump", argv, t, err, errcap);
    free(file);
    free(dbname);
    return rc;
}

int bk_pg_restore(const bk_pg_target_t *t, const char *in, char *err, size_t errcap)
{
    size_t m = strlen(t->conninfo) + 10;
    char *dbname = malloc(m);
    if (!dbname) {
        snprintf(err, errcap, "out of memory");
        return TR_ENOMEM;
    }
    snprintf(dbname, m, "--dbname=%s", t->conninfo);
    /* "--" ends the options: a file name starting with '-' stays a file name */
    const char *argv[] = {
        "pg_restore", "--clean", "--if-exists", "--single-transaction", "--no-owner", "--no-password", dbname,
        "--",         in,        NULL};
    int rc = run_tool("pg_restore", argv, t, err, errcap);
    free(dbname);
    return rc;
}
