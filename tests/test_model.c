// The EfficientNet model: architectures, parameter counts, the families'
// layout and padding, PyTorch goldens (training step and eval), pretrained
// Lite0 on real photos, bad input.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/error.h"
#include "am/image.h"
#include "am/model.h"
#include "am/ops.h"
#include "am/tfile.h"
#include "am/train.h"
#include "am/weights.h"
#include "test.h"

#define LITE0_WEIGHTS "../weights/lite0.amw"

// The families' layout (include/am/model.h): every tensor at a multiple of
// AM_TENSOR_ALIGN elements, after the one before it in its family (table
// order, no overlap), and each family's length a multiple too.
static void check_layout(const am_model *m) {
    size_t end[2] = {0, 0};  // AM_PARAM, AM_STAT: where the family's last tensor so far ends
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *t = &m->tensors[i];
        int f = t->family == AM_STAT;
        ck_assert_msg(t->offset % AM_TENSOR_ALIGN == 0, "%s: %s at offset %zu, not a multiple of %d", m->arch.name,
                      t->name, t->offset, AM_TENSOR_ALIGN);
        ck_assert_msg(t->offset >= end[f], "%s: %s at %zu overlaps the tensor before it (ending at %zu)",
                      m->arch.name, t->name, t->offset, end[f]);
        end[f] = t->offset + t->n;
    }
    ck_assert_msg(end[0] <= m->nparams && m->nparams % AM_TENSOR_ALIGN == 0, "%s: %zu parameters end at %zu",
                  m->arch.name, m->nparams, end[0]);
    ck_assert_msg(end[1] <= m->nstats && m->nstats % AM_TENSOR_ALIGN == 0, "%s: %zu statistics end at %zu",
                  m->arch.name, m->nstats, end[1]);
}

// The padding of a family laid out as m's (params, grads, EMA params and
// optimiser state: AM_PARAM; stats: AM_STAT) is zero: every element before,
// between and after the family's tensors that belongs to none of them.
static void padding_zero(const am_model *m, int family, const float *base, const char *what) {
    size_t total = family == AM_PARAM ? m->nparams : m->nstats, from = 0;
    const char *after = "(the start)";
    cmp_result r = {0};
    for (int i = 0; i <= m->ntensors; i++) {
        const am_tensor *t = i < m->ntensors ? &m->tensors[i] : NULL;
        if (t && t->family != family) continue;
        for (size_t j = from; j < (t ? t->offset : total); j++) cmp_add(&r, after, j, base[j], 0.0, 0.0);
        if (t) {
            from = t->offset + t->n;
            after = t->name;
        }
    }
    char name[128];
    snprintf(name, sizeof name, "%s %s, padding after", m->arch.name, what);
    ck_assert_msg(cmp_end(&r, name), "%s %s: padding element %zu (after %s) is %g, not 0", m->arch.name, what, r.at,
                  r.where, r.got);
}

// Counts of the PyTorch model code (tests/ref/param_counts.py), 1000 classes;
// and every architecture's layout, its padding zero after the init.
START_TEST(test_param_counts) {
    static const struct { const char *arch; size_t n; } c[] = {
        {"b0", 5288548}, {"b1", 7794184}, {"b2", 9109994}, {"b3", 12233232},
        {"b4", 19341616}, {"b5", 30389784}, {"b6", 43040704}, {"b7", 66347960},
        {"lite0", 4652008}, {"lite1", 5416680}, {"lite2", 6092072}, {"lite3", 8197096},
        {"lite4", 13006568},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        am_model m;
        ck_assert_int_eq(am_model_init(&m, c[i].arch, 3, 1000, 1), 0);
        ck_assert_msg(am_model_count_params(&m) == c[i].n, "%s: %zu parameters, expected %zu", c[i].arch,
                      am_model_count_params(&m), c[i].n);
        check_layout(&m);
        padding_zero(&m, AM_PARAM, m.params, "parameters");
        padding_zero(&m, AM_PARAM, m.grads, "gradients");
        padding_zero(&m, AM_STAT, m.stats, "statistics");
        am_model_free(&m);
    }
}
END_TEST

START_TEST(test_arch_rules) {
    am_arch a;
    ck_assert_int_eq(am_arch_init(&a, "b0", 3, 1000), 0);
    ck_assert_int_eq(a.nblocks, 16);
    static const int se_b0[16] = {8, 4, 6, 6, 10, 10, 20, 20, 20, 28, 28, 28, 48, 48, 48, 48};
    for (int i = 0; i < 16; i++) ck_assert_int_eq(a.blocks[i].se, se_b0[i]);
    ck_assert(a.blocks[2].skip && !a.blocks[3].skip && a.blocks[3].stride == 2 && !a.blocks[1].skip && a.blocks[1].stride == 2);
    ck_assert_float_eq_tol(a.blocks[8].drop, 0.2f * 8 / 16, 1e-7);
    ck_assert_int_eq(am_arch_init(&a, "b7", 3, 1000), 0);
    ck_assert_int_eq(a.nblocks, 55);
    ck_assert_int_eq(a.stem, 64);
    ck_assert_int_eq(a.head, 2560);
    ck_assert_int_eq(am_arch_init(&a, "lite4", 3, 1000), 0);
    ck_assert_int_eq(a.stem, 32);
    ck_assert_int_eq(a.head, 1280);
    ck_assert_int_eq(a.blocks[0].out, 24);  // round_filters(16, 1.4)
    ck_assert_int_eq(a.blocks[0].se, 0);
    ck_assert_int_eq(a.blocks[a.nblocks - 1].out, 448);  // round_filters(320, 1.4)
}
END_TEST

START_TEST(test_bad_arguments) {
    am_model m;
    ck_assert_int_eq(am_model_init(&m, "b9", 3, 2, 0), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "b9"));
    ck_assert_int_eq(am_model_init(&m, "lite0", 3, 0, 0), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "class count 0"));
    ck_assert_int_eq(am_model_init(&m, "lite0", 0, 2, 0), -1);
    ck_assert_int_eq(am_model_check_size(31), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "at least 32"));
    ck_assert_int_eq(am_model_check_size(32), 0);
}
END_TEST

// Any input size >= 32, odd ones included, and any channel count run.
START_TEST(test_sizes_and_channels) {
    static const int sizes[] = {32, 33, 47};
    am_model m;
    ck_assert_int_eq(am_model_init(&m, "b0", 1, 3, 5), 0);
    for (int s = 0; s < 3; s++) {
        int S = sizes[s];
        float *x = malloc(sizeof(float) * 2 * S * S);
        for (int i = 0; i < 2 * S * S; i++) x[i] = (float)((i * 37) % 101) / 101.0f;
        float *z = am_forward(&m, x, 2, S, 1, 7, 0);
        for (int i = 0; i < 6; i++) ck_assert(isfinite(z[i]));
        float dz[6] = {0.1f, -0.2f, 0.1f, 0.3f, 0.0f, -0.3f};
        am_zero_grad(&m);
        am_backward(&m, dz);
        double sum = 0.0;
        for (size_t i = 0; i < m.nparams; i++) sum += fabs(m.grads[i]);
        ck_assert(isfinite(sum) && sum > 0.0);
        free(x);
    }
    am_model_free(&m);
}
END_TEST

static void load_golden_params(am_model *m, const am_tfile *g) {
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *t = &m->tensors[i];
        char key[96];
        snprintf(key, sizeof key, "init:%s", t->name);
        const am_tentry *e = am_tfile_find(g, key);
        ck_assert_msg(e != NULL, "golden lacks %s", key);
        golden_fill(am_model_data(m, t), t->n, t->name, e->data[0], e->data[1]);
    }
}

static const float *golden(const am_tfile *g, const char *name, size_t n) {
    const am_tentry *e = am_tfile_find(g, name);
    ck_assert_msg(e != NULL, "golden lacks '%s'", name);
    ck_assert_msg(e->n == n, "golden '%s' has %zu elements, expected %zu", name, e->n, n);
    return e->data;
}

static double max_abs(const float *a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

// Forward (train), loss, backward, running stats and eval logits against
// PyTorch (float64 reference).
static void check_train_golden(const char *arch, const char *path) {
    am_tfile g;
    ck_assert_msg(am_tfile_read(&g, path, "AMGD") == 0, "%s", am_error());
    const am_tentry *x = am_tfile_find(&g, "x");
    int N = x->shape[0], S = x->shape[1], K = 2;
    am_model m;
    ck_assert_int_eq(am_model_init(&m, arch, x->shape[3], K, 0), 0);
    load_golden_params(&m, &g);
    const am_tentry *gs = am_tfile_find(&g, "grad_stride");
    size_t gstride = gs ? (size_t)gs->data[0] : 1;
    m.dropout = 0.0f;
    m.drop_connect = 0.0f;
    const float *yf = golden(&g, "y", N);
    int y[16];
    for (int n = 0; n < N; n++) y[n] = (int)yf[n];
    double worst = 0.0;
    char what[128];
    float *z = am_forward(&m, x->data, N, S, 1, 0, 0);
    cmp_result c = cmp_close("logits", z, golden(&g, "logits", N * K), N * K, 1e-5, 1e-4);
    ck_assert(c.ok);
    printf("  %s logits: worst %.1f%% of tolerance\n", arch, c.pct);
    fflush(stdout);
    float probs[32], dz[32];
    float loss = softmax_ce_forward(probs, z, y, N, K);
    ck_assert(cmp_close("loss", &loss, golden(&g, "loss", 1), 1, 1e-6, 1e-4).ok);
    softmax_ce_backward(dz, probs, y, N, K);
    am_zero_grad(&m);
    am_backward(&m, dz);
    int ok = 1;
    for (int i = 0; i < m.ntensors; i++) {
        const am_tensor *t = &m.tensors[i];
        snprintf(what, sizeof what, "%s:%s", t->family == AM_PARAM ? "grad" : "after", t->name);
        // grad_stride: the golden keeps every stride-th gradient element.
        size_t stride = t->family == AM_PARAM ? gstride : 1, n = (t->n + stride - 1) / stride;
        const float *ref = golden(&g, what, n);
        const float *full = t->family == AM_PARAM ? m.grads + t->offset : m.stats + t->offset;
        float *got = malloc(sizeof(float) * n);
        for (size_t j = 0; j < n; j++) got[j] = full[j * stride];
        // BN shift gradients that are zero in exact arithmetic (a BN follows)
        // are judged against the scale of the same layer's gamma gradient.
        double amax = max_abs(ref, n);
        size_t len = strlen(what);
        if (len > 5 && !strcmp(what + len - 5, ".beta")) {
            char gname[128];
            snprintf(gname, sizeof gname, "%.*s.gamma", (int)(len - 5), what);
            amax = fmax(amax, max_abs(golden(&g, gname, n), n));
        }
        c = cmp_close(what, got, ref, n, 2e-4 * amax, 1e-3);
        ok &= c.ok;
        free(got);
        worst = fmax(worst, c.pct);
    }
    printf("  %s gradients and running stats: worst %.1f%% of tolerance\n", arch, worst);
    ck_assert_msg(ok, "%s: gradients or running statistics differ from PyTorch", arch);
    z = am_forward(&m, x->data, N, S, 0, 0, 0);
    c = cmp_close("eval_logits", z, golden(&g, "eval_logits", N * K), N * K, 1e-5, 1e-4);
    ck_assert(c.ok);
    printf("  %s eval logits: worst %.1f%% of tolerance\n", arch, c.pct);
    fflush(stdout);
    am_model_free(&m);
    am_tfile_free(&g);
}

START_TEST(test_golden_lite0) { check_train_golden("lite0", "golden/lite0_train.amg"); }
END_TEST

START_TEST(test_golden_b0) { check_train_golden("b0", "golden/b0_train.amg"); }
END_TEST

static void top5(int *idx, const float *z) {
    int used[1000] = {0};
    for (int k = 0; k < 5; k++) {
        int best = -1;
        for (int c = 0; c < 1000; c++)
            if (!used[c] && (best < 0 || z[c] > z[best])) best = c;
        used[best] = 1;
        idx[k] = best;
    }
}

// Pretrained Lite0 with the converted weights on real photos: PNG decode and
// the (v - 127) / 128 mapping give PyTorch's input, the logits match.
START_TEST(test_pretrained_photos) {
    static const char *photos[] = {"../data/samples/chelsea.png", "../data/samples/coffee.png",
                                   "../data/samples/astronaut.png"};
    am_tfile g;
    ck_assert_msg(am_tfile_read(&g, "golden/lite0_pretrained.amg", "AMGD") == 0, "%s", am_error());
    am_model m;
    ck_assert_int_eq(am_model_init(&m, "lite0", 3, 1000, 0), 0);
    ck_assert_msg(am_weights_load(&m, LITE0_WEIGHTS, 0) == 0, "%s", am_error());
    for (int p = 0; p < 3; p++) {
        char key[64];
        int w, h;
        uint8_t *px = am_png_read(photos[p], 3, &w, &h);
        ck_assert_msg(px != NULL, "%s", am_error());
        ck_assert(w == 224 && h == 224);
        float *x = malloc(sizeof(float) * w * h * 3);
        for (int i = 0; i < w * h * 3; i++) x[i] = (px[i] - 127.0f) / 128.0f;
        snprintf(key, sizeof key, "photo%d.x", p);
        ck_assert(cmp_close(key, x, golden(&g, key, (size_t)w * h * 3), (size_t)w * h * 3, 0, 0).ok);
        snprintf(key, sizeof key, "photo%d.logits", p);
        const float *ref = golden(&g, key, 1000);
        const float *z = am_forward(&m, x, 1, w, 0, 0, 0);
        cmp_result c = cmp_scaled(key, z, ref, 1000, 1e-4, 1e-3);
        ck_assert(c.ok);
        printf("  %s: logits worst %.1f%% of tolerance (rtol 1e-3)\n", photos[p], c.pct);
        int a[5], b[5];
        top5(a, z);
        top5(b, ref);
        for (int k = 0; k < 5; k++) ck_assert_msg(a[k] == b[k], "%s: top-5 differs at rank %d", photos[p], k);
        free(x);
        free(px);
    }
    am_model_free(&m);
    am_tfile_free(&g);
}
END_TEST

static void copy_file(const char *from, const char *to, long len) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    ck_assert(a && b);
    char buf[65536];
    size_t n;
    long left = len < 0 ? -1 : len;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) {
        if (left >= 0 && (long)n > left) n = (size_t)left;
        fwrite(buf, 1, n, b);
        if (left >= 0 && (left -= (long)n) == 0) break;
    }
    fclose(a);
    fclose(b);
}

START_TEST(test_bad_weight_files) {
    char path[] = "/tmp/am_weights_XXXXXX";
    close(mkstemp(path));
    am_model m;
    // Truncated.
    ck_assert_int_eq(am_model_init(&m, "lite0", 3, 1000, 0), 0);
    copy_file(LITE0_WEIGHTS, path, 1000000);
    ck_assert_int_eq(am_weights_load(&m, path, 0), -1);
    ck_assert_msg(strstr(am_error(), path) && strstr(am_error(), "truncated"), "%s", am_error());
    // Foreign file.
    copy_file("../data/samples/coffee.png", path, -1);
    ck_assert_int_eq(am_weights_load(&m, path, 0), -1);
    ck_assert_msg(strstr(am_error(), "not an am weight file"), "%s", am_error());
    // Older format version (header patched, checksum kept consistent by re-saving is not
    // possible, so the version check must come before the checksum).
    copy_file(LITE0_WEIGHTS, path, -1);
    FILE *f = fopen(path, "r+b");
    fseek(f, 4, SEEK_SET);
    fputc(0, f);
    fclose(f);
    ck_assert_int_eq(am_weights_load(&m, path, 0), -1);
    ck_assert_msg(strstr(am_error(), "version 0"), "%s", am_error());
    am_model_free(&m);
    // Architecture mismatch.
    ck_assert_int_eq(am_model_init(&m, "b0", 3, 1000, 0), 0);
    ck_assert_int_eq(am_weights_load(&m, LITE0_WEIGHTS, 0), -1);
    ck_assert_msg(strstr(am_error(), "'lite0'") && strstr(am_error(), "'b0'"), "%s", am_error());
    am_model_free(&m);
    // Channel mismatch (other than 3-channel weights into another count).
    ck_assert_int_eq(am_model_init(&m, "lite0", 2, 1000, 0), 0);
    ck_assert_int_eq(am_weights_save(&m, path, NULL), 0);
    am_model_free(&m);
    ck_assert_int_eq(am_model_init(&m, "lite0", 1, 1000, 0), 0);
    ck_assert_int_eq(am_weights_load(&m, path, 0), -1);
    ck_assert_msg(strstr(am_error(), "expects 2 input channels, the model has 1"), "%s", am_error());
    am_model_free(&m);
    unlink(path);
}
END_TEST

// The ImageNet stem adapted to C channels as the Python tool's timm does
// (golden/stem_adapt.bin, tests/ref/make_stem_golden.py: timm's
// adapt_input_conv): bit for bit (one sum of three floats, or one product);
// every other tensor as in the file.
START_TEST(test_stem_adapt) {
    size_t n = 0;
    char *buf = test_read_file("golden/stem_adapt.bin", &n);
    ck_assert(n > 8 && !memcmp(buf, "AMSA", 4));
    const char *p = buf + 8;
    uint32_t count;
    memcpy(&count, buf + 4, 4);
    am_model ref;
    ck_assert_int_eq(am_model_init(&ref, "lite0", 3, 1000, 0), 0);
    ck_assert_int_eq(am_weights_load(&ref, LITE0_WEIGHTS, 0), 0);
    for (uint32_t k = 0; k < count; k++) {
        uint32_t h[4];
        memcpy(h, p, sizeof h);
        p += sizeof h;
        int C = (int)h[0];
        size_t len = (size_t)h[1] * h[2] * h[3] * C;
        am_model m;
        ck_assert_int_eq(am_model_init(&m, "lite0", C, 1000, 0), 0);
        ck_assert_msg(am_weights_load(&m, LITE0_WEIGHTS, 0) == 0, "%s", am_error());
        const am_tensor *t = am_model_find(&m, "stem.conv");
        ck_assert(t && t->n == len);
        char what[64];
        snprintf(what, sizeof what, "stem for %d channels", C);
        ck_assert(cmp_close(what, am_model_data(&m, t), (const float *)p, len, 0, 0).ok);
        const am_tensor *a = am_model_find(&m, "blocks.0.dw.conv"), *b = am_model_find(&ref, "blocks.0.dw.conv");
        ck_assert(a && b && !memcmp(am_model_data(&m, a), am_model_data(&ref, b), sizeof(float) * a->n));
        p += sizeof(float) * len;
        am_model_free(&m);
    }
    am_model_free(&ref);
    free(buf);
}
END_TEST

// A different class count keeps the backbone and re-initialises the FC layer;
// save and reload round-trips every tensor.
START_TEST(test_weights_new_head_and_roundtrip) {
    am_model a, b;
    ck_assert_int_eq(am_model_init(&a, "lite0", 3, 1000, 0), 0);
    ck_assert_int_eq(am_weights_load(&a, LITE0_WEIGHTS, 0), 0);
    ck_assert_int_eq(am_model_init(&b, "lite0", 3, 2, 9), 0);
    ck_assert_int_eq(am_weights_load(&b, LITE0_WEIGHTS, 9), 0);
    const am_tensor *ta = am_model_find(&a, "head.conv"), *tb = am_model_find(&b, "head.conv");
    ck_assert(!memcmp(am_model_data(&a, ta), am_model_data(&b, tb), ta->n * sizeof(float)));
    ta = am_model_find(&a, "blocks.7.dw.bn.var");
    tb = am_model_find(&b, "blocks.7.dw.bn.var");
    ck_assert(!memcmp(am_model_data(&a, ta), am_model_data(&b, tb), ta->n * sizeof(float)));
    const am_tensor *fc = am_model_find(&b, "fc.w");
    float *w = am_model_data(&b, fc), bound = 1.0f / sqrtf(1280.0f), sum = 0.0f;
    for (size_t i = 0; i < fc->n; i++) {
        ck_assert(fabsf(w[i]) <= bound);
        sum += fabsf(w[i]);
    }
    ck_assert(sum > 0.0f);
    char path[] = "/tmp/am_weights_XXXXXX";
    close(mkstemp(path));
    ck_assert_int_eq(am_weights_save(&b, path, NULL), 0);
    am_model c;
    ck_assert_int_eq(am_model_init(&c, "lite0", 3, 2, 1), 0);
    ck_assert_int_eq(am_weights_load(&c, path, 1), 0);
    ck_assert(!memcmp(b.params, c.params, b.nparams * sizeof(float)));
    ck_assert(!memcmp(b.stats, c.stats, b.nstats * sizeof(float)));
    unlink(path);
    am_model_free(&a);
    am_model_free(&b);
    am_model_free(&c);
}
END_TEST

// The padding of all of a trainer's families.
static void trainer_padding_zero(const am_trainer *t, const char *when) {
    const am_model *m = &t->model;
    const struct {
        int family;
        const float *base;
        const char *name;
    } f[] = {
        {AM_PARAM, m->params, "parameters"},
        {AM_PARAM, m->grads, "gradients"},
        {AM_STAT, m->stats, "statistics"},
        {AM_PARAM, t->ema.params, "EMA parameters"},
        {AM_STAT, t->ema.stats, "EMA statistics"},
        {AM_PARAM, t->v, "momentum / Adam m"},
        {AM_PARAM, t->s, "Adam s"},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s %s", f[i].name, when);
        padding_zero(m, f[i].family, f[i].base, what);
    }
}

// The padding stays zero after a weight load, SGD and AdamW steps, and a
// checkpoint load (the file holds the tensors packed; the load puts them back
// at their offsets).
START_TEST(test_padding_stays_zero) {
    am_model m;
    ck_assert_int_eq(am_model_init(&m, "lite0", 3, 1000, 0), 0);
    ck_assert_msg(am_weights_load(&m, LITE0_WEIGHTS, 0) == 0, "%s", am_error());
    padding_zero(&m, AM_PARAM, m.params, "parameters after a weight load");
    padding_zero(&m, AM_STAT, m.stats, "statistics after a weight load");
    am_model_free(&m);
    am_train_hparams hp = am_train_defaults();
    hp.batch = 2;
    hp.mu = 1;
    enum { S = 32 };
    size_t nx = (size_t)hp.batch * (1 + 2 * hp.mu) * S * S * 3;
    float *x = malloc(sizeof(float) * nx);
    for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 37) % 101) / 101.0f;
    int y[2] = {0, 1};
    am_trainer *t = calloc(3, sizeof *t);  // SGD, AdamW, and one that loads AdamW's checkpoint
    ck_assert_ptr_nonnull(t);
    for (int o = 0; o < 2; o++) {
        hp.optimizer = o ? AM_OPT_ADAMW : AM_OPT_SGD;
        ck_assert_int_eq(am_trainer_init(&t[o], "lite0", 3, 2, 5, &hp), 0);
        for (int k = 0; k < 2; k++) am_train_step(&t[o], x, y, S);
        trainer_padding_zero(&t[o], o ? "after AdamW steps" : "after SGD steps");
    }
    char path[] = "/tmp/am_ckpad_XXXXXX";
    close(mkstemp(path));
    ck_assert_msg(am_checkpoint_save(&t[1], path, NULL, NULL) == 0, "%s", am_error());
    ck_assert_int_eq(am_trainer_init(&t[2], "lite0", 3, 2, 6, &hp), 0);
    ck_assert_msg(am_checkpoint_load(&t[2], path, NULL, NULL) == 0, "%s", am_error());
    trainer_padding_zero(&t[2], "after a checkpoint load");
    ck_assert_msg(!memcmp(t[2].model.params, t[1].model.params, sizeof(float) * t[1].model.nparams) &&
                  !memcmp(t[2].v, t[1].v, sizeof(float) * 2 * t[1].model.nparams),
                  "the checkpoint load did not restore the trainer's parameters and optimiser state");
    unlink(path);
    free(x);
    for (int i = 0; i < 3; i++) am_trainer_free(&t[i]);
    free(t);
}
END_TEST

Suite *suite_model(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("arch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_param_counts);
    tcase_add_test(tc, test_arch_rules);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    tc = tcase_create("golden");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_sizes_and_channels);
    tcase_add_test(tc, test_golden_lite0);
    tcase_add_test(tc, test_golden_b0);
    tcase_add_test(tc, test_pretrained_photos);
    suite_add_tcase(s, tc);
    tc = tcase_create("weights");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bad_weight_files);
    tcase_add_test(tc, test_stem_adapt);
    tcase_add_test(tc, test_weights_new_head_and_roundtrip);
    suite_add_tcase(s, tc);
    tc = tcase_create("padding");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_padding_stays_zero);
    suite_add_tcase(s, tc);
    return s;
}
