// SPDX-License-Identifier: Apache-2.0
// A background worker: one thread that runs a round function again and again, waiting between
// rounds for as long as the round asks (or until kicked), until stopped. The outbox relay, the
// sweeper, the catalog follower and the exporter of booking are such loops.
#ifndef BOXOFFICE_WORKER_H
#define BOXOFFICE_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "boxoffice/err.h"

struct bx_worker;

/* One round; returns how many ms to wait before the next (0: at once). A kick or a stop ends the
 * wait early. */
typedef int64_t (*bx_worker_round_fn)(void *arg);

/* Starts the thread (the first round runs at once). NULL with err set when it cannot. */
struct bx_worker *bx_worker_start(bx_worker_round_fn round, void *arg, struct bx_error *err);
/* Ends the current wait: the next round runs now (or as soon as the current one returns). */
void bx_worker_kick(struct bx_worker *w);
/* True once bx_worker_stop was called: long rounds check it to give up early. */
bool bx_worker_stopping(struct bx_worker *w);
/* Asks the thread to stop, waits for its round to return, joins and frees. NULL is a no-op. */
void bx_worker_stop(struct bx_worker *w);

#endif
