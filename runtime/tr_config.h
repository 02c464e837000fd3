/* tr_config.h - schema-driven configuration: defaults, a file, then env.
 *
 * The application declares its keys once (name, type, default, limits,
 * meaning). Values come from the defaults, then a `key = value` file, then
 * environment variables PREFIX + upper-cased key (TROUPE_HTTP_ADDR for
 * http_addr). Every value is validated against the schema; an unknown key or
 * a bad value is an error whose message names the key and where it came
 * from. The runtime knows no troupe keys: they live with the binary. */
#ifndef TR_CONFIG_H
#define TR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { TR_CFG_STR, TR_CFG_INT, TR_CFG_BOOL, TR_CFG_ENUM } tr_cfg_type_t;

typedef struct tr_cfg_key {
    const char *key;     /* lower_snake_case */
    tr_cfg_type_t type;
    const char *def;     /* default, as text */
    long long min, max;  /* INT: range; STR: max length (min unused) */
    const char *choices; /* ENUM: "a|b|c" */
    const char *help;    /* one line, for .env.example and --help */
    bool secret;         /* never printed back */
} tr_cfg_key_t;

typedef struct tr_config tr_config_t;

/* The schema must outlive the config. NULL on out-of-memory or if a default
 * does not validate (a programming error, reported on stderr). */
tr_config_t *tr_config_new(const tr_cfg_key_t *schema, size_t n, const char *env_prefix);
void tr_config_destroy(tr_config_t **self_p);

/* Each returns 0, or TR_ECONFIG with a message in err naming the key.
 * A missing file is TR_ECONFIG unless `optional`. */
int tr_config_load_file(tr_config_t *self, const char *path, bool optional, char *err, size_t errcap);
/* Reads PREFIX* variables from envp (NULL-terminated, e.g. environ). Unknown
 * PREFIX* names are errors (typos must not be silently ignored), except those
 * matching an `allow` prefix such as "TROUPE_AGENT_" (NULL = none). */
int tr_config_load_env(tr_config_t *self, char *const *envp, const char *const *allow, char *err, size_t errcap);
int tr_config_set(tr_config_t *self, const char *key, const char *value, const char *source, char *err,
                  size_t errcap);

/* Getters abort on a key missing from the schema (a programming error). */
const char *tr_config_str(const tr_config_t *self, const char *key);
long long tr_config_int(const tr_config_t *self, const char *key);
bool tr_config_bool(const tr_config_t *self, const char *key);
/* Where the value came from: "default", "file:<path>:<line>", "env:<VAR>",
 * or the `source` given to tr_config_set. */
const char *tr_config_source(const tr_config_t *self, const char *key);

/* Parses a boolean word: on/off, true/false, yes/no, 1/0. -1 if neither. */
int tr_config_parse_bool(const char *s);

#endif
