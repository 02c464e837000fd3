/* tr_config.c - configuration loading and validation (see tr_config.h). */
#include "tr_config.h"
#include "tr_err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LINE 4096
#define MAX_FILE (1024 * 1024)

typedef struct {
    char *value;
    char *source;
} slot_t;

struct tr_config {
    const tr_cfg_key_t *schema;
    size_t n;
    char prefix[32];
    slot_t *slots;
};

static int find(const tr_config_t *self, const char *key)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->schema[i].key, key) == 0)
            return (int)i;
    return -1;
}

int tr_config_parse_bool(const char *s)
{
    static const char *yes[] = {"on", "true", "yes", "1"}, *no[] = {"off", "false", "no", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

static bool enum_has(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* Explains why v is not a valid value of k into why. A secret's value is
 * never quoted back: error messages end up in logs. */
static int validate(const tr_cfg_key_t *k, const char *v, char *why, size_t cap)
{
    char shown[80];
    if (k->secret)
        snprintf(shown, sizeof shown, "the value");
    else
        snprintf(shown, sizeof shown, "'%.64s'", v);
    switch (k->type) {
    case TR_CFG_STR:
        if (k->max && (long long)strlen(v) > k->max) {
            snprintf(why, cap, "longer than %lld bytes", k->max);
            return TR_ECONFIG;
        }
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20) {
                snprintf(why, cap, "contains a control character");
                return TR_ECONFIG;
            }
        return 0;
    case TR_CFG_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end != '\0') {
            snprintf(why, cap, "%s is not an integer", shown);
            return TR_ECONFIG;
        }
        if (x < k->min || x > k->max) {
            if (k->secret)
                snprintf(why, cap, "the value is outside %lld..%lld", k->min, k->max);
            else
                snprintf(why, cap, "%lld is outside %lld..%lld", x, k->min, k->max);
            return TR_ECONFIG;
        }
        return 0;
    }
    case TR_CFG_BOOL:
        if (tr_config_parse_bool(v) < 0) {
            snprintf(why, cap, "%s is not on/off, true/false, yes/no or 1/0", shown);
            return TR_ECONFIG;
        }
        return 0;
    case TR_CFG_ENUM:
        if (!enum_has(k->choices, v)) {
            snprintf(why, cap, "%s is not one of %s", shown, k->choices);
            return TR_ECONFIG;
        }
        return 0;
    }
    return TR_ECONFIG;
}

static int set_slot(tr_config_t *self, int i, const char *value, const char *source)
{
    char *v = strdup(value), *s = strdup(source);
    if (!v || !s) {
        free(v);
        free(s);
        return TR_ENOMEM;
    }
    free(self->slots[i].value);
    free(self->slots[i].source);
    self->slots[i].value = v;
    self->slots[i].source = s;
    return 0;
}

tr_config_t *tr_config_new(const tr_cfg_key_t *schema, size_t n, const char *env_prefix)
{
    tr_config_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->schema = schema;
    self->n = n;
    snprintf(self->prefix, sizeof self->prefix, "%s", env_prefix ? env_prefix : "");
    self->slots = calloc(n ? n : 1, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char why[160];
        if (validate(&schema[i], schema[i].def, why, sizeof why)) {
            fprintf(stderr, "config schema: default of %s: %s\n", schema[i].key, why);
            tr_config_destroy(&self);
            return NULL;
        }
        if (set_slot(self, (int)i, schema[i].def, "default")) {
            tr_config_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void tr_config_destroy(tr_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr_config_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        free(self->slots[i].value);
        free(self->slots[i].source);
    }
    free(self->slots);
    free(self);
    *self_p = NULL;
}

int tr_config_set(tr_config_t *self, const char *key, const char *value, const char *source, char *err,
                  size_t errcap)
{
    int i = find(self, key);
    if (i < 0) {
        snprintf(err, errcap, "%s: unknown configuration key '%.64s'", source, key);
        return TR_ECONFIG;
    }
    char why[160];
    if (validate(&self->schema[i], value, why, sizeof why)) {
        snprintf(err, errcap, "%s: bad value for %s: %s", source, key, why);
        return TR_ECONFIG;
    }
    return set_slot(self, i, value, source);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int tr_config_load_file(tr_config_t *self, const char *path, bool optional, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (optional && errno == ENOENT)
            return 0;
        snprintf(err, errcap, "config file %s: %s", path, strerror(errno));
        return TR_ECONFIG;
    }
    char line[MAX_LINE + 2];
    int lineno = 0, rc = 0;
    size_t total = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        total += len;
        if (total > MAX_FILE) {
            snprintf(err, errcap, "config file %s: larger than %d bytes", path, MAX_FILE);
            rc = TR_ECONFIG;
            break;
        }
        /* the limit is on the content; the newline does not count. A longer
         * line arrives as a first chunk of MAX_LINE + 1 bytes without one. */
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len > MAX_LINE) {
            snprintf(err, errcap, "%s:%d: line longer than %d bytes", path, lineno, MAX_LINE);
            rc = TR_ECONFIG;
            break;
        }
        char *s = line;
        if (lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
            s += 3; /* UTF-8 byte order mark, as some editors write */
        s = trim(s);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errcap, "%s:%d: expected 'key = value'", path, lineno);
            rc = TR_ECONFIG;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        char source[512];
        snprintf(source, sizeof source, "file:%s:%d", path, lineno);
        if ((rc = tr_config_set(self, key, val, source, err, errcap)))
            break;
    }
    if (!rc && ferror(f)) { /* e.g. a directory: fopen works, reading does not */
        snprintf(err, errcap, "config file %s: %s", path, strerror(errno));
        rc = TR_ECONFIG;
    }
    fclose(f);
    return rc;
}

int tr_config_load_env(tr_config_t *self, char *const *envp, const char *const *allow, char *err, size_t errcap)
{
    size_t plen = strlen(self->prefix);
    for (; envp && *envp; envp++) {
        const char *e = *envp;
        if (plen == 0 || strncmp(e, self->prefix, plen) != 0)
            continue;
        const char *eq = strchr(e, '=');
        if (!eq)
            continue;
        bool allowed = false;
        for (const char *const *a = allow; a && *a; a++)
            if (strncmp(e, *a, strlen(*a)) == 0)
                allowed = true;
        char key[128];
        size_t klen = (size_t)(eq - e) - plen;
        if (klen == 0 || klen >= sizeof key) {
            if (allowed)
                continue;
            snprintf(err, errcap, "env: unknown variable %.*s", (int)(eq - e), e);
            return TR_ECONFIG;
        }
        for (size_t i = 0; i < klen; i++)
            key[i] = (char)tolower((unsigned char)e[plen + i]);
        key[klen] = '\0';
        if (find(self, key) < 0) {
            if (allowed)
                continue;
            snprintf(err, errcap, "env: unknown variable %.*s (see .env.example)", (int)(eq - e), e);
            return TR_ECONFIG;
        }
        char source[160];
        snprintf(source, sizeof source, "env:%.*s", (int)(eq - e), e);
        int rc = tr_config_set(self, key, eq + 1, source, err, errcap);
        if (rc)
            return rc;
    }
    return 0;
}

static const slot_t *slot_of(const tr_config_t *self, const char *key)
{
    int i = find(self, key);
    if (i < 0) {
        fprintf(stderr, "config: key '%s' is not in the schema\n", key);
        abort();
    }
    return &self->slots[i];
}

const char *tr_config_str(const tr_config_t *self, const char *key)
{
    return slot_of(self, key)->value;
}

long long tr_config_int(const tr_config_t *self, const char *key)
{
    return strtoll(slot_of(self, key)->value, NULL, 10);
}

bool tr_config_bool(const tr_config_t *self, const char *key)
{
    return tr_config_parse_bool(slot_of(self, key)->value) == 1;
}

const char *tr_config_source(const tr_config_t *self, const char *key)
{
    return slot_of(self, key)->source;
}
