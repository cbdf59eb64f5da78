// Model weights in the am tensor file format (weights/FORMAT.md).
#pragma once
#include "am/model.h"

// Loads every tensor of the model from `path`. The file's architecture and
// input channels must match the model; when its class count differs, the
// backbone is kept and the FC layer re-initialised from `seed` (as the
// Python tool does). Returns -1 (am_error()) with a message naming the file.
int am_weights_load(am_model *m, const char *path, uint64_t seed);
int am_weights_save(const am_model *m, const char *path);
