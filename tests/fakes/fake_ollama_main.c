/* fake_ollama_main.c - the fake Ollama server as a standalone binary.
 *
 *   fake_ollama [--port N] [--latency-ms N] [--token-delay-ms N] [--fail-rate 0..1]
 *               [--fail-rate-status S] [--fail-status S [--fail-count N]] [--hang]
 *               [--drop-mid-stream] [--models a,b,...] [--embed-dim N]
 *               [--max-body BYTES] [--seed N] [--real-time]
 *
 * Prints "listening on 127.0.0.1:PORT" once it serves, then serves until
 * SIGTERM or SIGINT. Faults can be changed while it runs through
 * POST /_fake/config (see fake_ollama.h). */
#include "fake_ollama.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *to)
{
    fprintf(to, "usage: fake_ollama [--port N] [--latency-ms N] [--token-delay-ms N] [--fail-rate 0..1]\n"
                "                   [--fail-rate-status S] [--fail-status S [--fail-count N]] [--hang]\n"
                "                   [--drop-mid-stream] [--models a,b,...] [--embed-dim N] [--max-body BYTES]\n"
                "                   [--seed N] [--real-time]\n"
                "Serves a deterministic fake Ollama API on 127.0.0.1 until SIGTERM/SIGINT\n"
                "(port 0 = any free port; default 0). Default models: " FAKE_OLLAMA_DEFAULT_MODELS ".\n");
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    fake_ollama_opts_t o;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        bool ok = true, takes = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--hang") == 0) {
            o.faults.hang = true;
            takes = false;
        } else if (strcmp(a, "--drop-mid-stream") == 0) {
            o.faults.drop_mid_stream = true;
            takes = false;
        } else if (strcmp(a, "--real-time") == 0) {
            o.real_time = true;
            takes = false;
        } else if (!v) {
            ok = false;
        } else if (strcmp(a, "--port") == 0) {
            ok = parse_long(v, 0, 65535, &n) && ((o.port = (uint16_t)n), true);
        } else if (strcmp(a, "--latency-ms") == 0) {
            ok = parse_long(v, 0, 3600000, &n) && ((o.faults.latency_ms = (int)n), true);
        } else if (strcmp(a, "--token-delay-ms") == 0) {
            ok = parse_long(v, 0, 3600000, &n) && ((o.faults.token_delay_ms = (int)n), true);
        } else if (strcmp(a, "--fail-status") == 0) {
            ok = parse_long(v, 400, 599, &n) && ((o.faults.fail_status = (int)n), true);
        } else if (strcmp(a, "--fail-count") == 0) {
            ok = parse_long(v, 0, INT_MAX, &n) && ((o.faults.fail_count = (int)n), true);
        } else if (strcmp(a, "--fail-rate-status") == 0) {
            ok = parse_long(v, 400, 599, &n) && ((o.faults.fail_rate_status = (int)n), true);
        } else if (strcmp(a, "--embed-dim") == 0) {
            ok = parse_long(v, 1, 65536, &n) && ((o.embed_dim = (int)n), true);
        } else if (strcmp(a, "--max-body") == 0) {
            ok = parse_long(v, 1, LONG_MAX, &n) && ((o.max_body = (size_t)n), true);
        } else if (strcmp(a, "--seed") == 0) {
            ok = parse_long(v, 0, LONG_MAX, &n) && ((o.seed = (uint64_t)n), true);
        } else if (strcmp(a, "--models") == 0) {
            o.models = v;
        } else if (strcmp(a, "--fail-rate") == 0) {
            char *end;
            double r = strtod(v, &end);
            ok = end != v && !*end && r >= 0 && r <= 1;
            o.faults.fail_rate = ok ? r : 0;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "fake_ollama: bad or incomplete option %s%s%s\n", a, v && takes ? " " : "",
                    v && takes ? v : "");
            usage(stderr);
            return 2;
        }
        if (takes)
            i++;
    }

    /* block the stop signals before MHD starts its threads, so they inherit
     * the mask and only sigwait() below sees them */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    fake_ollama_t *fo;
    int port = fake_ollama_start(&fo, &o);
    if (port < 0) {
        fprintf(stderr, "fake_ollama: cannot listen on 127.0.0.1:%u\n", (unsigned)o.port);
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    int sig = 0;
    while (sigwait(&stop, &sig) != 0) {
    }
    fake_ollama_stop(fo);
    return 0;
}
