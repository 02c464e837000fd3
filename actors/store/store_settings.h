/* store_settings.h - the store's configuration keys, ready to be added to
 * the application's schema (tools/cli/settings.c), and the mapping from a
 * loaded tr_config_t to a store_config_t.
 *
 * Keys (environment: TROUPE_ + upper case, e.g. TROUPE_VECTOR_SEARCH=off):
 *   vector_search               on     vector and hybrid search; off = keyword only, no embeddings
 *   store_embedder              builtin  builtin | ollama
 *   store_embed_dim             384    built-in dimension; for ollama 0 = ask the server
 *   store_embed_url             http://127.0.0.1:11434   Ollama base URL
 *   store_embed_model           nomic-embed-text          Ollama embedding model
 *   store_hnsw_m                16
 *   store_hnsw_ef_construction  100
 *   store_hnsw_ef_search        64
 *   store_chunk_target          1200   bytes
 *   store_chunk_overlap         120    bytes (< target / 2)
 *   store_readers               2      reader actors
 *   store_max_doc_bytes         8388608  larger uploads get ETOOBIG (413)
 *   store_map_size_mb           16384  LMDB map (address space, not disk)
 *   store_reindex               off    re-index at start when the embedder changed (else refuse to start) */
#ifndef TROUPE_STORE_SETTINGS_H
#define TROUPE_STORE_SETTINGS_H

#include "store.h"

extern const tr_cfg_key_t store_settings[];
extern const size_t store_settings_count;

/* Fills out from cfg, whose schema must contain store_settings. data_dir is
 * the application's data directory (the store lives in <data_dir>/store);
 * strings point into cfg (store_open copies them). */
void store_config_from(const tr_config_t *cfg, const char *data_dir, store_config_t *out);

#endif
