/* fuzz_manifest.c - libFuzzer target for the backup manifest parser
 * (bk_manifest_parse, actors/backup/manifest.c): manifest.json comes from
 * outside (a backup directory someone hands to `troupe restore`).
 *
 * Properties beyond "no crash" (ASan/UBSan watch):
 *   - a refusal has a code from the documented set and a bounded message,
 *     and hands out a zeroed manifest (nothing half-parsed);
 *   - an accepted manifest lists 1..BK_FILES_MAX files, each a known plain
 *     name (no path separator, no leading dot) with 64 lower-case hex
 *     digits, postgres.dump among them, store.mdb exactly when the store
 *     is present, every string NUL-terminated inside its field;
 *   - it survives dump -> parse unchanged.
 *
 * Run: make fuzz (seeds in tests/fuzz/seeds/fuzz_manifest/). */
#include "backup/manifest.h"
#include "tr_err.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_manifest: property failed: %s\n", what);
        abort();
    }
}

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static void accepted(const bk_manifest_t *m)
{
    check(m->format_version == BK_FORMAT_VERSION, "format version");
    check(m->nfiles >= 1 && m->nfiles <= BK_FILES_MAX, "file count");
    check(terminated(m->troupe_version, sizeof m->troupe_version) && terminated(m->created, sizeof m->created) &&
              terminated(m->database, sizeof m->database) && terminated(m->store_note, sizeof m->store_note) &&
              terminated(m->emb_name, sizeof m->emb_name) && terminated(m->emb_params, sizeof m->emb_params),
          "strings end inside their fields");
    check(strlen(m->created) == 20 && m->created[19] == 'Z', "created is a UTC stamp");
    for (size_t i = 0; i < m->nfiles; i++) {
        const bk_file_t *f = &m->files[i];
        check(terminated(f->name, sizeof f->name) && bk_name_valid(f->name), "file names are plain names");
        check(!strchr(f->name, '/') && !strchr(f->name, '\\') && f->name[0] != '.', "no path in a file name");
        check(strcmp(f->name, BK_DUMP_NAME) == 0 || strcmp(f->name, BK_STORE_NAME) == 0, "only known files");
        check(strlen(f->sha256) == 64 && strspn(f->sha256, "0123456789abcdef") == 64, "sha256 is 64 hex digits");
        check(f->size <= ((uint64_t)1 << 53), "size in range");
        for (size_t j = 0; j < i; j++)
            check(strcmp(m->files[j].name, f->name) != 0, "no file listed twice");
    }
    check(bk_manifest_file(m, BK_DUMP_NAME) != NULL, "the dump is listed");
    check(m->store_present == (bk_manifest_file(m, BK_STORE_NAME) != NULL), "store.mdb iff the store is present");
    check(m->migration_version >= 0, "migration version in range");

    char *text = NULL;
    check(bk_manifest_dump(m, &text) == 0 && text, "an accepted manifest dumps");
    bk_manifest_t back;
    char err[512];
    check(bk_manifest_parse(text, strlen(text), &back, err, sizeof err) == 0, "a dumped manifest parses");
    check(memcmp(m, &back, sizeof back) == 0, "dump -> parse round trip");
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bk_manifest_t m;
    char err[512];
    memset(err, 0x5a, sizeof err);
    int rc = bk_manifest_parse((const char *)data, size, &m, err, sizeof err);
    if (rc) {
        check(rc == TR_EINVAL || rc == TR_EVERSION || rc == TR_ETOOBIG, "refusal code");
        check(terminated(err, sizeof err) && err[0], "bounded refusal message");
        static const bk_manifest_t zero;
        check(memcmp(&m, &zero, sizeof m) == 0, "a refused manifest is zeroed");
        return 0;
    }
    accepted(&m);
    return 0;
}
