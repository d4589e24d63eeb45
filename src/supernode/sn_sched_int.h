/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to sn_sched.c and sn_sched_pick.c (not part of the scheduler's API). */
#ifndef SN_SCHED_INT_H
#define SN_SCHED_INT_H

#include "sn_sched.h"

/* Grows b (geometrically, >= 64 bits) so that bit n exists. */
void sn_sched_bitmap_ensure(struct df_bitmap *b, uint32_t n);
/* Releases the loads a running entry holds (piece in-flight counts, the source's upload load)
 * once (is_released); the entry itself stays. */
void sn_sched_release(struct sn_sched_task *t, struct sn_sched_running *r);

#endif
