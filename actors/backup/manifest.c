/* manifest.c - write, parse (with limits) and verify backup manifests
 * (see manifest.h). */
#include "manifest.h"

#include "tr_err.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE_MAX_JSON ((uint64_t)1 << 53) /* integers a JSON reader keeps exactly */

static const char *const known_files[] = {BK_DUMP_NAME, BK_STORE_NAME, NULL};

bool bk_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > BK_NAME_MAX || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

static bool hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* yyyy-mm-ddThh:mm:ssZ, digits where digits belong */
static bool utc_stamp(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(s) != sizeof shape - 1)
        return false;
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return false;
    return true;
}

const bk_file_t *bk_manifest_file(const bk_manifest_t *m, const char *name)
{
    for (size_t i = 0; i < m->nfiles; i++)
        if (strcmp(m->files[i].name, name) == 0)
            return &m->files[i];
    return NULL;
}

/* ---- writing ---- */

int bk_manifest_dump(const bk_manifest_t *m, char **out)
{
    *out = NULL;
    for (size_t i = 0; i < m->nfiles; i++)
        if (!bk_name_valid(m->files[i].name) || !hex64(m->files[i].sha256))
            return TR_EINVAL;
    json_t *store = m->store_present ? json_pack("{s:b, s:I, s:I, s:I}", "present", 1, "schema_version",
                                                 (json_int_t)m->store_schema_version, "documents",
                                                 (json_int_t)m->store_docs, "chunks", (json_int_t)m->store_chunks)
                                     : json_pack("{s:b, s:s}", "present", 0, "note", m->store_note);
    if (store && m->store_present && m->has_embedder)
        json_object_set_new(
            store, "embedder",
            json_pack("{s:s, s:i, s:s}", "name", m->emb_name, "dim", m->emb_dim, "params", m->emb_params));
    json_t *files = json_array();
    for (size_t i = 0; files && i < m->nfiles; i++)
        json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", m->files[i].name, "size",
                                               (json_int_t)m->files[i].size, "sha256", m->files[i].sha256));
    json_t *root =
        json_pack("{s:s, s:i, s:s, s:s, s:{s:s, s:i}, s:o, s:o}", "format", BK_FORMAT, "format_version",
                  m->format_version, "troupe_version", m->troupe_version, "created", m->created, "database", "name",
                  m->database, "migration_version", m->migration_version, "store", store, "files", files);
    if (!root)
        return TR_ENOMEM; /* json_pack's "o" took store and files either way */
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return TR_ENOMEM;
    *out = text;
    return 0;
}

/* ---- parsing ---- */

/* callers pass a literal format, which the compiler checks */
#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        snprintf(err, errcap, __VA_ARGS__); /* Flawfinder: ignore */                                                   \
        return TR_EINVAL;                                                                                              \
    } while (0)

/* A string member of at most cap-1 bytes, copied. */
static int get_str(json_t *obj, const char *key, const char *where, bool required, char *dst, size_t cap, char *err,
                   size_t errcap)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            FAIL("manifest: %s%s is missing", where, key);
        dst[0] = '\0';
        return 0;
    }
    if (!json_is_string(v))
        FAIL("manifest: %s%s must be a string", where, key);
    if (json_string_length(v) >= cap)
        FAIL("manifest: %s%s is longer than %zu bytes", where, key, cap - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_int(json_t *obj, const char *key, const char *where, json_int_t lo, json_int_t hi, json_int_t *dst,
                   char *err, size_t errcap)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        FAIL("manifest: %s%s is missing", where, key);
    if (!json_is_integer(v))
        FAIL("manifest: %s%s must be an integer", where, key);
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi)
        FAIL("manifest: %s%s is out of range (%lld..%lld)", where, key, (long long)lo, (long long)hi);
    *dst = n;
    return 0;
}

static int parse_files(json_t *arr, bk_manifest_t *m, char *err, size_t errcap)
{
    if (!json_is_array(arr))
        FAIL("manifest: files must be an array");
    size_t n = json_array_size(arr);
    if (n == 0 || n > BK_FILES_MAX)
        FAIL("manifest: files must list 1..%d files (it lists %zu)", BK_FILES_MAX, n);
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(arr, i);
        if (!json_is_object(f))
            FAIL("manifest: files[%zu] must be an object", i);
        bk_file_t *bf = &m->files[i];
        char where[32];
        snprintf(where, sizeof where, "files[%zu].", i);
        json_int_t size;
        int rc;
        if ((rc = get_str(f, "name", where, true, bf->name, sizeof bf->name, err, errcap)))
            return rc;
        if (!bk_name_valid(bf->name))
            FAIL("manifest: files[%zu].name \"%s\" is not a plain file name", i, bf->name);
        bool known = false;
        for (int k = 0; known_files[k]; k++)
            known = known || strcmp(known_files[k], bf->name) == 0;
        if (!known)
            FAIL("manifest: files[%zu] is %s, which format version %d does not have", i, bf->name, BK_FORMAT_VERSION);
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->files[j].name, bf->name) == 0)
                FAIL("manifest: %s is listed twice", bf->name);
        if ((rc = get_int(f, "size", where, 0, (json_int_t)SIZE_MAX_JSON, &size, err, errcap)))
            return rc;
        bf->size = (uint64_t)size;
        if ((rc = get_str(f, "sha256", where, true, bf->sha256, sizeof bf->sha256, err, errcap)))
            return rc;
        if (!hex64(bf->sha256))
            FAIL("manifest: files[%zu].sha256 must be 64 lower-case hex digits", i);
        m->nfiles = i + 1;
    }
    return 0;
}

static int parse_store(json_t *s, bk_manifest_t *m, char *err, size_t errcap)
{
    if (!json_is_object(s))
        FAIL("manifest: store must be an object");
    json_t *p = json_object_get(s, "present");
    if (!json_is_boolean(p))
        FAIL("manifest: store.present must be true or false");
    m->store_present = json_is_true(p);
    int rc;
    json_int_t n;
    if (!m->store_present)
        return get_str(s, "note", "store.", false, m->store_note, sizeof m->store_note, err, errcap);
    if ((rc = get_int(s, "schema_version", "store.", 1, UINT32_MAX, &n, err, errcap)))
        return rc;
    m->store_schema_version = (uint32_t)n;
    if ((rc = get_int(s, "documents", "store.", 0, (json_int_t)SIZE_MAX_JSON, &n, err, errcap)))
        return rc;
    m->store_docs = (uint64_t)n;
    if ((rc = get_int(s, "chunks", "store.", 0, (json_int_t)SIZE_MAX_JSON, &n, err, errcap)))
        return rc;
    m->store_chunks = (uint64_t)n;
    json_t *e = json_object_get(s, "embedder");
    if (!e)
        return 0;
    if (!json_is_object(e))
        FAIL("manifest: store.embedder must be an object");
    if ((rc = get_str(e, "name", "store.embedder.", true, m->emb_name, sizeof m->emb_name, err, errcap)) ||
        (rc = get_str(e, "params", "store.embedder.", true, m->emb_params, sizeof m->emb_params, err, errcap)) ||
        (rc = get_int(e, "dim", "store.embedder.", 0, 65536, &n, err, errcap)))
        return rc;
    m->emb_dim = (int)n;
    m->has_embedder = true;
    return 0;
}

static int parse_root(json_t *root, bk_manifest_t *m, char *err, size_t errcap)
{
    if (!json_is_object(root))
        FAIL("manifest: the top level must be an object");
    char fmt[32];
    int rc;
    json_int_t n;
    if ((rc = get_str(root, "format", "", true, fmt, sizeof fmt, err, errcap)))
        return rc;
    if (strcmp(fmt, BK_FORMAT) != 0)
        FAIL("manifest: format is \"%s\", not \"%s\"", fmt, BK_FORMAT);
    json_t *v = json_object_get(root, "format_version");
    if (!json_is_integer(v))
        FAIL("manifest: format_version must be an integer");
    if (json_integer_value(v) != BK_FORMAT_VERSION) {
        snprintf(err, errcap, "backup format version %lld is not supported: this troupe reads version %d%s",
                 (long long)json_integer_value(v), BK_FORMAT_VERSION,
                 json_integer_value(v) > BK_FORMAT_VERSION ? " (use the troupe that made the backup)" : "");
        return TR_EVERSION;
    }
    m->format_version = BK_FORMAT_VERSION;
    if ((rc = get_str(root, "troupe_version", "", true, m->troupe_version, sizeof m->troupe_version, err, errcap)) ||
        (rc = get_str(root, "created", "", true, m->created, sizeof m->created, err, errcap)))
        return rc;
    if (!utc_stamp(m->created))
        FAIL("manifest: created must be a UTC time yyyy-mm-ddThh:mm:ssZ");
    json_t *db = json_object_get(root, "database");
    if (!json_is_object(db))
        FAIL("manifest: database must be an object");
    if ((rc = get_str(db, "name", "database.", true, m->database, sizeof m->database, err, errcap)) ||
        (rc = get_int(db, "migration_version", "database.", 0, 1000000, &n, err, errcap)))
        return rc;
    m->migration_version = (int)n;
    if ((rc = parse_store(json_object_get(root, "store"), m, err, errcap)))
        return rc;
    if ((rc = parse_files(json_object_get(root, "files"), m, err, errcap)))
        return rc;
    if (!bk_manifest_file(m, BK_DUMP_NAME))
        FAIL("manifest: files does not list %s", BK_DUMP_NAME);
    if (m->store_present != (bk_manifest_file(m, BK_STORE_NAME) != NULL))
        FAIL("manifest: store.present is %s but files %s %s", m->store_present ? "true" : "false",
             m->store_present ? "does not list" : "lists", BK_STORE_NAME);
    return 0;
}

int bk_manifest_parse(const char *text, size_t len, bk_manifest_t *m, char *err, size_t errcap)
{
    memset(m, 0, sizeof *m);
    if (len > BK_MANIFEST_MAX) {
        snprintf(err, errcap, "manifest: %zu bytes, more than the %d a manifest may have", len, BK_MANIFEST_MAX);
        return TR_ETOOBIG;
    }
    json_error_t je;
    /* no NUL inside strings (jansson's default), no duplicate keys */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errcap, "manifest: not valid JSON (line %d: %.120s)", je.line, je.text);
        return TR_EINVAL;
    }
    int rc = parse_root(root, m, err, errcap);
    json_decref(root);
    if (rc)
        memset(m, 0, sizeof *m); /* nothing half-parsed is handed out */
    return rc;
}

int bk_manifest_load(const char *dir, bk_manifest_t *m, char *err, size_t errcap)
{
    memset(m, 0, sizeof *m);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, BK_MANIFEST_NAME);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errcap, "%s: %s%s", path, strerror(errno),
                 errno == ENOENT ? " (not a troupe backup, or an incomplete one)" : "");
        return errno == ENOENT ? TR_ENOPROC : TR_ESYS;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errcap, "%s is not a regular file", path);
        close(fd);
        return TR_EINVAL;
    }
    if (sb.st_size > BK_MANIFEST_MAX) {
        snprintf(err, errcap, "%s: %lld bytes, more than the %d a manifest may have", path, (long long)sb.st_size,
                 BK_MANIFEST_MAX);
        close(fd);
        return TR_ETOOBIG;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        close(fd);
        return TR_ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != (size_t)sb.st_size) {
        snprintf(err, errcap, "%s: read failed", path);
        free(buf);
        return TR_ESYS;
    }
    char perr[400];
    int rc = bk_manifest_parse(buf, got, m, perr, sizeof perr);
    free(buf);
    if (rc)
        snprintf(err, errcap, "%s: %s", path, perr);
    return rc;
}

/* ---- files ---- */

/* Size and SHA-256 of an open file, read to its end. */
static int hash_fd(int fd, uint64_t *size, char hex[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    enum { BUF = 1 << 20 };
    unsigned char *buf = malloc(BUF);
    int rc = ctx && buf && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ? 0 : TR_ENOMEM;
    uint64_t total = 0;
    while (!rc) {
        ssize_t n = read(fd, buf, BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = TR_ESYS;
        else if (n == 0)
            break;
        else if (!EVP_DigestUpdate(ctx, buf, (size_t)n))
            rc = TR_ESYS;
        total += n > 0 ? (uint64_t)n : 0;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!rc && (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32))
        rc = TR_ESYS;
    if (!rc) {
        for (unsigned i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        *size = total;
    }
    free(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}

static int open_regular(const char *dir, const char *name, char *path, size_t cap, char *err, size_t errcap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errcap, "%s: %s", path, strerror(e));
        return e == ENOENT ? TR_ENOPROC : TR_ESYS;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errcap, "%s is not a regular file", path);
        close(fd);
        return TR_EINVAL;
    }
    return fd;
}

int bk_manifest_add_file(bk_manifest_t *m, const char *dir, const char *name, char *err, size_t errcap)
{
    if (m->nfiles >= BK_FILES_MAX) {
        snprintf(err, errcap, "manifest: more than %d files", BK_FILES_MAX);
        return TR_ELIMIT;
    }
    char path[1200];
    int fd = open_regular(dir, name, path, sizeof path, err, errcap);
    if (fd < 0)
        return fd;
    bk_file_t *f = &m->files[m->nfiles];
    snprintf(f->name, sizeof f->name, "%s", name);
    int rc = hash_fd(fd, &f->size, f->sha256);
    close(fd);
    if (rc) {
        snprintf(err, errcap, "%s: %s", path, rc == TR_ENOMEM ? "out of memory" : "read failed");
        return rc;
    }
    m->nfiles++;
    return 0;
}

int bk_manifest_verify(const bk_manifest_t *m, const char *dir, char *err, size_t errcap)
{
    for (size_t i = 0; i < m->nfiles; i++) {
        const bk_file_t *f = &m->files[i];
        char path[1200];
        int fd = open_regular(dir, f->name, path, sizeof path, err, errcap);
        if (fd < 0)
            return fd;
        struct stat sb;
        if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != f->size) {
            snprintf(err, errcap, "%s is %lld bytes but the manifest says %llu: the backup is incomplete or damaged",
                     path, (long long)sb.st_size, (unsigned long long)f->size);
            close(fd);
            return TR_EINVAL;
        }
        uint64_t size;
        char hex[65];
        int rc = hash_fd(fd, &size, hex);
        close(fd);
        if (rc) {
            snprintf(err, errcap, "%s: %s", path, rc == TR_ENOMEM ? "out of memory" : "read failed");
            return rc;
        }
        if (size != f->size || strcmp(hex, f->sha256) != 0) {
            snprintf(err, errcap,
                     "%s does not match its SHA-256 in the manifest (%.12s... expected, %.12s... found): "
                     "the backup is damaged",
                     path, f->sha256, hex);
            return TR_EINVAL;
        }
    }
    return 0;
}
