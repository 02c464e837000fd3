/* test_cluster.c - two (or three) nodes in one process, joined over
 * loopback tcp by their cluster actors: asks and sends across nodes with
 * replies finding their way back, fast refusals for unknown or dead nodes,
 * peers seen up and down, CURVE with a shared key (and a node with another
 * key kept out), malformed frames counted, and the configuration checks. */
#include "cluster/cluster.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#define WAIT_MS 20000

/* ------------------------------------------------------------------ */
/* an echo actor and one that asks across nodes from inside a handler  */

static int echo_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (msg->reply_to.len)
        tr_reply(self, msg, "echo.ok", msg->payload, msg->payload_len);
    return 0;
}
static const tr_behaviour_t echo_beh = {.kind = "echo", .handle = echo_handle};

static int g_relayed; /* answers the relay actor got back (atomic enough: one writer) */

/* "relay.go" {to}: sends "hi" to `to` with itself as reply_to; counts answers. */
static int relay_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (tr_str_eq(msg->type, "echo.ok")) {
        __atomic_add_fetch(&g_relayed, 1, __ATOMIC_SEQ_CST);
        return 0;
    }
    if (tr_str_eq(msg->type, "relay.go")) {
        char to[64];
        tr_mpr_t r;
        const char *s;
        uint32_t n;
        if (tr_mp_map_find(msg->payload, msg->payload_len, "to", &r) || tr_mpr_str(&r, &s, &n))
            return 0;
        snprintf(to, sizeof to, "%.*s", (int)n, s);
        static const uint8_t hi[] = {0xa2, 'h', 'i'};
        tr_send_opts_t o = {.reply_to = tr_self_name(self), .corr = 1};
        tr_send_ex(tr_self_system(self), to, "echo", hi, sizeof hi, &o);
    }
    return 0;
}
static const tr_behaviour_t relay_beh = {.kind = "relay", .handle = relay_handle};

/* ------------------------------------------------------------------ */
/* nodes                                                               */

typedef struct node {
    tr_system_t *sys;
    cluster_config_t cfg;
    char addr[64], peers[256];
} node_t;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void node_up(node_t *n, const char *name, int port, const char *peers, const char *secret)
{
    memset(n, 0, sizeof *n);
    tr_system_opts_t o = {.node = name};
    cr_assert_eq(tr_system_new(&o, &n->sys), 0);
    snprintf(n->addr, sizeof n->addr, "tcp://127.0.0.1:%d", port);
    snprintf(n->peers, sizeof n->peers, "%s", peers);
    n->cfg = (cluster_config_t){.addr = n->addr, .peers = n->peers, .secret = secret, .heartbeat_ms = 100};
    cr_assert_eq(tr_spawn(n->sys, "cluster", &cluster_behaviour, &n->cfg, NULL, NULL), 0);
    cr_assert_eq(tr_spawn(n->sys, "echo", &echo_beh, NULL, NULL, NULL), 0);
}

static void node_down(node_t *n)
{
    if (n->sys) {
        tr_thread_done(n->sys);
        tr_system_destroy(&n->sys);
    }
}

/* Waits until `n` sees `peer` up (or down); false on timeout. */
static bool peer_is(node_t *n, const char *peer, bool up)
{
    for (int i = 0; i < WAIT_MS / 20; i++) {
        tr_reply_t rep;
        if (tr_ask(n->sys, "cluster", "cluster.status", NULL, 0, 2000, &rep) == 0) {
            char *j = NULL;
            (void)j;
            tr_mpr_t r;
            uint32_t cnt = 0;
            bool found = false, is_up = false;
            if (!tr_mp_map_find(rep.msg.payload, rep.msg.payload_len, "peers", &r) && !tr_mpr_array(&r, &cnt)) {
                for (uint32_t k = 0; k < cnt; k++) {
                    const uint8_t *start = r.p;
                    tr_mpr_skip(&r);
                    tr_mpr_t f;
                    const char *s;
                    uint32_t sl;
                    tr_mp_obj_t o;
                    if (!tr_mp_map_find(start, (size_t)(r.p - start), "node", &f) && !tr_mpr_str(&f, &s, &sl) &&
                        sl == strlen(peer) && memcmp(s, peer, sl) == 0 &&
                        !tr_mp_map_find(start, (size_t)(r.p - start), "up", &f) && !tr_mpr_next(&f, &o)) {
                        found = true;
                        is_up = o.type == TR_MP_BOOL && o.v.b;
                    }
                }
            }
            tr_reply_close(&rep);
            if (found && is_up == up)
                return true;
        }
        tr_sleep_ms(20);
    }
    return false;
}

static char *code_of(tr_reply_t *rep, char *buf, size_t cap)
{
    tr_error_parse(&rep->msg, buf, cap, NULL, 0);
    return buf;
}

Test(cluster, asks_and_sends_cross_nodes_and_dead_nodes_are_refused_fast, .timeout = 120)
{
    static char pub[41], sec[41];
    cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
    int pa = free_port(), pb = free_port();
    char peers_a[96], peers_b[96];
    snprintf(peers_a, sizeof peers_a, "b=tcp://127.0.0.1:%d", pb);
    snprintf(peers_b, sizeof peers_b, "a=tcp://127.0.0.1:%d", pa);
    node_t a, b;
    node_up(&a, "a", pa, peers_a, sec);
    node_up(&b, "b", pb, peers_b, sec);
    cr_assert(peer_is(&a, "b", true), "a sees b");
    cr_assert(peer_is(&b, "a", true), "b sees a");

    /* an ask from a plain thread of a to b's echo: the reply finds our inbox */
    static const uint8_t ping[] = {0xa4, 'p', 'i', 'n', 'g'};
    for (int i = 0; i < 100; i++) {
        tr_reply_t rep;
        cr_assert_eq(tr_ask(a.sys, "echo@b", "echo", ping, sizeof ping, 5000, &rep), 0, "ask %d", i);
        cr_assert(tr_str_eq(rep.msg.type, "echo.ok"));
        cr_assert_eq(rep.msg.payload_len, sizeof ping);
        cr_assert_eq(memcmp(rep.msg.payload, ping, sizeof ping), 0);
        tr_reply_close(&rep);
    }
    /* the local name with this node's suffix is local */
    tr_reply_t rep;
    cr_assert_eq(tr_ask(a.sys, "echo@a", "echo", ping, sizeof ping, 5000, &rep), 0);
    tr_reply_close(&rep);

    /* actor to actor: a's relay sends to b's echo, the answer comes back to the relay */
    cr_assert_eq(tr_spawn(a.sys, "relay", &relay_beh, NULL, NULL, NULL), 0);
    uint8_t go[32];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, go, sizeof go);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "to");
    tr_mpw_cstr(&w, "echo@b");
    for (int i = 0; i < 10; i++)
        cr_assert_eq(tr_send(a.sys, "relay", "relay.go", go, w.len), 0);
    for (int i = 0; i < WAIT_MS / 10 && __atomic_load_n(&g_relayed, __ATOMIC_SEQ_CST) < 10; i++)
        tr_sleep_ms(10);
    cr_assert_eq(__atomic_load_n(&g_relayed, __ATOMIC_SEQ_CST), 10);

    /* an actor that does not exist there: its node says so at once */
    uint64_t t0 = tr_mono_ms();
    cr_assert_eq(tr_ask(a.sys, "nobody@b", "echo", NULL, 0, 10000, &rep), TR_EREMOTE);
    char code[32];
    cr_assert_str_eq(code_of(&rep, code, sizeof code), "ENOPROC");
    tr_reply_close(&rep);
    cr_assert_lt(tr_mono_ms() - t0, 2000);
    /* an unknown node: refused at once, not after the deadline */
    t0 = tr_mono_ms();
    cr_assert_eq(tr_ask(a.sys, "echo@zzz", "echo", NULL, 0, 10000, &rep), TR_EREMOTE);
    cr_assert_str_eq(code_of(&rep, code, sizeof code), "ENOPROC");
    tr_reply_close(&rep);
    cr_assert_lt(tr_mono_ms() - t0, 2000);

    /* b goes away: a notices within a few heartbeats and refuses at once */
    node_down(&b);
    cr_assert(peer_is(&a, "b", false), "a sees b down");
    t0 = tr_mono_ms();
    cr_assert_eq(tr_ask(a.sys, "echo@b", "echo", NULL, 0, 10000, &rep), TR_EREMOTE);
    cr_assert_str_eq(code_of(&rep, code, sizeof code), "ENOPROC");
    tr_reply_close(&rep);
    cr_assert_lt(tr_mono_ms() - t0, 2000);
    /* and sees it again when it comes back */
    node_up(&b, "b", pb, peers_b, sec);
    cr_assert(peer_is(&a, "b", true), "a sees b again");
    cr_assert_eq(tr_ask(a.sys, "echo@b", "echo", ping, sizeof ping, 5000, &rep), 0);
    tr_reply_close(&rep);
    cr_assert_gt(tr_metrics_counter_sum(tr_system_metrics(a.sys), "troupe_cluster_messages_total", "out"), 100);

    /* outsiders: a plaintext client and a CURVE client that knows only the
     * cluster's public key are refused at the handshake; nothing reaches an actor */
    uint64_t bad0 = tr_metrics_counter_sum(tr_system_metrics(a.sys), "troupe_cluster_malformed_total", NULL);
    void *ctx = zmq_ctx_new();
    int zero = 0;
    void *plain = zmq_socket(ctx, ZMQ_DEALER), *pk = zmq_socket(ctx, ZMQ_DEALER), *member = zmq_socket(ctx, ZMQ_DEALER);
    char rpub[41], rsec[41];
    cr_assert_eq(zmq_curve_keypair(rpub, rsec), 0);
    zmq_setsockopt(pk, ZMQ_CURVE_SERVERKEY, pub, 40);
    zmq_setsockopt(pk, ZMQ_CURVE_PUBLICKEY, rpub, 40);
    zmq_setsockopt(pk, ZMQ_CURVE_SECRETKEY, rsec, 40);
    zmq_setsockopt(member, ZMQ_CURVE_SERVERKEY, pub, 40);
    zmq_setsockopt(member, ZMQ_CURVE_PUBLICKEY, pub, 40);
    zmq_setsockopt(member, ZMQ_CURVE_SECRETKEY, sec, 40);
    void *socks[] = {plain, pk, member};
    for (int i = 0; i < 3; i++) {
        zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof zero);
        cr_assert_eq(zmq_connect(socks[i], a.addr), 0);
    }
    /* what an attacker would send: stop a's echo, as a runtime control message */
    tr_pid_t echo_pid;
    cr_assert_eq(tr_lookup(a.sys, "echo", &echo_pid), 0);
    tr_envelope_t env;
    memset(&env, 0, sizeof env);
    env.version = TR_ENV_VERSION;
    env.id = 1;
    env.type = tr_str("tr.stop");
    env.from = tr_str("x@b");
    env.to = tr_str("echo@a");
    uint8_t frame[512];
    int fl = tr_envelope_encode(&env, frame, sizeof frame);
    cr_assert_gt(fl, 0);
    for (int i = 0; i < 3; i++)
        zmq_send(socks[i], frame, (size_t)fl, ZMQ_DONTWAIT);
    zmq_send(plain, "\xc1garbage", 8, ZMQ_DONTWAIT);
    /* the member's frame arrives and is dropped (counted); the outsiders never connect (counted by ZAP) */
    for (int i = 0; i < WAIT_MS / 10 &&
                    tr_metrics_counter_sum(tr_system_metrics(a.sys), "troupe_cluster_malformed_total", NULL) < bad0 + 2;
         i++)
        tr_sleep_ms(10);
    cr_assert_geq(tr_metrics_counter_sum(tr_system_metrics(a.sys), "troupe_cluster_malformed_total", NULL), bad0 + 2);
    tr_sleep_ms(200);
    cr_assert(tr_alive(a.sys, echo_pid), "a control message from the wire did nothing");
    cr_assert_eq(tr_ask(a.sys, "echo@a", "echo", ping, sizeof ping, 5000, &rep), 0);
    tr_reply_close(&rep);
    for (int i = 0; i < 3; i++)
        zmq_close(socks[i]);
    zmq_ctx_term(ctx);
    node_down(&b);
    node_down(&a);
}

Test(cluster, curve_with_the_shared_key_and_others_kept_out, .timeout = 120)
{
    char pub[41], sec[41], pub2[41], sec2[41];
    cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
    cr_assert_eq(zmq_curve_keypair(pub2, sec2), 0);
    int pa = free_port(), pb = free_port(), pc = free_port();
    char peers_a[160], peers_b[96], peers_c[96];
    snprintf(peers_a, sizeof peers_a, "b=tcp://127.0.0.1:%d,c=tcp://127.0.0.1:%d", pb, pc);
    snprintf(peers_b, sizeof peers_b, "a=tcp://127.0.0.1:%d", pa);
    snprintf(peers_c, sizeof peers_c, "a=tcp://127.0.0.1:%d", pa);
    node_t a, b, c;
    node_up(&a, "a", pa, peers_a, sec);
    node_up(&b, "b", pb, peers_b, sec);
    node_up(&c, "c", pc, peers_c, sec2); /* another key: not one of us */
    cr_assert(peer_is(&a, "b", true));
    tr_reply_t rep;
    cr_assert_eq(tr_ask(a.sys, "echo@b", "echo", NULL, 0, 5000, &rep), 0);
    tr_reply_close(&rep);
    tr_sleep_ms(600); /* several heartbeats */
    cr_assert(peer_is(&a, "c", false), "a never hears from c");
    cr_assert(peer_is(&c, "a", false), "c never hears from a");
    node_down(&c);
    node_down(&b);
    node_down(&a);
}

Test(cluster, configuration_is_checked)
{
    char err[256], pub[41], sec[41];
    cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
    cluster_config_t c = {.addr = "", .peers = ""};
    cr_assert_eq(cluster_config_check(&c, err, sizeof err), 0, "off");
    c = (cluster_config_t){.addr = "tcp://127.0.0.1:7000", .peers = "b=tcp://127.0.0.1:7001,c=tcp://localhost:7002"};
    cr_assert_eq(cluster_config_check(&c, err, sizeof err), TR_ECONFIG, "no plaintext, loopback neither");
    cr_assert(strstr(err, "cluster_secret"), "%s", err);
    c.peers = "b=tcp://10.0.0.2:7000";
    c.secret = sec;
    cr_assert_eq(cluster_config_check(&c, err, sizeof err), 0, "with CURVE: %s", err);
    c.secret = "not-a-key";
    cr_assert_eq(cluster_config_check(&c, err, sizeof err), TR_ECONFIG);
    c = (cluster_config_t){.addr = "udp://127.0.0.1:7000", .peers = ""};
    cr_assert_eq(cluster_config_check(&c, err, sizeof err), TR_ECONFIG);
    const char *bad[] = {"b", "b=", "=tcp://127.0.0.1:1", "b=udp://127.0.0.1:1", "b c=tcp://127.0.0.1:1", NULL};
    for (int i = 0; bad[i]; i++) {
        c = (cluster_config_t){.addr = "tcp://127.0.0.1:7000", .peers = bad[i], .secret = sec};
        cr_assert_eq(cluster_config_check(&c, err, sizeof err), TR_ECONFIG, "%s", bad[i]);
    }
    /* a node that lists itself does not start */
    tr_system_t *sys;
    tr_system_opts_t o = {.node = "a"};
    cr_assert_eq(tr_system_new(&o, &sys), 0);
    c = (cluster_config_t){.addr = "tcp://127.0.0.1:*", .peers = "a=tcp://127.0.0.1:7001", .secret = sec};
    cr_assert_neq(tr_spawn(sys, "cluster", &cluster_behaviour, &c, NULL, NULL), 0);
    /* without a cluster, another node's actor is simply not there */
    cr_assert_eq(tr_send(sys, "echo@b", "echo", NULL, 0), TR_ENOPROC);
    tr_thread_done(sys);
    tr_system_destroy(&sys);
}

/* A full mailbox on one node does not stall the link: the sender is told
 * at once, and heartbeats and other traffic keep flowing. */
static int slow_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    tr_sleep_ms(300);
    if (msg->reply_to.len)
        tr_reply(self, msg, "done", NULL, 0);
    return 0;
}
static const tr_behaviour_t slow_beh = {.kind = "slow", .handle = slow_handle};

Test(cluster, a_full_mailbox_does_not_stall_the_link, .timeout = 120)
{
    static char pub[41], sec[41];
    cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
    int pa = free_port(), pb = free_port();
    char peers_a[96], peers_b[96];
    snprintf(peers_a, sizeof peers_a, "b=tcp://127.0.0.1:%d", pb);
    snprintf(peers_b, sizeof peers_b, "a=tcp://127.0.0.1:%d", pa);
    node_t a, b;
    node_up(&a, "a", pa, peers_a, sec);
    node_up(&b, "b", pb, peers_b, sec);
    tr_actor_opts_t so = {.mailbox_size = 2};
    cr_assert_eq(tr_spawn(b.sys, "slow", &slow_beh, NULL, &so, NULL), 0);
    cr_assert(peer_is(&a, "b", true));
    for (int i = 0; i < 20; i++)
        tr_send(a.sys, "slow@b", "work", NULL, 0);
    uint64_t t0 = tr_mono_ms();
    tr_reply_t rep;
    cr_assert_eq(tr_ask(a.sys, "echo@b", "echo", NULL, 0, 5000, &rep), 0, "other traffic still flows");
    tr_reply_close(&rep);
    cr_assert_lt(tr_mono_ms() - t0, 2000);
    /* asks to the full actor are refused at once (EFULL), not left to time out */
    int refused = 0;
    for (int i = 0; i < 10; i++) {
        int rc = tr_ask(a.sys, "slow@b", "work", NULL, 0, 5000, &rep);
        if (rc == TR_EREMOTE) {
            char code[32];
            if (strcmp(code_of(&rep, code, sizeof code), "EFULL") == 0)
                refused++;
            tr_reply_close(&rep);
        } else if (rc == 0) {
            tr_reply_close(&rep);
        }
    }
    cr_assert_gt(refused, 0);
    cr_assert(peer_is(&a, "b", true), "b stayed up for a");
    node_down(&b);
    node_down(&a);
}
