/* test_config.c - schema-driven configuration: defaults, the key = value file,
 * environment overrides, and errors that name the key and where it came from. */
#include "tr_config.h"
#include "tr_err.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const tr_cfg_key_t schema[] = {
    {"http_addr", TR_CFG_STR, "127.0.0.1:8080", 0, 64, NULL, "Listen address", false},
    {"workers", TR_CFG_INT, "4", 1, 64, NULL, "Worker threads", false},
    {"debug", TR_CFG_BOOL, "off", 0, 0, NULL, "Verbose mode", false},
    {"log_level", TR_CFG_ENUM, "info", 0, 0, "debug|info|warn|error", "Log level", false},
    {"greeting", TR_CFG_STR, "", 0, 0, NULL, "Free text, no length limit", false},
    {"api_pin", TR_CFG_INT, "0", 0, 999999, NULL, "A secret number", true},
    {"agent_model", TR_CFG_STR, "small", 0, 32, NULL, "Model name", false},
};
#define NKEYS (sizeof schema / sizeof schema[0])

static tr_config_t *cfg;
static char err[512];
static char path[64];

static void setup(void)
{
    cfg = tr_config_new(schema, NKEYS, "TROUPE_");
    cr_assert_not_null(cfg);
    err[0] = '\0';
    path[0] = '\0';
}

static void teardown(void)
{
    tr_config_destroy(&cfg);
    cr_assert_null(cfg, "destroy nulls the caller's pointer");
    if (path[0])
        unlink(path);
}

/* Writes `text` to a fresh temporary file whose name is left in `path`. */
static const char *write_file(const char *text, size_t len)
{
    snprintf(path, sizeof path, "/tmp/troupe-cfg-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static const char *write_text(const char *text)
{
    return write_file(text, strlen(text));
}

#define assert_has(hay, needle) cr_assert_not_null(strstr((hay), (needle)), "'%s' lacks '%s'", (hay), (needle))

TestSuite(config, .init = setup, .fini = teardown);

Test(config, defaults)
{
    cr_assert_str_eq(tr_config_str(cfg, "http_addr"), "127.0.0.1:8080");
    cr_assert_eq(tr_config_int(cfg, "workers"), 4);
    cr_assert_eq(tr_config_bool(cfg, "debug"), false);
    cr_assert_str_eq(tr_config_str(cfg, "log_level"), "info");
    cr_assert_str_eq(tr_config_str(cfg, "greeting"), "");
    for (size_t i = 0; i < NKEYS; i++)
        cr_assert_str_eq(tr_config_source(cfg, schema[i].key), "default");
}

Test(config, bad_default_is_refused)
{
    static const tr_cfg_key_t bad[] = {
        {"workers", TR_CFG_INT, "100", 1, 64, NULL, "out of its own range", false},
    };
    cr_redirect_stderr();
    cr_assert_null(tr_config_new(bad, 1, "X_"));
}

Test(config, empty_schema)
{
    tr_config_t *c = tr_config_new(NULL, 0, NULL);
    cr_assert_not_null(c);
    char *const env[] = {"X=1", NULL};
    cr_assert_eq(tr_config_load_env(c, env, NULL, err, sizeof err), 0, "no prefix: env is ignored");
    tr_config_destroy(&c);
    tr_config_destroy(&c); /* NULL is fine */
    tr_config_destroy(NULL);
}

Test(config, file_with_comments_quotes_and_blank_lines)
{
    const char *p = write_text("# a comment\n"
                               "\n"
                               "   \n"
                               "  # an indented comment\n"
                               "workers = 8\n"
                               "\thttp_addr=0.0.0.0:9000   \n"
                               "debug = yes\r\n" /* CRLF */
                               "log_level = \"warn\"\n"
                               "greeting = \"  spaced # not a comment = fine  \"\n"
                               "agent_model = a=b\n"
                               "api_pin = 1234"); /* no final newline */
    cr_assert_eq(tr_config_load_file(cfg, p, false, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tr_config_int(cfg, "workers"), 8);
    cr_assert_str_eq(tr_config_str(cfg, "http_addr"), "0.0.0.0:9000");
    cr_assert_eq(tr_config_bool(cfg, "debug"), true);
    cr_assert_str_eq(tr_config_str(cfg, "log_level"), "warn");
    cr_assert_str_eq(tr_config_str(cfg, "greeting"), "  spaced # not a comment = fine  ");
    cr_assert_str_eq(tr_config_str(cfg, "agent_model"), "a=b", "only the first '=' separates");
    cr_assert_eq(tr_config_int(cfg, "api_pin"), 1234);

    char want[128];
    snprintf(want, sizeof want, "file:%s:5", p);
    cr_assert_str_eq(tr_config_source(cfg, "workers"), want);
    snprintf(want, sizeof want, "file:%s:11", p);
    cr_assert_str_eq(tr_config_source(cfg, "api_pin"), want);
}

Test(config, empty_quotes_and_later_lines_win)
{
    const char *p = write_text("http_addr = \"\"\nworkers = 2\nworkers = 3\n");
    cr_assert_eq(tr_config_load_file(cfg, p, false, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(tr_config_str(cfg, "http_addr"), "");
    cr_assert_eq(tr_config_int(cfg, "workers"), 3);
}

Test(config, utf8_bom_is_ignored)
{
    const char *p = write_text("\xef\xbb\xbfworkers = 5\n");
    cr_assert_eq(tr_config_load_file(cfg, p, false, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tr_config_int(cfg, "workers"), 5);
}

Test(config, env_overrides_file)
{
    const char *p = write_text("workers = 8\nlog_level = warn\n");
    cr_assert_eq(tr_config_load_file(cfg, p, false, err, sizeof err), 0, "%s", err);
    char *const env[] = {"PATH=/bin", "TROUPE_WORKERS=16", "HOME=/root", "OTHER_WORKERS=2", NULL};
    cr_assert_eq(tr_config_load_env(cfg, env, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tr_config_int(cfg, "workers"), 16, "env beats the file");
    assert_has(tr_config_source(cfg, "workers"), "env");
    assert_has(tr_config_source(cfg, "workers"), "TROUPE_WORKERS");
    cr_assert_str_eq(tr_config_str(cfg, "log_level"), "warn", "file value kept where env is silent");
    cr_assert_str_eq(tr_config_source(cfg, "debug"), "default");
}

Test(config, env_values_are_validated_and_named)
{
    char *const env[] = {"TROUPE_DEBUG=maybe", NULL};
    cr_assert_eq(tr_config_load_env(cfg, env, NULL, err, sizeof err), TR_ECONFIG);
    assert_has(err, "TROUPE_DEBUG");
    assert_has(err, "debug");
    cr_assert_eq(tr_config_bool(cfg, "debug"), false, "a bad value changes nothing");
}

Test(config, env_unknown_variable_is_an_error)
{
    char *const env[] = {"TROUPE_WORKRES=3", NULL}; /* a typo must not pass silently */
    cr_assert_eq(tr_config_load_env(cfg, env, NULL, err, sizeof err), TR_ECONFIG);
    assert_has(err, "TROUPE_WORKRES");
    char *const bare[] = {"TROUPE_=3", NULL};
    cr_assert_eq(tr_config_load_env(cfg, bare, NULL, err, sizeof err), TR_ECONFIG);
    char longname[300];
    memset(longname, 'X', sizeof longname);
    memcpy(longname, "TROUPE_", 7);
    strcpy(longname + 250, "=1");
    char *const lng[] = {longname, NULL};
    cr_assert_eq(tr_config_load_env(cfg, lng, NULL, err, sizeof err), TR_ECONFIG);
}

Test(config, env_allowed_prefixes)
{
    static const char *const allow[] = {"TROUPE_AGENT_", "TROUPE_CONFIG=", NULL};
    char *const env[] = {"TROUPE_AGENT_TEMPERATURE=0.2", "TROUPE_CONFIG=/etc/troupe.conf",
                         "TROUPE_AGENT_MODEL=large", /* allowed and in the schema: still applied */
                         "TROUPE_AGENT_=x", NULL};
    cr_assert_eq(tr_config_load_env(cfg, env, allow, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(tr_config_str(cfg, "agent_model"), "large");
    /* an allowed prefix does not excuse other unknown names */
    char *const env2[] = {"TROUPE_CONFIGX=1", NULL};
    cr_assert_eq(tr_config_load_env(cfg, env2, allow, err, sizeof err), TR_ECONFIG);
    assert_has(err, "TROUPE_CONFIGX");
    /* a value under an allowed prefix that names a key is still validated */
    char *const env3[] = {"TROUPE_AGENT_MODEL=this model name is far longer than thirty-two bytes", NULL};
    cr_assert_eq(tr_config_load_env(cfg, env3, allow, err, sizeof err), TR_ECONFIG);
    assert_has(err, "agent_model");
}

Test(config, env_keys_are_case_folded)
{
    char *const env[] = {"TROUPE_LOG_LEVEL=debug", "TROUPE_HTTP_ADDR=[::1]:80", NULL};
    cr_assert_eq(tr_config_load_env(cfg, env, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(tr_config_str(cfg, "log_level"), "debug");
    cr_assert_str_eq(tr_config_str(cfg, "http_addr"), "[::1]:80");
}

/* ---- file errors name the key, the file and the line ---- */

static void file_error(const char *text, const char *const *needles)
{
    const char *p = write_text(text);
    cr_assert_eq(tr_config_load_file(cfg, p, false, err, sizeof err), TR_ECONFIG, "accepted: %s", text);
    assert_has(err, p);
    for (; *needles; needles++)
        assert_has(err, *needles);
}

Test(config, unknown_key)
{
    file_error("workers = 2\n\nbogus_key = 1\n", (const char *[]){"bogus_key", ":3", NULL});
}

Test(config, bad_int)
{
    file_error("workers = many\n", (const char *[]){"workers", "many", "integer", NULL});
    file_error("workers = 4x\n", (const char *[]){"workers", NULL});
    file_error("workers =\n", (const char *[]){"workers", NULL});
    file_error("workers = 99999999999999999999999\n", (const char *[]){"workers", NULL});
}

Test(config, int_out_of_range)
{
    file_error("workers = 0\n", (const char *[]){"workers", "1..64", NULL});
    file_error("workers = 65\n", (const char *[]){"workers", "1..64", NULL});
    file_error("workers = -3\n", (const char *[]){"workers", NULL});
    const char *p = write_text("workers = 64\n");
    cr_assert_eq(tr_config_load_file(cfg, p, false, err, sizeof err), 0, "the maximum itself is in range");
    cr_assert_eq(tr_config_int(cfg, "workers"), 64);
}

Test(config, bad_bool)
{
    file_error("debug = enabled\n", (const char *[]){"debug", "enabled", NULL});
}

Test(config, bad_enum)
{
    file_error("log_level = verbose\n", (const char *[]){"log_level", "verbose", "debug|info|warn|error", NULL});
    file_error("log_level = inf\n", (const char *[]){"log_level", NULL}); /* a prefix is not a choice */
    file_error("log_level = INFO\n", (const char *[]){"log_level", NULL});
    file_error("log_level = info|warn\n", (const char *[]){"log_level", NULL});
}

Test(config, string_limits)
{
    file_error("http_addr = 0123456789012345678901234567890123456789012345678901234567890123456789\n",
               (const char *[]){"http_addr", "64", NULL});
    file_error("greeting = a\x01z\n", (const char *[]){"greeting", "control", NULL});
}

Test(config, missing_key_value_separator)
{
    file_error("workers 4\n", (const char *[]){":1", "key = value", NULL});
}

Test(config, missing_explicit_file)
{
    const char *p = "/nonexistent/troupe-test.conf";
    cr_assert_eq(tr_config_load_file(cfg, p, false, err, sizeof err), TR_ECONFIG);
    assert_has(err, p);
    err[0] = '\0';
    cr_assert_eq(tr_config_load_file(cfg, p, true, err, sizeof err), 0, "an optional file may be absent");
}

Test(config, unreadable_file_is_an_error)
{
    /* fopen succeeds on a directory and the first read fails: that must not
     * pass as an empty file, and `optional` only excuses absence */
    cr_assert_eq(tr_config_load_file(cfg, "/tmp", false, err, sizeof err), TR_ECONFIG);
    assert_has(err, "/tmp");
    cr_assert_eq(tr_config_load_file(cfg, "/tmp", true, err, sizeof err), TR_ECONFIG);
}

Test(config, line_length_limit)
{
    /* 4096 bytes of content is the limit; the newline does not count */
    size_t max = 4096;
    char *text = malloc(max + 64);
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(text, max + 64, "greeting = ");
        while (n < max + extra)
            text[n++] = 'g';
        text[n++] = '\n';
        text[n++] = 'w';
        text[n++] = 'o';
        text[n++] = 'r';
        text[n++] = 'k';
        text[n++] = 'e';
        text[n++] = 'r';
        text[n++] = 's';
        text[n++] = '=';
        text[n++] = '9';
        text[n++] = '\n';
        const char *p = write_file(text, n);
        int rc = tr_config_load_file(cfg, p, false, err, sizeof err);
        if (extra == 0) {
            cr_assert_eq(rc, 0, "a line of exactly 4096 bytes: %s", err);
            cr_assert_eq(strlen(tr_config_str(cfg, "greeting")), max - strlen("greeting = "));
            cr_assert_eq(tr_config_int(cfg, "workers"), 9);
        } else {
            cr_assert_eq(rc, TR_ECONFIG, "a line of 4097 bytes");
            assert_has(err, ":1:");
            assert_has(err, "longer");
        }
        unlink(p);
        path[0] = '\0';
    }
    free(text);
}

Test(config, huge_line_is_rejected_not_split)
{
    /* a 10000-byte line must not be read as several lines */
    char *text = malloc(10100);
    size_t n = (size_t)snprintf(text, 10100, "greeting = ");
    while (n < 5000)
        text[n++] = 'x';
    n += (size_t)snprintf(text + n, 10100 - n, "workers=9");
    while (n < 10000)
        text[n++] = 'x';
    text[n++] = '\n';
    const char *p = write_file(text, n);
    cr_assert_eq(tr_config_load_file(cfg, p, false, err, sizeof err), TR_ECONFIG);
    cr_assert_eq(tr_config_int(cfg, "workers"), 4);
    free(text);
}

Test(config, secret_values_are_not_echoed)
{
    const char *p = write_text("api_pin = hunter2\n");
    cr_assert_eq(tr_config_load_file(cfg, p, false, err, sizeof err), TR_ECONFIG);
    assert_has(err, "api_pin");
    cr_assert_null(strstr(err, "hunter2"), "secret value leaked into: %s", err);
}

Test(config, set_directly)
{
    cr_assert_eq(tr_config_set(cfg, "workers", "7", "cli", err, sizeof err), 0);
    cr_assert_eq(tr_config_int(cfg, "workers"), 7);
    cr_assert_str_eq(tr_config_source(cfg, "workers"), "cli");
    cr_assert_eq(tr_config_set(cfg, "nope", "7", "cli", err, sizeof err), TR_ECONFIG);
    assert_has(err, "nope");
    assert_has(err, "cli");
}

Test(config, parse_bool_words)
{
    static const char *yes[] = {"on", "true", "yes", "1", "ON", "True", "YES"};
    static const char *no[] = {"off", "false", "no", "0", "OFF", "False"};
    static const char *neither[] = {"", "2", "y", "n", "enable", "on ", " off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        cr_assert_eq(tr_config_parse_bool(yes[i]), 1, "%s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        cr_assert_eq(tr_config_parse_bool(no[i]), 0, "%s", no[i]);
    for (size_t i = 0; i < sizeof neither / sizeof neither[0]; i++)
        cr_assert_eq(tr_config_parse_bool(neither[i]), -1, "'%s'", neither[i]);
}

Test(config, getter_on_unknown_key_aborts, .signal = SIGABRT)
{
    cr_redirect_stderr();
    tr_config_str(cfg, "not_in_schema");
}
