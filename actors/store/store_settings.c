/* store_settings.c - the store's configuration keys (see store_settings.h). */
#include "store_settings.h"

#include <string.h>

const tr_cfg_key_t store_settings[] = {
    {"vector_search", TR_CFG_BOOL, "on", 0, 0, NULL,
     "Vector and hybrid search; off = keyword (BM25) only and no embeddings", false},
    {"store_embedder", TR_CFG_ENUM, "builtin", 0, 0, "builtin|ollama",
     "Embedder: builtin (hashed features, no network) or ollama (/api/embed)", false},
    {"store_embed_dim", TR_CFG_INT, "384", 0, 4096, NULL,
     "Embedding dimension (builtin: 16..4096; ollama: 0 = ask the server)", false},
    {"store_embed_url", TR_CFG_STR, "http://127.0.0.1:11434", 0, 400, NULL, "Ollama base URL for embeddings", false},
    {"store_embed_model", TR_CFG_STR, "nomic-embed-text", 0, 127, NULL, "Ollama embedding model", false},
    {"store_hnsw_m", TR_CFG_INT, "16", 2, 64, NULL, "HNSW links per node (level 0: twice that)", false},
    {"store_hnsw_ef_construction", TR_CFG_INT, "100", 8, 4000, NULL, "HNSW candidate list while inserting", false},
    {"store_hnsw_ef_search", TR_CFG_INT, "64", 1, 4000, NULL, "HNSW candidate list while searching", false},
    {"store_chunk_target", TR_CFG_INT, "1200", 64, 1000000, NULL, "Preferred chunk size (bytes)", false},
    {"store_chunk_overlap", TR_CFG_INT, "0", 0, 500000, NULL, "Bytes shared by consecutive chunks (< target/2)", false},
    {"store_readers", TR_CFG_INT, "2", 1, STORE_MAX_READERS, NULL, "Store reader actors (concurrent searches)", false},
    {"store_max_doc_bytes", TR_CFG_INT, "8388608", 1, 15728640, NULL, "Largest document accepted (bytes)", false},
    {"store_map_size_mb", TR_CFG_INT, "16384", 16, 16777216, NULL, "LMDB map size (MiB of address space)", false},
    {"store_reindex", TR_CFG_BOOL, "off", 0, 0, NULL,
     "Re-index at start when the embedder changed (otherwise the store refuses to start)", false},
};
const size_t store_settings_count = sizeof store_settings / sizeof store_settings[0];

void store_config_from(const tr_config_t *cfg, const char *data_dir, store_config_t *out)
{
    memset(out, 0, sizeof *out);
    out->data_dir = data_dir;
    out->vector_off = !tr_config_bool(cfg, "vector_search");
    out->embedder = tr_config_str(cfg, "store_embedder");
    out->dim = (int)tr_config_int(cfg, "store_embed_dim");
    out->ollama_url = tr_config_str(cfg, "store_embed_url");
    out->ollama_model = tr_config_str(cfg, "store_embed_model");
    out->hnsw_m = (int)tr_config_int(cfg, "store_hnsw_m");
    out->hnsw_ef_construction = (int)tr_config_int(cfg, "store_hnsw_ef_construction");
    out->hnsw_ef_search = (int)tr_config_int(cfg, "store_hnsw_ef_search");
    out->chunk_target = (int)tr_config_int(cfg, "store_chunk_target");
    out->chunk_overlap = (int)tr_config_int(cfg, "store_chunk_overlap");
    out->readers = (int)tr_config_int(cfg, "store_readers");
    out->max_doc_bytes = (size_t)tr_config_int(cfg, "store_max_doc_bytes");
    out->map_size = (size_t)tr_config_int(cfg, "store_map_size_mb") << 20;
    out->reindex_on_mismatch = tr_config_bool(cfg, "store_reindex");
}
