/* tr_log.h - JSON-lines logger shared by every actor.
 *
 * One line per event: {"ts":"2026-11-27T01:02:03.456Z","level":"info",
 * "actor":"store","msg":"...","trace_id":"...", ...extra fields}. The actor
 * name and trace id come from the calling thread's current message, so
 * handlers need not pass them. Lines are written whole (one write per line)
 * so concurrent actors never interleave. Never log secrets or user content. */
#ifndef TR_LOG_H
#define TR_LOG_H

#include <stdarg.h>
#include <stdio.h>

typedef enum tr_log_level {
    TR_LOG_DEBUG = 0,
    TR_LOG_INFO = 1,
    TR_LOG_WARN = 2,
    TR_LOG_ERROR = 3,
    TR_LOG_OFF = 4
} tr_log_level_t;

/* Process-wide settings (the logger is shared, like stderr). Default: info,
 * to stdout. `fd` is a file descriptor; lines go out with one write(2). */
void tr_log_set_level(tr_log_level_t level);
tr_log_level_t tr_log_get_level(void);
void tr_log_set_fd(int fd);
/* "debug" | "info" | "warn" | "error" | "off" → level; -1 if unknown. */
int tr_log_level_parse(const char *s);

/* Context for the calling thread (set by the runtime around each message). */
void tr_log_set_thread_actor(const char *actor);
void tr_log_set_thread_trace(const char *trace_id_hex); /* NULL clears (the span too) */
void tr_log_set_thread_span(const char *span_id_hex);   /* the span being handled */

/* msg is printf-style. `fields` are extra key/value string pairs ending with
 * NULL: tr_logkv(TR_LOG_INFO, "started", "addr", "127.0.0.1:8080", NULL).
 * A line is at most 4096 bytes (one atomic write); longer values are cut,
 * and the line is still one valid JSON object. */
void tr_log(tr_log_level_t level, const char *msg, ...) __attribute__((format(printf, 2, 3)));
void tr_logkv(tr_log_level_t level, const char *msg, ...) __attribute__((sentinel)); /* msg, then k,v,...,NULL */

#define TR_DEBUG(...) tr_log(TR_LOG_DEBUG, __VA_ARGS__)
#define TR_INFO(...) tr_log(TR_LOG_INFO, __VA_ARGS__)
#define TR_WARN(...) tr_log(TR_LOG_WARN, __VA_ARGS__)
#define TR_ERROR(...) tr_log(TR_LOG_ERROR, __VA_ARGS__)

/* Appends s as a JSON string body (no quotes) into buf; returns new length,
 * never writing past cap. Control characters and invalid UTF-8 are escaped. */
size_t tr_json_escape(char *buf, size_t len, size_t cap, const char *s);

#endif
