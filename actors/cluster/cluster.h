/* cluster.h - joins troupe nodes over ZeroMQ tcp ("cluster" actor).
 *
 * Each node binds a ROUTER on `addr` for what other nodes send it and keeps
 * a DEALER connected to every peer it knows. The runtime hands the cluster
 * actor every message addressed to "name@othernode" (tr_system_set_router);
 * the actor qualifies the reply address with this node ("#3.7" becomes
 * "#3.7@a") and sends the envelope to that node, whose cluster actor hands
 * it to the named actor unchanged (tr_forward). So tr_send, tr_ask and
 * tr_reply work across nodes with the same code as locally; deadlines and
 * trace context travel inside the envelope.
 *
 * Membership: `peers` lists "node=tcp://host:port" entries; every node
 * pings each peer every `heartbeat_ms` and counts a peer down when it has
 * not heard from it for 3 heartbeats. A message for a node that is down or
 * unknown is refused at once (TR_ENOPROC to the sender's ask, a dead letter
 * otherwise): nothing waits on a partition for its full deadline.
 *
 * Security: always CURVE, with `secret`, a CURVE secret key (Z85, `troupe
 * zmq-keys`) shared by every node: each node serves CURVE with it, connects
 * to its peers expecting its public half, and presents it as its own client
 * key; a ZAP handler lets in only clients holding it (the public key alone
 * is not enough). Runtime control messages ("tr.*" but tr.error) from the
 * wire are dropped. A node can address any actor of another (as in Erlang):
 * give the key only to nodes
 * you trust as much as this one. */
#ifndef TROUPE_CLUSTER_H
#define TROUPE_CLUSTER_H

#include "tr.h"

#define CLUSTER_MAX_PEERS 32

typedef struct cluster_config {
    const char *addr;   /* endpoint to bind, tcp://HOST:PORT; "" = no cluster */
    const char *peers;  /* "b=tcp://127.0.0.1:7001,c=tcp://10.0.0.3:7000" */
    const char *secret; /* shared CURVE secret key (Z85, 40 chars); required */
    int heartbeat_ms;   /* 0 = 1000 */
} cluster_config_t;

extern const tr_behaviour_t cluster_behaviour; /* arg: const cluster_config_t *; name it "cluster" */

/* Checks addr, peers and secret as init would; 0 or TR_ECONFIG (reason in err). */
int cluster_config_check(const cluster_config_t *cfg, char *err, size_t errcap);

#endif
