/* text.c - the rule-based parts of the agents: routing by keywords,
 * splitting explicit multi-part tasks, extractive sentence selection. */
#include "agent.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int count_any(const char *lower, const char *const *words)
{
    int n = 0;
    for (const char *const *w = words; *w; w++)
        if (strstr(lower, *w))
            n++;
    return n;
}

static char *lowercase(const char *s)
{
    char *l = strdup(s ? s : "");
    for (char *p = l; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return l;
}

const char *agent_classify(const char *input, bool has_docs)
{
    static const char *const code_words[] = {"```", "#include", "int main", "def ", "import ", "function",
                                             "compile", "syntax", "review this code", "refactor", "bug",
                                             "segfault", "python", " c code", "snippet", "return ", ");\n", NULL};
    static const char *const sum_words[] = {"summar", "tl;dr", "tldr", "key points", "overview of", "gist", NULL};
    static const char *const doc_words[] = {"according to", "in my doc", "in the doc", "my notes", "my files",
                                            "what does", "what is", "how does", "how do", "why ", "where ",
                                            "when ", "which ", "who ", "explain", "?", NULL};
    json_t *parts = agent_split(input);
    if (parts) {
        json_decref(parts);
        return "coordinator";
    }
    char *l = lowercase(input);
    int code = count_any(l, code_words), sum = count_any(l, sum_words), doc = count_any(l, doc_words);
    free(l);
    if (sum > 0 && sum >= code)
        return "summarizer";
    if (code > 0 && code >= doc)
        return "code_assistant";
    if (doc > 0 || has_docs)
        return "doc_assistant";
    return has_docs ? "summarizer" : "doc_assistant";
}

/* A line item marker: "1.", "2)", "-", "*", "•". */
static const char *item_body(const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    const char *p = line;
    if (isdigit((unsigned char)*p)) {
        while (isdigit((unsigned char)*p))
            p++;
        if (*p == '.' || *p == ')')
            return p + 1;
        return NULL;
    }
    if ((*p == '-' || *p == '*') && p[1] == ' ')
        return p + 2;
    return NULL;
}

static void add_part(json_t *parts, const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= 3)
        json_array_append_new(parts, json_stringn(s, n));
}

json_t *agent_split(const char *input)
{
    if (strstr(input, "```"))
        return NULL; /* code: its lines and semicolons are not sub-tasks */
    json_t *parts = json_array();
    /* 1) explicit list items, one per line */
    const char *p = input;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        const char *body = item_body(line);
        if (body)
            add_part(parts, body, strlen(body));
        p = eol ? eol + 1 : NULL;
    }
    if (json_array_size(parts) >= 2)
        return parts;
    json_array_clear(parts);
    /* 2) "first ...; then ..." or "... and then ..." (prose only) */
    if (strchr(input, '{') || strchr(input, '}') || strchr(input, '\n')) {
        json_decref(parts);
        return NULL;
    }
    const char *seps[] = {"; ", " and then ", " then ", NULL};
    for (int k = 0; seps[k]; k++) {
        if (!strstr(input, seps[k]))
            continue;
        const char *s = input, *hit;
        while ((hit = strstr(s, seps[k]))) {
            add_part(parts, s, (size_t)(hit - s));
            s = hit + strlen(seps[k]);
        }
        add_part(parts, s, strlen(s));
        if (json_array_size(parts) >= 2)
            return parts;
        json_array_clear(parts);
    }
    json_decref(parts);
    return NULL;
}

/* ---- extractive selection ---- */

typedef struct {
    size_t start, end;
    double score;
} sent_t;

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || (unsigned char)c >= 0x80;
}

/* Sentences end at . ! ? followed by space, or at blank lines / headings. */
static size_t split_sentences(const char *t, sent_t *out, size_t max)
{
    size_t n = 0, len = strlen(t), start = 0;
    for (size_t i = 0; i <= len && n < max; i++) {
        bool end = i == len || ((t[i] == '.' || t[i] == '!' || t[i] == '?') && (i + 1 == len || isspace((unsigned char)t[i + 1]))) ||
                   (t[i] == '\n' && i + 1 < len && (t[i + 1] == '\n' || t[i + 1] == '#'));
        if (!end)
            continue;
        size_t s = start, e = i < len ? i + 1 : len;
        while (s < e && isspace((unsigned char)t[s]))
            s++;
        while (e > s && isspace((unsigned char)t[e - 1]))
            e--;
        if (e > s + 15) {
            out[n].start = s;
            out[n].end = e;
            out[n].score = 0;
            n++;
        }
        start = i + 1;
    }
    return n;
}

static bool stop(const char *w, size_t n)
{
    static const char *const words[] = {"the", "a", "an", "of", "and", "or", "to", "in", "is", "are", "was", "it",
                                        "for", "on", "with", "as", "by", "that", "this", "be", "at", "from", "what",
                                        "how", "which", "who", "does", "do", "can", NULL};
    for (const char *const *s = words; *s; s++)
        if (strlen(*s) == n && strncasecmp(*s, w, n) == 0)
            return true;
    return false;
}

/* Does `word` (n bytes) occur as a word in text[s,e)? case-insensitive */
static bool has_word(const char *text, size_t s, size_t e, const char *word, size_t n)
{
    for (size_t i = s; i + n <= e; i++) {
        if ((i == s || !word_char(text[i - 1])) && (i + n == e || !word_char(text[i + n])) &&
            strncasecmp(text + i, word, n) == 0)
            return true;
    }
    return false;
}

static int by_score(const void *a, const void *b)
{
    double d = ((const sent_t *)b)->score - ((const sent_t *)a)->score;
    return d > 0 ? 1 : d < 0 ? -1 : 0;
}

static int by_start(const void *a, const void *b)
{
    size_t x = ((const sent_t *)a)->start, y = ((const sent_t *)b)->start;
    return x < y ? -1 : x > y;
}

json_t *agent_extract(const char *text, const char *query, int n)
{
    enum { MAXS = 2000 };
    sent_t *s = calloc(MAXS, sizeof *s);
    json_t *out = json_array();
    if (!s || !text)
        return out;
    size_t ns = split_sentences(text, s, MAXS);
    for (size_t i = 0; i < ns; i++) {
        double score = 0;
        size_t words = 0;
        const char *src = query ? query : text;
        size_t qs = 0, qe = strlen(src);
        if (!query) { /* centrality: overlap with the words of the first sentences */
            qs = s[0].start;
            qe = s[ns > 3 ? 3 : ns - 1].end;
        }
        for (size_t k = qs; k < qe;) {
            while (k < qe && !word_char(src[k]))
                k++;
            size_t ws = k;
            while (k < qe && word_char(src[k]))
                k++;
            size_t wl = k - ws;
            if (wl >= 3 && !stop(src + ws, wl)) {
                words++;
                if (has_word(text, s[i].start, s[i].end, src + ws, wl))
                    score += 1;
            }
        }
        double len = (double)(s[i].end - s[i].start);
        s[i].score = (words ? score / (double)words : 0) + (query ? 0 : 0.3 / (1.0 + (double)i)) -
                     (len > 400 ? 0.1 : 0);
    }
    qsort(s, ns, sizeof *s, by_score);
    size_t keep = ns < (size_t)n ? ns : (size_t)n;
    if (query) /* drop sentences that share nothing with the question */
        while (keep > 1 && s[keep - 1].score <= 0)
            keep--;
    qsort(s, keep, sizeof *s, by_start);
    for (size_t i = 0; i < keep; i++)
        json_array_append_new(out, json_pack("{s:s%,s:I,s:I}", "text", text + s[i].start, s[i].end - s[i].start,
                                             "start", (json_int_t)s[i].start, "end", (json_int_t)s[i].end));
    free(s);
    return out;
}
