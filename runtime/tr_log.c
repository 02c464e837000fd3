/* tr_log.c - JSON-lines logger (see tr_log.h). */
#include "tr_log.h"
#include "tr_clock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int g_level = TR_LOG_INFO;
static atomic_int g_fd = 1;
static _Thread_local char t_actor[64];
static _Thread_local char t_trace[33];
static _Thread_local char t_span[17];

void tr_log_set_level(tr_log_level_t level)
{
    atomic_store(&g_level, (int)level);
}

tr_log_level_t tr_log_get_level(void)
{
    return (tr_log_level_t)atomic_load(&g_level);
}

void tr_log_set_fd(int fd)
{
    atomic_store(&g_fd, fd);
}

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

int tr_log_level_parse(const char *s)
{
    for (int i = 0; i <= TR_LOG_OFF; i++)
        if (s && strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void tr_log_set_thread_actor(const char *actor)
{
    if (!actor)
        actor = "";
    size_t n = strlen(actor);
    if (n >= sizeof t_actor)
        n = sizeof t_actor - 1;
    memcpy(t_actor, actor, n);
    t_actor[n] = '\0';
}

void tr_log_set_thread_span(const char *span_id_hex)
{
    size_t n = span_id_hex ? strnlen(span_id_hex, 16) : 0;
    memcpy(t_span, span_id_hex ? span_id_hex : "", n);
    t_span[n] = '\0';
}

void tr_log_set_thread_trace(const char *trace_id_hex)
{
    if (!trace_id_hex) {
        t_trace[0] = '\0';
        t_span[0] = '\0';
        return;
    }
    size_t n = strnlen(trace_id_hex, 32);
    memcpy(t_trace, trace_id_hex, n);
    t_trace[n] = '\0';
}

/* Length of a valid UTF-8 sequence at s, or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned min;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        min = 0x80;
        c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        min = 0x800;
        c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return n;
}

/* tr_json_escape, also telling whether all of s fit. */
static size_t escape(char *buf, size_t len, size_t cap, const char *s, bool *whole)
{
    static const char hexd[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        char esc[8];
        size_t n = 0;
        const char *src = esc;
        unsigned c = *p;
        size_t adv = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c == '\n') {
            memcpy(esc, "\\n", 2);
            n = 2;
        } else if (c == '\t') {
            memcpy(esc, "\\t", 2);
            n = 2;
        } else if (c == '\r') {
            memcpy(esc, "\\r", 2);
            n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hexd[c >> 4];
            esc[5] = hexd[c & 15];
            n = 6;
        } else if (c < 0x80) {
            esc[0] = (char)c;
            n = 1;
        } else {
            adv = utf8_len(p);
            if (adv == 0) { /* invalid byte → U+FFFD */
                memcpy(esc, "\\ufffd", 6);
                n = 6;
                adv = 1;
            } else {
                src = (const char *)p;
                n = adv;
            }
        }
        if (len + n >= cap)
            break;
        memcpy(buf + len, src, n);
        len += n;
        p += adv;
    }
    *whole = *p == '\0';
    buf[len < cap ? len : cap - 1] = '\0';
    return len;
}

size_t tr_json_escape(char *buf, size_t len, size_t cap, const char *s)
{
    bool whole;
    return escape(buf, len, cap, s, &whole);
}

static size_t put(char *buf, size_t len, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (len + n >= cap)
        n = cap - len - 1;
    memcpy(buf + len, s, n);
    len += n;
    buf[len] = '\0';
    return len;
}

/* Appends ,"k":"v" so that the line stays one valid object however long v
 * is: the value is cut to what fits (keeping room for its closing quote),
 * and a field whose key does not fit whole is left out. */
static size_t field(char *buf, size_t len, size_t cap, const char *k, const char *v)
{
    size_t start = len;
    bool whole;
    if (cap - len < 8) /* ,"k":"" */
        goto drop;
    len = put(buf, len, cap, ",\"");
    len = escape(buf, len, cap - 4, k, &whole); /* room for ":" and " */
    if (!whole)
        goto drop;
    len = put(buf, len, cap, "\":\"");
    len = escape(buf, len, cap - 1, v, &whole); /* room for the closing " */
    return put(buf, len, cap, "\"");
drop:
    buf[start] = '\0';
    return start;
}

static void emit(tr_log_level_t level, const char *msg, va_list *kv)
{
    char line[4096];
    size_t cap = sizeof line - 2; /* room for "}\n" */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t len = (size_t)snprintf(line, cap, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
                                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                  tm.tm_sec, ts.tv_nsec / 1000000L, level_names[level]);
    if (t_actor[0])
        len = field(line, len, cap, "actor", t_actor);
    len = field(line, len, cap, "msg", msg);
    if (t_trace[0])
        len = field(line, len, cap, "trace_id", t_trace);
    if (t_trace[0] && t_span[0])
        len = field(line, len, cap, "span_id", t_span);
    if (kv) {
        const char *k;
        while ((k = va_arg(*kv, const char *)) != NULL) {
            const char *v = va_arg(*kv, const char *);
            len = field(line, len, cap, k, v ? v : "");
        }
    }
    line[len++] = '}';
    line[len++] = '\n';
    ssize_t w = write(atomic_load(&g_fd), line, len);
    (void)w; /* a logger has nowhere to report its own failure */
}

void tr_log(tr_log_level_t level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&g_level) || level >= TR_LOG_OFF)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap); /* Flawfinder: ignore (printf-like: format attribute) */
    va_end(ap);
    emit(level, msg, NULL);
}

void tr_logkv(tr_log_level_t level, const char *msg, ...)
{
    if ((int)level < atomic_load(&g_level) || level >= TR_LOG_OFF)
        return;
    va_list ap;
    va_start(ap, msg);
    emit(level, msg, &ap);
    va_end(ap);
}
