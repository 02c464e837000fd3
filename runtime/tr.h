/* tr.h - everything a troupe actor needs: the runtime in one include. */
#ifndef TR_H
#define TR_H

#include "tr_actor.h"
#include "tr_clock.h"
#include "tr_config.h"
#include "tr_envelope.h"
#include "tr_err.h"
#include "tr_log.h"
#include "tr_metrics.h"
#include "tr_mp.h"
#include "tr_supervisor.h"
#include "tr_trace.h"

#endif
