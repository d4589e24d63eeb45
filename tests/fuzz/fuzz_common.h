/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of the libFuzzer harnesses (tests/fuzz/fuzz_*.c, docs/fuzzing.md). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a crash for libFuzzer) with a message when cond is false: the harness's own
 * invariants, checked on top of ASan/UBSan. */
#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* Heap NUL-terminated copy of data (embedded NULs stay: C parsers then see a prefix). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Splits a copy of the input into at most n fields separated by '\n' (the last field keeps the
 * rest, newlines included). Missing fields are "". Returns the buffer to free; f[i] point in it. */
static inline char *fuzz_split(const uint8_t *data, size_t size, char **f, size_t n)
{
    char *s = fuzz_strdup(data, size);
    char *p = s;
    for (size_t i = 0; i < n; i++) {
        f[i] = p;
        if (i + 1 == n)
            break;
        char *nl = strchr(p, '\n');
        if (nl) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p += strlen(p); /* the remaining fields are "" */
        }
    }
    return s;
}

/* Consumes a little-endian integer of n bytes (0 when the input is short). */
static inline uint64_t fuzz_take_u(const uint8_t **data, size_t *size, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && *size > 0; i++) {
        v |= (uint64_t)(*data)[0] << (8 * i);
        (*data)++;
        (*size)--;
    }
    return v;
}

#endif
