#include "am/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int threshold = -1;

static int level_from_env(void) {
    const char *s = getenv("AM_LOG");
    if (!s) return AM_LOG_INFO;
    if (!strcmp(s, "debug")) return AM_LOG_DEBUG;
    if (!strcmp(s, "warn")) return AM_LOG_WARN;
    if (!strcmp(s, "error")) return AM_LOG_ERROR;
    return AM_LOG_INFO;
}

void am_log_set_level(int level) { threshold = level; }

void am_log(int level, const char *fmt, ...) {
    static const char *names[] = {"debug", "info", "warning", "error"};
    if (threshold < 0) threshold = level_from_env();
    if (level < threshold) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "am: %s: ", names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
