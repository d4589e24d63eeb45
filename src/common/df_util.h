/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers every module uses: aborting allocators (for small, programmer-sized
 * allocations only; sizes from the network are checked by the caller and fail softly),
 * checked number parsing, time, paths, human units. No global state. */
#ifndef DF_UTIL_H
#define DF_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
/* Included before the poison pragma below so that their declarations of banned names are
 * already seen; later includes of these headers are no-ops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

#define DF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DF_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Programmer-error assertion (never for input validation). Aborts with file:line. */
#define DF_ASSERT(cond)                                                                        \
    do {                                                                                       \
        if (!(cond))                                                                           \
            df__assert_fail(#cond, __FILE__, __LINE__);                                        \
    } while (0)
void df__assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));

/* Abort on out-of-memory. df_xstrdup(NULL) returns NULL. */
void *df_xmalloc(size_t n);
void *df_xcalloc(size_t n, size_t size);
void *df_xrealloc(void *p, size_t n);
char *df_xstrdup(const char *s);
char *df_xstrndup(const char *s, size_t n);
/* printf into a new heap string (aborts on OOM). */
char *df_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whole-string decimal parsing; leading/trailing junk, sign on unsigned, overflow → -EINVAL /
 * -ERANGE. Result untouched on error. */
int df_parse_u64(const char *s, uint64_t *out) __attribute__((warn_unused_result));
int df_parse_i64(const char *s, int64_t *out) __attribute__((warn_unused_result));
int df_parse_int(const char *s, int *out) __attribute__((warn_unused_result));

/* Byte rate / size strings as Dragonfly accepts them (binary units):
 * "123" → 123, "20K"/"20KB"/"20k" → 20480, "20M"/"20MB"/"20m" → 20971520, "1G"/"1GB" → 2^30, "1.5M" ok,
 * "0" → 0. Hex, exponents, signs and junk → -EINVAL; > 2^63 → -ERANGE. */
int df_parse_bytes(const char *s, uint64_t *out) __attribute__((warn_unused_result));

/* Go-style durations: "90s", "3m", "3m0s", "1h30m", "500ms", "2m30s"; a bare integer means
 * seconds (dfget 0.3 `--timeout 30`). Result in milliseconds. Returns 0 or -EINVAL. */
int df_parse_duration_ms(const char *s, int64_t *out_ms) __attribute__((warn_unused_result));

/* Monotonic clock in ms / us; wall clock in ms since the epoch. */
int64_t df_now_ms(void);
int64_t df_now_us(void);
int64_t df_wall_ms(void);

/* mkdir -p. Returns 0 (also if it exists as a dir) or -errno. */
int df_mkdir_p(const char *path, mode_t mode) __attribute__((warn_unused_result));
/* Heap "a/b" joined with exactly one '/'. */
char *df_path_join(const char *a, const char *b);
/* Free bytes available to unprivileged writers on the filesystem holding `path` (statvfs).
 * Returns 0 or -errno. */
int df_fs_free_bytes(const char *path, uint64_t *out) __attribute__((warn_unused_result));
/* Reads a whole small file (<= max bytes) into a heap NUL-terminated buffer (blocking). 0 or
 * -errno / DF_ETOOBIG. */
int df_read_file(const char *path, size_t max, char **out, size_t *len)
    __attribute__((warn_unused_result));
/* Writes len bytes to path atomically: into tmp_path (whatever is there — a crash leftover, a
 * planted symlink — is removed, never opened; O_EXCL|O_NOFOLLOW then makes a new regular file
 * with `mode`), fsync, rename over path. 0 or -errno; tmp_path is gone on failure. */
int df_write_file_atomic(const char *path, const char *tmp_path, const void *data, size_t len,
                         mode_t mode) __attribute__((warn_unused_result));
/* The same from an open descriptor, which it takes (closed on return, also on error). */
int df_read_fd(int fd, size_t max, char **out, size_t *len) __attribute__((warn_unused_result));

/* "12.3 MiB" style formatting into buf (always NUL-terminated). */
const char *df_fmt_bytes(uint64_t n, char *buf, size_t len);

/* Unsafe libc calls are banned in our code (the pragma makes any use a compile error). */
#ifndef DF_ALLOW_BANNED
#pragma GCC poison strcpy strcat sprintf vsprintf gets atoi atol strtok
#endif

#endif
