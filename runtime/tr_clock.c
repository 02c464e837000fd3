/* tr_clock.c - clock helpers (see tr_clock.h). */
#include "tr_clock.h"

#include <time.h>

uint64_t tr_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t tr_mono_ms(void)
{
    return tr_mono_ns() / 1000000ull;
}

uint64_t tr_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

int64_t tr_deadline_left_ms(uint64_t deadline_ms)
{
    if (!deadline_ms)
        return -1;
    uint64_t now = tr_wall_ms();
    return now >= deadline_ms ? 0 : (int64_t)(deadline_ms - now);
}

void tr_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}
