/* test_log.c - the JSON-lines logger: every line is strict JSON with ts,
 * level and msg (plus actor/trace_id when set), hostile text is escaped,
 * levels filter, and long or concurrent lines stay whole. */
#include "tr_log.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a strict parser for the flat {"k":"v",...} objects the logger writes ---- */

#define MAX_FIELDS 16

typedef struct {
    char key[64];
    char val[8192]; /* decoded */
} kv_t;

typedef struct {
    kv_t f[MAX_FIELDS];
    int n;
} obj_t;

static size_t utf8_valid(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return n;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    out[0] = (char)(0xe0 | cp >> 12);
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

/* Parses a JSON string at *p (after the opening quote) into out; false if
 * it is not valid JSON (raw control character, bad escape, bad UTF-8). */
static bool parse_string(const char **p, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    const char *s = *p;
    while (s < end && *s != '"') {
        unsigned char c = (unsigned char)*s;
        if (n + 4 >= cap)
            return false;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            s++;
            if (s >= end)
                return false;
            switch (*s) {
            case '"':
                out[n++] = '"';
                break;
            case '\\':
                out[n++] = '\\';
                break;
            case '/':
                out[n++] = '/';
                break;
            case 'b':
                out[n++] = '\b';
                break;
            case 'f':
                out[n++] = '\f';
                break;
            case 'n':
                out[n++] = '\n';
                break;
            case 'r':
                out[n++] = '\r';
                break;
            case 't':
                out[n++] = '\t';
                break;
            case 'u': {
                if (end - s < 5)
                    return false;
                unsigned cp = 0;
                for (int i = 1; i <= 4; i++) {
                    char h = s[i];
                    int d = h >= '0' && h <= '9'   ? h - '0'
                            : h >= 'a' && h <= 'f' ? h - 'a' + 10
                            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                   : -1;
                    if (d < 0)
                        return false;
                    cp = cp * 16 + (unsigned)d;
                }
                if (cp >= 0xd800 && cp <= 0xdfff)
                    return false; /* the logger never needs surrogates */
                n += put_utf8(out + n, cp);
                s += 4;
                break;
            }
            default:
                return false;
            }
            s++;
            continue;
        }
        size_t u = utf8_valid((const unsigned char *)s, (size_t)(end - s));
        if (u == 0)
            return false;
        memcpy(out + n, s, u);
        n += u;
        s += u;
    }
    if (s >= end)
        return false;
    out[n] = '\0';
    *p = s + 1;
    return true;
}

/* Parses one line (without its newline) as a flat object of strings. */
static bool parse_obj(const char *line, size_t len, obj_t *o)
{
    const char *p = line, *end = line + len;
    o->n = 0;
    if (p >= end || *p++ != '{')
        return false;
    for (;;) {
        if (o->n == MAX_FIELDS || p >= end || *p++ != '"')
            return false;
        kv_t *f = &o->f[o->n++];
        if (!parse_string(&p, end, f->key, sizeof f->key))
            return false;
        if (p >= end || *p++ != ':' || p >= end || *p++ != '"')
            return false;
        if (!parse_string(&p, end, f->val, sizeof f->val))
            return false;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        return p < end && *p == '}' && p + 1 == end;
    }
}

static const char *get(const obj_t *o, const char *key)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->f[i].key, key) == 0)
            return o->f[i].val;
    return NULL;
}

/* ---- capture: the logger writes to a temp file we read back ---- */

static FILE *cap_file;
static char *cap_text;

static void setup(void)
{
    cap_file = tmpfile();
    cr_assert_not_null(cap_file);
    tr_log_set_fd(fileno(cap_file));
    tr_log_set_level(TR_LOG_DEBUG);
    tr_log_set_thread_actor(NULL);
    tr_log_set_thread_trace(NULL);
}

static void teardown(void)
{
    free(cap_text);
    cap_text = NULL;
    tr_log_set_fd(1);
    fclose(cap_file);
}

TestSuite(log, .init = setup, .fini = teardown);

/* Reads everything logged so far; checks every line is a whole, valid JSON
 * object with ts/level/msg; returns the number of lines and parses up to
 * `max` of them into objs. */
static int read_lines(obj_t *objs, int max)
{
    free(cap_text);
    long size = lseek(fileno(cap_file), 0, SEEK_END);
    cr_assert_geq(size, 0);
    cap_text = malloc((size_t)size + 1);
    cr_assert_eq(pread(fileno(cap_file), cap_text, (size_t)size, 0), size);
    cap_text[size] = '\0';
    cr_assert(size == 0 || cap_text[size - 1] == '\n', "output ends mid-line");
    int n = 0;
    static obj_t scratch;
    for (char *line = cap_text; *line;) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl);
        obj_t *o = n < max ? &objs[n] : &scratch;
        cr_assert(parse_obj(line, (size_t)(nl - line), o), "line %d is not valid JSON: %.*s", n,
                  (int)(nl - line > 300 ? 300 : nl - line), line);
        cr_assert_leq(nl - line + 1, 4096, "line longer than one atomic write");
        cr_assert_eq(strcmp(o->f[0].key, "ts"), 0, "ts comes first");
        cr_assert_not_null(get(o, "level"));
        cr_assert_not_null(get(o, "msg"));
        n++;
        line = nl + 1;
    }
    return n;
}

Test(log, line_has_ts_level_msg)
{
    tr_log(TR_LOG_INFO, "hello %s %d", "world", 42);
    obj_t o[2];
    cr_assert_eq(read_lines(o, 2), 1);
    cr_assert_str_eq(get(&o[0], "level"), "info");
    cr_assert_str_eq(get(&o[0], "msg"), "hello world 42");
    cr_assert_null(get(&o[0], "actor"), "no actor field when unset");
    cr_assert_null(get(&o[0], "trace_id"), "no trace_id field when unset");
    /* ts: 2026-11-27T01:02:03.456Z */
    const char *ts = get(&o[0], "ts");
    cr_assert_eq(strlen(ts), 24, "ts '%s'", ts);
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (int i = 0; i < 24; i++) {
        if (shape[i] == 'd')
            cr_assert(ts[i] >= '0' && ts[i] <= '9', "ts '%s' at %d", ts, i);
        else
            cr_assert_eq(ts[i], shape[i], "ts '%s' at %d", ts, i);
    }
}

Test(log, actor_and_trace_fields)
{
    tr_log_set_thread_actor("store");
    tr_log_set_thread_trace("4bf92f3577b34da6a3ce929d0e0e4736");
    TR_WARN("disk at %d%%", 91);
    tr_log_set_thread_trace(NULL);
    TR_ERROR("no trace now");
    tr_log_set_thread_actor("");
    TR_INFO("no actor either");
    obj_t o[3];
    cr_assert_eq(read_lines(o, 3), 3);
    cr_assert_str_eq(get(&o[0], "level"), "warn");
    cr_assert_str_eq(get(&o[0], "actor"), "store");
    cr_assert_str_eq(get(&o[0], "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    cr_assert_str_eq(get(&o[0], "msg"), "disk at 91%");
    cr_assert_str_eq(get(&o[1], "level"), "error");
    cr_assert_str_eq(get(&o[1], "actor"), "store");
    cr_assert_null(get(&o[1], "trace_id"));
    cr_assert_null(get(&o[2], "actor"));
}

static void *other_thread(void *arg)
{
    (void)arg;
    TR_INFO("from another thread");
    return NULL;
}

Test(log, context_is_per_thread)
{
    tr_log_set_thread_actor("main-actor");
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    obj_t o[1];
    cr_assert_eq(read_lines(o, 1), 1);
    cr_assert_null(get(&o[0], "actor"), "another thread's actor leaked in");
}

Test(log, extra_fields)
{
    tr_logkv(TR_LOG_INFO, "started", "addr", "127.0.0.1:8080", "mode", NULL, "q\"k", "v\nv", NULL);
    obj_t o[1];
    cr_assert_eq(read_lines(o, 1), 1);
    cr_assert_str_eq(get(&o[0], "msg"), "started");
    cr_assert_str_eq(get(&o[0], "addr"), "127.0.0.1:8080");
    cr_assert_str_eq(get(&o[0], "mode"), "", "a NULL value is an empty string");
    cr_assert_str_eq(get(&o[0], "q\"k"), "v\nv", "keys are escaped too");
}

Test(log, escaping_quotes_and_control_characters)
{
    const char *msg = "say \"hi\" \\ back\nslash\ttab\rcr \x01\x1f\x7f end";
    tr_log(TR_LOG_INFO, "%s", msg);
    tr_logkv(TR_LOG_INFO, msg, "k", msg, NULL); /* msg not a format in tr_logkv */
    obj_t o[2];
    cr_assert_eq(read_lines(o, 2), 2);
    cr_assert_str_eq(get(&o[0], "msg"), msg);
    cr_assert_str_eq(get(&o[1], "msg"), msg);
    cr_assert_str_eq(get(&o[1], "k"), msg);
    cr_assert_null(strchr(cap_text, '\t'), "raw tab in output");
    cr_assert_null(strchr(cap_text, '\r'), "raw CR in output");
}

Test(log, escaping_utf8)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80"}, /* valid: passes through */
        {"a\xff"
         "b",
         "a\xef\xbf\xbd"
         "b"},                                                                    /* invalid byte */
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                                 /* overlong '/' */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},                 /* surrogate */
        {"x\xe2\x82", "x\xef\xbf\xbd\xef\xbf\xbd"},                               /* truncated sequence at end */
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* above U+10FFFF */
        {"\x80", "\xef\xbf\xbd"},                                                 /* lone continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tr_log(TR_LOG_INFO, "%s", cases[i].in);
    obj_t o[8];
    cr_assert_eq(read_lines(o, 8), (int)(sizeof cases / sizeof cases[0]));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_str_eq(get(&o[i], "msg"), cases[i].want, "case %zu", i);
}

Test(log, level_filtering)
{
    tr_log_set_level(TR_LOG_WARN);
    cr_assert_eq(tr_log_get_level(), TR_LOG_WARN);
    TR_DEBUG("d");
    TR_INFO("i");
    tr_logkv(TR_LOG_INFO, "ikv", NULL);
    TR_WARN("w");
    TR_ERROR("e");
    tr_logkv(TR_LOG_ERROR, "ekv", NULL);
    tr_log(TR_LOG_OFF, "off is not a level to log at");
    obj_t o[4];
    cr_assert_eq(read_lines(o, 4), 3);
    cr_assert_str_eq(get(&o[0], "msg"), "w");
    cr_assert_str_eq(get(&o[1], "msg"), "e");
    cr_assert_str_eq(get(&o[2], "msg"), "ekv");

    tr_log_set_level(TR_LOG_OFF);
    TR_ERROR("silenced");
    cr_assert_eq(read_lines(o, 4), 3);

    tr_log_set_level(TR_LOG_DEBUG);
    TR_DEBUG("d2");
    cr_assert_eq(read_lines(o, 4), 4);
    cr_assert_str_eq(get(&o[3], "level"), "debug");
}

Test(log, level_parse)
{
    cr_assert_eq(tr_log_level_parse("debug"), TR_LOG_DEBUG);
    cr_assert_eq(tr_log_level_parse("info"), TR_LOG_INFO);
    cr_assert_eq(tr_log_level_parse("warn"), TR_LOG_WARN);
    cr_assert_eq(tr_log_level_parse("error"), TR_LOG_ERROR);
    cr_assert_eq(tr_log_level_parse("off"), TR_LOG_OFF);
    cr_assert_eq(tr_log_level_parse("INFO"), -1);
    cr_assert_eq(tr_log_level_parse("warning"), -1);
    cr_assert_eq(tr_log_level_parse(""), -1);
    cr_assert_eq(tr_log_level_parse(NULL), -1);
}

Test(log, long_lines_stay_valid_json)
{
    /* messages and fields far over the line buffer, some made of bytes that
     * grow sixfold when escaped: the line is cut, but stays one valid object */
    char *big = malloc(10000);
    memset(big, 'a', 9999);
    big[9999] = '\0';
    char *ctl = malloc(3000);
    memset(ctl, 0x01, 2999);
    ctl[2999] = '\0';
    tr_log_set_thread_actor("a-long-actor-name-that-is-longer-than-sixty-four-bytes-for-sure-yes");
    tr_log(TR_LOG_INFO, "%s", big);
    tr_log(TR_LOG_INFO, "%s", ctl);
    tr_logkv(TR_LOG_INFO, "short", "k", big, NULL);
    tr_logkv(TR_LOG_INFO, "short", "k1", ctl, "k2", big, "k3", "v3", NULL);
    tr_logkv(TR_LOG_INFO, big, "k", "v", NULL);
    for (int pad = 0; pad < 40; pad++) { /* a cut at every offset around the end */
        big[4000 + pad] = '\0';
        tr_logkv(TR_LOG_INFO, "m", "k", big, "x\"", "\"\"\"\"\"\"\"\"", NULL);
        big[4000 + pad] = 'a';
    }
    obj_t *o = calloc(50, sizeof *o);
    cr_assert_eq(read_lines(o, 50), 45);
    cr_assert_eq(strncmp(get(&o[0], "msg"), "aaaa", 4), 0);
    cr_assert_eq(strlen(get(&o[0], "actor")), 63, "actor names are cut at 63 bytes");
    free(o);
    free(ctl);
    free(big);
}

/* ---- concurrency: one write per line ---- */

static void *spam(void *arg)
{
    char name[16];
    snprintf(name, sizeof name, "actor%d", (int)(intptr_t)arg);
    tr_log_set_thread_actor(name);
    for (int i = 0; i < 500; i++)
        tr_logkv(TR_LOG_INFO, "tick", "payload", "0123456789012345678901234567890123456789", NULL);
    return NULL;
}

Test(log, concurrent_lines_never_interleave)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, spam, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(read_lines(NULL, 0), 2000); /* every line parsed whole */
}

Test(log, pipe_output)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    tr_log_set_fd(fds[1]);
    tr_log_set_thread_actor("p");
    TR_INFO("through a pipe");
    tr_log_set_fd(fileno(cap_file));
    close(fds[1]);
    char buf[512];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    cr_assert_gt(n, 0);
    cr_assert_eq(buf[n - 1], '\n');
    obj_t o;
    cr_assert(parse_obj(buf, (size_t)n - 1, &o));
    cr_assert_str_eq(get(&o, "msg"), "through a pipe");
    cr_assert_str_eq(get(&o, "actor"), "p");
}

/* ---- tr_json_escape directly ---- */

Test(log_escape, never_writes_past_cap_or_splits_a_sequence)
{
    const char *in = "ab\"\x01\xc3\xa9\xf0\x9f\x98\x80\xff\\z";
    for (size_t cap = 1; cap < 40; cap++) {
        char *buf = malloc(cap); /* exact size: ASan sees any overrun */
        size_t n = tr_json_escape(buf, 0, cap, in);
        cr_assert_lt(n, cap, "cap %zu", cap);
        cr_assert_eq(buf[n], '\0');
        cr_assert_eq(strlen(buf), n);
        /* what was written is a valid JSON string body */
        char body[64], dec[64];
        snprintf(body, sizeof body, "%s\"", buf);
        const char *p = body;
        cr_assert(parse_string(&p, body + strlen(body), dec, sizeof dec), "cap %zu: '%s'", cap, buf);
        free(buf);
    }
    char full[64];
    size_t n = tr_json_escape(full, 0, sizeof full, in);
    cr_assert_str_eq(full, "ab\\\"\\u0001\xc3\xa9\xf0\x9f\x98\x80\\ufffd\\\\z");
    cr_assert_eq(n, strlen(full));
    /* appends at len */
    memcpy(full, "xy", 2);
    n = tr_json_escape(full, 2, sizeof full, "\n");
    cr_assert_str_eq(full, "xy\\n");
    cr_assert_eq(tr_json_escape(full, 0, sizeof full, NULL), 0);
}
