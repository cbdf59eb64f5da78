// Logging with levels. AM_LOG=debug|info|warn|error sets the threshold
// (default info); messages go to stderr.
#pragma once

enum { AM_LOG_DEBUG, AM_LOG_INFO, AM_LOG_WARN, AM_LOG_ERROR };

void am_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void am_log_set_level(int level);

#define am_debug(...) am_log(AM_LOG_DEBUG, __VA_ARGS__)
#define am_info(...)  am_log(AM_LOG_INFO, __VA_ARGS__)
#define am_warn(...)  am_log(AM_LOG_WARN, __VA_ARGS__)
