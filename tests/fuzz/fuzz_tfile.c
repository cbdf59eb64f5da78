// libFuzzer harness: the one reader of weights, goldens and checkpoints (the
// am tensor file, weights/FORMAT.md) and the checkpoint loader. Each input
// is tried as it is and again with its trailing CRC-32 recomputed, so that
// mutations get past the checksum into the table and size checks. A file
// that reads must describe exactly its data: every entry lies inside the
// file, aligned for its type, its element count its shape's, of a type its
// kind may hold (weights: float32 and texts; goldens: float32 only), and its
// first and last elements are read. The checkpoint loads into two small fake
// trainers (arch "tiny", 3 channels, 2 classes; one tensor `w` of 3
// parameters and one `mean` of 2 statistics, unpadded; SGD and AdamW): only
// the fields the loader uses. A load that succeeds restored exactly the
// file's entries (the consistency loss's state too); one that fails leaves
// the trainer untouched.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "am/tfile.h"
#include "am/train.h"
#include "fuzz_file.h"

typedef struct {
    float params[3], stats[2], ema_params[3], ema_stats[2], opt[6];
} fake_state;

typedef struct {
    am_trainer t;
    fake_state d;
} fake;

static fake sgd, adamw;

static void fake_init(fake *f, int optimizer) {
    am_model *m = &f->t.model;
    strcpy(m->arch.name, "tiny");
    m->arch.in_ch = 3;
    m->arch.classes = 2;
    m->nparams = 3;
    m->nstats = 2;
    m->tensors[0] = (am_tensor){.name = "w", .ndim = 1, .shape = {3}, .n = 3, .offset = 0, .family = AM_PARAM};
    m->tensors[1] = (am_tensor){.name = "mean", .ndim = 1, .shape = {2}, .n = 2, .offset = 0, .family = AM_STAT};
    m->ntensors = 2;
    m->params = f->d.params;
    m->stats = f->d.stats;
    f->t.ema = *m;
    f->t.ema.params = f->d.ema_params;
    f->t.ema.stats = f->d.ema_stats;
    f->t.v = f->d.opt;
    f->t.s = f->d.opt + 3;
    f->t.hp.optimizer = optimizer;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init("tfile");
    fake_init(&sgd, AM_OPT_SGD);
    fake_init(&adamw, AM_OPT_ADAMW);
    return 0;
}

// The loader's device hooks (src/train/trainer.c, not linked here): nothing
// for a trainer on the CPU.
void am_trainer_download(am_trainer *t) { (void)t; }
void am_trainer_upload(am_trainer *t) { (void)t; }

static const size_t elem_bytes[] = {[AM_TF_F32] = 4, [AM_TF_U8] = 1, [AM_TF_U64] = 8};

static void check_tfile(const am_tfile *f, size_t size, const char *magic) {
    const int floats_only = !strcmp(magic, "AMGD"), no_u64 = strcmp(magic, "AMCK") != 0;
    volatile uint8_t sink = 0;
    for (int i = 0; i < f->ntensors; i++) {
        const am_tentry *e = &f->t[i];
        if (e->type < AM_TF_F32 || e->type > AM_TF_U64 || e->ndim < 1 || e->ndim > 4) abort();
        if ((floats_only && e->type != AM_TF_F32) || (no_u64 && e->type == AM_TF_U64)) abort();
        size_t n = 1, es = elem_bytes[e->type];
        for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
        if (n != e->n || memchr(e->name, 0, sizeof e->name) == NULL) abort();
        if (e->u8 < f->buf || e->u8 + n * es > f->buf + size - 4 || (uintptr_t)e->u8 % es) abort();
        if (n) sink ^= e->u8[0] ^ e->u8[n * es - 1];
        if (am_tfile_find(f, e->name) == NULL) abort();
    }
    (void)sink;
}

// A load that succeeded restored exactly what the file holds.
static void check_loaded(const fake *f) {
    am_tfile t;
    if (am_tfile_read(&t, fuzz_path, "AMCK")) abort();
    static const char *names[] = {"w", "mean", "ema:w", "ema:mean", "v:w", "s:w"};
    static const size_t n[] = {3, 2, 3, 2, 3, 3};
    const float *loaded[] = {f->d.params, f->d.stats, f->d.ema_params, f->d.ema_stats, f->d.opt, f->d.opt + 3};
    for (int i = 0; i < (f->t.hp.optimizer == AM_OPT_ADAMW ? 6 : 5); i++) {
        const am_tentry *e = am_tfile_find(&t, names[i]);
        if (!e || e->type != AM_TF_F32 || e->n != n[i] || memcmp(e->data, loaded[i], sizeof(float) * n[i])) abort();
    }
    const am_tentry *step = am_tfile_find(&t, "step"), *seed = am_tfile_find(&t, "seed"),
                    *ssl = am_tfile_find(&t, "ssl_state");
    if (!step || !seed || step->u64[0] != f->t.step || seed->u64[0] != f->t.seed) abort();
    if (ssl && am_tfile_find(&t, "ssl_loss") && memcmp(ssl->data, f->t.ssl.f, sizeof f->t.ssl.f)) abort();
    am_tfile_free(&t);
}

static void try_load(fake *f) {
    const uint64_t step = f->t.step, seed = f->t.seed;
    const fake_state before = f->d;
    const am_ssl_state ssl = f->t.ssl;
    char *config = NULL, *labels = NULL;
    if (am_checkpoint_load(&f->t, fuzz_path, &config, &labels) == 0) {
        if (!config || !labels) abort();
        check_loaded(f);
        free(config);
        free(labels);
    } else if (memcmp(&before, &f->d, sizeof before) || memcmp(&ssl, &f->t.ssl, sizeof ssl) || f->t.step != step ||
               f->t.seed != seed || config || labels) {
        abort();  // a failed load changed the trainer or the texts
    }
}

static void try_read(const uint8_t *data, size_t size) {
    fuzz_file_write(data, size);
    static const char *magics[] = {"AMWT", "AMGD", "AMCK"};
    const char *magic = "AMWT";
    for (int k = 0; k < 3; k++)
        if (size >= 4 && !memcmp(data, magics[k], 4)) magic = magics[k];
    am_tfile t;
    if (am_tfile_read(&t, fuzz_path, magic) == 0) {
        check_tfile(&t, size, magic);
        am_tfile_free(&t);
    }
    try_load(&sgd);
    try_load(&adamw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try_read(data, size);
    if (size >= 8) {
        uint8_t *fixed = malloc(size);
        memcpy(fixed, data, size);
        uint32_t crc = (uint32_t)crc32(0L, fixed, (uInt)(size - 4));
        for (int i = 0; i < 4; i++) fixed[size - 4 + i] = (uint8_t)(crc >> (8 * i));
        try_read(fixed, size);
        free(fixed);
    }
    return 0;
}
