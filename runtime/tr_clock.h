/* tr_clock.h - the runtime's clocks: monotonic for intervals and restart
 * intensity, wall (Unix) for deadlines that travel between nodes. */
#ifndef TR_CLOCK_H
#define TR_CLOCK_H

#include <stdint.h>

uint64_t tr_mono_ns(void);
uint64_t tr_mono_ms(void);
uint64_t tr_wall_ms(void);
/* Milliseconds left until the absolute wall deadline (0 if passed); -1 if none. */
int64_t tr_deadline_left_ms(uint64_t deadline_ms);
void tr_sleep_ms(unsigned ms);

#endif
