/* manifest.h - manifest.json of a troupe backup: what the backup holds and
 * the size and SHA-256 of each file, written by `troupe backup` and read
 * back (as input from outside: limits, types, known names only) before a
 * restore touches anything.
 *
 *   {"format": "troupe-backup", "format_version": 1,
 *    "troupe_version": "0.1.0", "created": "2025-01-31T12:00:00Z",
 *    "database": {"name": "troupe", "migration_version": 2},
 *    "store": {"present": true, "schema_version": 1, "documents": 12,
 *              "chunks": 40, "embedder": {"name": "builtin", "dim": 384,
 *              "params": "..."}}            (embedder only when readable)
 *          | {"present": false, "note": "why"},
 *    "files": [{"name": "postgres.dump", "size": 123, "sha256": "<64 hex>"},
 *              {"name": "store.mdb", ...}]}
 *
 * Unknown keys are ignored (a later minor addition); an unknown file name,
 * a missing required key, a wrong type or a value out of range refuses the
 * whole manifest. */
#ifndef TROUPE_BK_MANIFEST_H
#define TROUPE_BK_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BK_FORMAT "troupe-backup"
#define BK_FORMAT_VERSION 1
#define BK_MANIFEST_NAME "manifest.json"
#define BK_MANIFEST_MAX 65536 /* bytes; a real one is under 1 KiB */
#define BK_FILES_MAX 8
#define BK_NAME_MAX 64
#define BK_DUMP_NAME "postgres.dump"
#define BK_STORE_NAME "store.mdb"

typedef struct bk_file {
    char name[BK_NAME_MAX + 1]; /* a plain file name: [A-Za-z0-9._-], no leading dot */
    uint64_t size;
    char sha256[65]; /* lower-case hex */
} bk_file_t;

typedef struct bk_manifest {
    int format_version;
    char troupe_version[32];
    char created[32]; /* UTC, yyyy-mm-ddThh:mm:ssZ */
    char database[64];
    int migration_version;
    bool store_present;
    char store_note[256]; /* why there is no store copy */
    uint32_t store_schema_version;
    uint64_t store_docs, store_chunks;
    bool has_embedder;
    char emb_name[64];
    char emb_params[256];
    int emb_dim;
    bk_file_t files[BK_FILES_MAX];
    size_t nfiles;
} bk_manifest_t;

/* The manifest as JSON text (malloc'd, NUL-terminated; caller frees).
 * TR_ENOMEM, or TR_EINVAL if m would not parse back (a bad name). */
int bk_manifest_dump(const bk_manifest_t *m, char **out);

/* Parses and validates text[0..len) (not NUL-terminated). Errors, with a
 * message naming the key or file: TR_ETOOBIG (over BK_MANIFEST_MAX),
 * TR_EVERSION (another format version), TR_EINVAL (anything else). */
int bk_manifest_parse(const char *text, size_t len, bk_manifest_t *m, char *err, size_t errcap);

/* Reads and parses DIR/manifest.json (a regular file, at most
 * BK_MANIFEST_MAX bytes). TR_ESYS if it cannot be read. */
int bk_manifest_load(const char *dir, bk_manifest_t *m, char *err, size_t errcap);

/* Checks every listed file in dir: a regular file (not a link) of the
 * recorded size and SHA-256. The message names the first file that fails.
 * TR_ENOPROC missing, TR_EINVAL size or checksum differs, TR_ESYS unreadable. */
int bk_manifest_verify(const bk_manifest_t *m, const char *dir, char *err, size_t errcap);

/* The entry for name, or NULL. */
const bk_file_t *bk_manifest_file(const bk_manifest_t *m, const char *name);

/* Adds the file dir/name with its size and SHA-256 (read back from disk).
 * TR_ELIMIT when BK_FILES_MAX are listed, TR_ESYS unreadable. */
int bk_manifest_add_file(bk_manifest_t *m, const char *dir, const char *name, char *err, size_t errcap);

/* true if s is an acceptable file name (see bk_file_t). */
bool bk_name_valid(const char *s);

#endif
