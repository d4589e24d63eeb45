/* SPDX-License-Identifier: Apache-2.0 */
/* Supernode selection and registration (spec §6.1 steps 3 and 5): the weighted node list
 * (weights divided by their GCD, expanded into repeated entries, shuffled), local IP discovery
 * (a TCP connect to the first reachable node), and POST /peer/registry tried node after node.
 * Migration = mark the current node failed and start again: the next untried node is used.
 *
 * Threading: loop thread only. Callback contract: after dfget_reg_start() returns 0 the
 * callback runs exactly once, from the loop, unless dfget_reg_free() runs first. */
#ifndef DFGET_REG_H
#define DFGET_REG_H

#include <stddef.h>
#include <stdint.h>

#include "dfget_config.h"
#include "dfget_msg.h"

struct df_http_client;
struct event_base;
struct dfget_reg;

/* Pure: expands nodes by weight (divided by the GCD of all weights), then shuffles with the
 * given seed (xorshift; seed 0 = keep order). Fills *order (heap, caller frees) with indexes
 * into nodes; *n_order entries. Expansion is capped at 1024 entries. */
void dfget_reg_expand(const struct dfget_node *nodes, size_t n, uint64_t seed, size_t **order,
                      size_t *n_order);

/* Blocking, for start-up: local address of a TCP connect (timeout_ms each) to the first node
 * that accepts, in the given order. Fills ip (numeric, no brackets) and *node_idx. Returns 0 or
 * -EHOSTUNREACH when no node answered. */
int dfget_reg_local_ip(const struct dfget_node *nodes, const size_t *order, size_t n_order,
                       int timeout_ms, char *ip, size_t iplen, size_t *node_idx)
    __attribute__((warn_unused_result));

/* err: 0 on success (reply->code 200, node = the node that accepted); DFGET_REG_NEED_AUTH when
 * a node answered 608 (do not back-source, exit 79); -ENOENT when every remaining node failed
 * (the last failure is in dfget_reg_last_error()). */
#define DFGET_REG_NEED_AUTH (-20001)
typedef void (*dfget_reg_cb)(int err, const struct dfget_reg_reply *reply,
                             const struct dfget_node *node, void *arg);

/* `req` is a template: supernode_ip is filled per node. The strings it points to must outlive
 * the dfget_reg. nodes are borrowed too. */
struct dfget_reg *dfget_reg_new(struct event_base *base, struct df_http_client *http,
                                const struct dfget_node *nodes, size_t nnodes, uint64_t seed,
                                const struct dfget_reg_req *req);
void dfget_reg_free(struct dfget_reg *r); /* NULL ok; cancels a registration in flight */

/* Registers with the next node not yet failed (in expanded order, starting after the last
 * node used). Returns 0 (callback will run) or -EBUSY if one is already running. */
int dfget_reg_start(struct dfget_reg *r, dfget_reg_cb cb, void *arg)
    __attribute__((warn_unused_result));
/* Marks the node last returned as failed (migration): it is never tried again. */
void dfget_reg_mark_current_failed(struct dfget_reg *r);
/* Number of distinct nodes not failed yet. */
size_t dfget_reg_remaining(const struct dfget_reg *r);
/* One line describing the last registration failure ("" if none). */
const char *dfget_reg_last_error(const struct dfget_reg *r);

#endif
