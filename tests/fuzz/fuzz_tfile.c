// libFuzzer harness: the tensor file reader and the checkpoint loader. Each
// input is tried as it is and again with its trailing CRC-32 recomputed, so
// that mutations get past the checksum into the table and size checks. A
// tensor file that reads must describe exactly its data: every tensor's last
// element is read. The checkpoint loads into a small fake trainer (arch
// "tiny", one tensor of 3 parameters and one of 2 statistics, unpadded): only
// the fields the loader uses.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "am/tfile.h"
#include "am/train.h"
#include "fuzz_file.h"

static am_trainer tr;
static float params[3], stats[2], ema_params[3], ema_stats[2], opt[6];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init("tfile");
    strcpy(tr.model.arch.name, "tiny");
    strcpy(tr.ema.arch.name, "tiny");
    tr.model.nparams = tr.ema.nparams = 3;
    tr.model.nstats = tr.ema.nstats = 2;
    tr.model.tensors[0] = (am_tensor){.name = "w", .ndim = 1, .shape = {3}, .n = 3, .offset = 0, .family = AM_PARAM};
    tr.model.tensors[1] = (am_tensor){.name = "mean", .ndim = 1, .shape = {2}, .n = 2, .offset = 0, .family = AM_STAT};
    tr.model.ntensors = 2;
    tr.model.params = params;
    tr.model.stats = stats;
    tr.ema.params = ema_params;
    tr.ema.stats = ema_stats;
    tr.v = opt;
    return 0;
}

// The loader's device hooks (src/train/trainer.c, not linked here): nothing
// for a trainer on the CPU.
void am_trainer_download(am_trainer *t) { (void)t; }
void am_trainer_upload(am_trainer *t) { (void)t; }

static void put(const uint8_t *data, size_t size) { fuzz_file_write(data, size); }

static void try_read(void) {
    am_tfile t;
    if (am_tfile_read(&t, fuzz_path, "AMWT") == 0) {
        volatile float sink = 0;
        for (int i = 0; i < t.ntensors; i++) {
            const am_tentry *e = &t.t[i];
            size_t n = 1;
            for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
            if (e->ndim < 1 || e->ndim > 4 || n != e->n || memchr(e->name, 0, sizeof e->name) == NULL) abort();
            if (e->n) sink += e->data[0] + e->data[e->n - 1];
            if (am_tfile_find(&t, e->name) == NULL) abort();
        }
        (void)sink;
        am_tfile_free(&t);
    }
    char *text = NULL;
    if (am_checkpoint_load(&tr, fuzz_path, &text) == 0) {
        if (!text) abort();
        free(text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    put(data, size);
    try_read();
    if (size >= 8) {
        uint8_t *fixed = malloc(size);
        memcpy(fixed, data, size);
        uint32_t crc = (uint32_t)crc32(0L, fixed, (uInt)(size - 4));
        for (int i = 0; i < 4; i++) fixed[size - 4 + i] = (uint8_t)(crc >> (8 * i));
        put(fixed, size);
        try_read();
        free(fixed);
    }
    return 0;
}
