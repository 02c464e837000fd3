/* node.h - the node actor: answers questions about this troupe node
 * (version, uptime, live actors, metrics text). The HTTP bridge and the
 * ZeroMQ gateway will ask it; `troupe run` starts it under the root. */
#ifndef TROUPE_NODE_H
#define TROUPE_NODE_H

#include "tr.h"

/* Messages (payloads MessagePack):
 *   "node.info"    → reply "node.info.ok" {version, node, uptime_ms, actors}
 *   "node.metrics" → reply "node.metrics.ok" str (Prometheus text)
 *   "node.trace" {trace_id: 32 hex} → {trace_id, spans:[{span_id, parent_id,
 *       name, actor, start_unix_ns, duration_ms, error, attrs}]} from the
 *       recent-spans buffer (the single-node trace view) */
extern const tr_behaviour_t troupe_node_behaviour;

#endif
