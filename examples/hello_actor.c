/* hello_actor.c - the smallest troupe program: one actor that greets. */
#include "tr.h"
#include <stdio.h>

static int greet(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    char who[64];
    tr_mpr_t r;
    const char *s;
    uint32_t n;
    tr_mpr_init(&r, msg->payload, msg->payload_len);
    if (tr_mpr_str(&r, &s, &n) || !s)
        return tr_reply_error(self, msg, TR_EINVAL, "expected a name"), 0;
    snprintf(who, sizeof who, "hello, %.*s", (int)n, s);
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, (char[80]){0}, 80);
    tr_mpw_cstr(&w, who);
    return tr_reply(self, msg, "greeting", w.buf, w.len);
}

static const tr_behaviour_t greeter = {.kind = "greeter", .handle = greet};

int main(void)
{
    tr_system_t *sys;
    if (tr_system_new(NULL, &sys) || tr_spawn(sys, "greeter", &greeter, NULL, NULL, NULL))
        return 1;
    tr_reply_t rep;
    uint8_t name[] = {0xa5, 'w', 'o', 'r', 'l', 'd'}; /* MessagePack "world" */
    if (tr_ask(sys, "greeter", "greet", name, sizeof name, 1000, &rep) == 0) {
        printf("%.*s\n", (int)rep.msg.payload_len - 1, (const char *)rep.msg.payload + 1);
        tr_reply_close(&rep);
    }
    tr_system_destroy(&sys);
    return 0;
}
