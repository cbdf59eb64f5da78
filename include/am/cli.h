// Small helpers shared by the command-line programs.
#pragma once
#include <stddef.h>

// `rel` resolved against the directory holding the running executable
// (the binaries live at the top of the source tree, beside weights/ and data/).
void am_exe_path(char *out, size_t len, const char *rel);
