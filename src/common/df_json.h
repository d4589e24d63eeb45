/* SPDX-License-Identifier: Apache-2.0 */
/* jansson helpers. Dragonfly's Go supernode matches JSON keys case-insensitively (spec §2.1),
 * so every lookup of a client-sent key goes through the _ci getters. */
#ifndef DF_JSON_H
#define DF_JSON_H

#include <jansson.h>
#include <stdint.h>

/* Borrowed reference to the value of `key` (case-insensitive), NULL if absent. */
json_t *df_json_get_ci(const json_t *obj, const char *key);
/* String value or NULL (absent / not a string). Borrowed. */
const char *df_json_str_ci(const json_t *obj, const char *key);
/* Integer value (also accepts an integral real or a decimal string). 0, -ENOENT, -EINVAL. */
int df_json_int_ci(const json_t *obj, const char *key, int64_t *out) __attribute__((warn_unused_result));
/* Boolean (true/false, also "true"/"false" strings and 0/1). 0, -ENOENT, -EINVAL. */
int df_json_bool_ci(const json_t *obj, const char *key, int *out) __attribute__((warn_unused_result));

/* Serialises {"code":code,"msg":msg?,"data":data?} (msg omitted when NULL/empty, data omitted
 * when NULL). Takes ownership of `data`. Returns a heap string (caller frees). */
char *df_json_result(int code, const char *msg, json_t *data);

#endif
