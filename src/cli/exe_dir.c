#include "am/cli.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void am_exe_path(char *out, size_t len, const char *rel) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) { snprintf(out, len, "%s", rel); return; }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(out, len, "%s/%s", exe, rel);
}
