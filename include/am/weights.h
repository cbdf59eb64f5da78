// Model weights in the am tensor file format (weights/FORMAT.md).
#pragma once
#include "am/inputs.h"
#include "am/model.h"

// The preprocessing a model was trained with (include/am/inputs.h) travels
// in the model's weight file (text entry `preprocess`, `key = value` lines)
// so that scoring applies the same.

// Loads every tensor of the model from `path`. The file's architecture and
// input channels must match the model, except that 3-channel weights (the
// ImageNet ones) load into a model of C channels with the stem adapted as
// the Python tool's timm does (C = 1: summed over RGB; else RGB repeated,
// times 3 / C); when its class count differs, the backbone is kept and the
// FC layer re-initialised from `seed` (as the Python tool does). Returns -1 (am_error()) with a message naming the file.
int am_weights_load(am_model *m, const char *path, uint64_t seed);
// Writes the model's tensors, and pre (NULL: none, as in converted
// ImageNet weights). -1 (am_error()) on failure; the previous file is intact.
int am_weights_save(const am_model *m, const char *path, const am_preprocess *pre);
// The preprocessing in a weight file: 1 (into *pre), 0 when the file holds
// none, -1 (am_error(): unreadable file, or a key this am does not know,
// i.e. a preprocessing it cannot apply).
int am_weights_preprocess(const char *path, am_preprocess *pre);
// The file's architecture name (arch[17]), input channels and classes: 0 or -1 (am_error()).
int am_weights_header(const char *path, char *arch, int *in_ch, int *classes);
