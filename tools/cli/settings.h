/* settings.h - troupe's configuration keys (the schema behind
 * config/troupe.conf, TROUPE_* variables and .env.example). */
#ifndef TROUPE_SETTINGS_H
#define TROUPE_SETTINGS_H

#include "tr.h"

#include <stdio.h>

/* The whole schema: troupe's own keys followed by the store's
 * (actors/store/store_settings.h), assembled before main runs. */
extern tr_cfg_key_t troupe_settings[];
extern size_t troupe_settings_count;

/* Loads defaults, then the file (explicit path must exist; the default path
 * config/troupe.conf is optional), then the environment. On error writes a
 * message naming the key into err and returns TR_ECONFIG. */
int troupe_settings_load(const char *path, char *const *envp, tr_config_t **out, char *err, size_t errcap);

/* Runtime options derived from the settings. */
void troupe_settings_system_opts(const tr_config_t *cfg, tr_system_opts_t *opts);

/* Writes .env.example text (every variable, default, meaning). */
void troupe_settings_env_example(FILE *out);
/* Writes the effective configuration, secrets masked, with sources. */
void troupe_settings_print(const tr_config_t *cfg, FILE *out);

#endif
