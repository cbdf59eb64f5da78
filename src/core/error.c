#include "am/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[1024];

void am_fatal(const char *file, int line, const char *call, const char *hint) {
    fprintf(stderr, "am: fatal: %s failed at %s:%d\n  hint: %s\n", call, file, line,
            hint ? hint : "none");
    exit(1);
}

void am_fatalf(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "am: fatal at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

int am_seterr(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

const char *am_error(void) { return last_error[0] ? last_error : "no error"; }

void *am_malloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) am_fatalf(file, line, "out of memory allocating %zu bytes: lower the batch size or image size", n);
    return p;
}

void *am_calloc_at(size_t n, const char *file, int line) {
    void *p = calloc(1, n ? n : 1);
    if (!p) am_fatalf(file, line, "out of memory allocating %zu bytes: lower the batch size or image size", n);
    return p;
}
