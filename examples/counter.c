/* counter.c - a 20-line actor: counts "inc" messages, answers "get". */
#include "tr.h"
#include <stdio.h>

static int handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    long *n = state;
    if (tr_str_eq(msg->type, "inc"))
        (*n)++;
    else if (tr_str_eq(msg->type, "get")) {
        uint8_t buf[16];
        tr_mpw_t w;
        tr_mpw_init_fixed(&w, buf, sizeof buf);
        tr_mpw_int(&w, *n);
        return tr_reply(self, msg, "count", buf, w.len);
    }
    return 0;
}

static int init(tr_actor_t *self, void *arg, void **state) { *state = arg; return 0; }

int main(void)
{
    static long count;
    const tr_behaviour_t counter = {.kind = "counter", .init = init, .handle = handle};
    tr_system_t *sys;
    tr_reply_t rep;
    int64_t n = -1;
    if (tr_system_new(NULL, &sys) || tr_spawn(sys, "counter", &counter, &count, NULL, NULL))
        return 1;
    for (int i = 0; i < 3; i++)
        tr_send(sys, "counter", "inc", NULL, 0);
    if (tr_ask(sys, "counter", "get", NULL, 0, 1000, &rep) == 0) {
        tr_mpr_t r;
        tr_mpr_init(&r, rep.msg.payload, rep.msg.payload_len);
        tr_mpr_int(&r, &n);
        tr_reply_close(&rep);
    }
    printf("count = %lld\n", (long long)n);
    tr_system_destroy(&sys);
    return n == 3 ? 0 : 1;
}
