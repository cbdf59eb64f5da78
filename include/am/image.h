// Image files to uint8 pixels.
#pragma once
#include <stdint.h>

// Reads a PNG (8/16-bit, gray/RGB/alpha/palette) as `channels` (1 or 3)
// interleaved uint8 channels; gray is replicated to RGB, alpha is dropped.
// Returns a malloc'd buffer (H,W,channels) or NULL with am_error() set.
uint8_t *am_png_read(const char *path, int channels, int *w, int *h);
