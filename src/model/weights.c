#include "am/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/log.h"
#include "am/tfile.h"

// The stem of 3-channel weights w (O, kh, kw, 3) for C input channels, as
// timm's adapt_input_conv (which the Python tool's timm.create_model(...,
// in_chans=C) applies): C = 1 the sum over RGB; else RGB repeated in turn,
// cut to C, times 3 / C. out (O, kh, kw, C).
static void stem_adapt(float *out, const float *w, int pixels, int C) {
    float scale = (float)(3.0 / C);
    for (int p = 0; p < pixels; p++)
        for (int c = 0; c < C; c++)
            out[(size_t)p * C + c] =
                C == 1 ? w[3 * p] + w[3 * p + 1] + w[3 * p + 2] : w[3 * (size_t)p + c % 3] * scale;
}

int am_weights_load(am_model *m, const char *path, uint64_t seed) {
    am_tfile f;
    if (am_tfile_read(&f, path, "AMWT")) return -1;
    int rc = 0;
    if (strcmp(f.arch, m->arch.name)) {
        rc = am_seterr("'%s' holds weights for '%s', but the model is '%s': pick the matching --arch or weight file",
                       path, f.arch, m->arch.name);
        goto done;
    }
    // 3-channel weights (ImageNet's) start a model of other channels with an
    // adapted stem; any other difference is an error.
    int adapt = f.in_ch == 3 && m->arch.in_ch != 3;
    if (f.in_ch != m->arch.in_ch && !adapt) {
        rc = am_seterr("'%s' expects %d input channels, the model has %d", path, f.in_ch, m->arch.in_ch);
        goto done;
    }
    int new_head = f.classes != m->arch.classes;
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *t = &m->tensors[i];
        if (new_head && !strncmp(t->name, "fc.", 3)) continue;
        const am_tentry *e = am_tfile_find(&f, t->name);
        if (!e) {
            rc = am_seterr("'%s' has no tensor '%s' (expected for architecture %s)", path, t->name, m->arch.name);
            goto done;
        }
        if (adapt && !strcmp(t->name, "stem.conv") && e->ndim == 4 && e->shape[0] == t->shape[0] &&
            e->shape[1] == t->shape[1] && e->shape[2] == t->shape[2] && e->shape[3] == 3) {
            stem_adapt(am_model_data(m, t), e->data, t->shape[0] * t->shape[1] * t->shape[2], m->arch.in_ch);
            continue;
        }
        if (e->ndim != t->ndim || memcmp(e->shape, t->shape, sizeof(int) * 4)) {
            rc = am_seterr("'%s': tensor '%s' has shape [%d,%d,%d,%d], expected [%d,%d,%d,%d]", path, t->name,
                           e->shape[0], e->shape[1], e->shape[2], e->shape[3],
                           t->shape[0], t->shape[1], t->shape[2], t->shape[3]);
            goto done;
        }
        memcpy(am_model_data(m, t), e->data, sizeof(float) * t->n);
    }
    if (adapt)
        am_info("'%s' has 3 input channels, the model %d: stem adapted (%s)", path, m->arch.in_ch,
                m->arch.in_ch == 1 ? "the sum over RGB" : "RGB repeated, times 3/C");
    if (new_head) {
        am_model_init_fc(m, seed);
        am_info("'%s' has %d classes, the model %d: backbone loaded, new FC layer initialised",
                path, f.classes, m->arch.classes);
    }
done:
    am_tfile_free(&f);
    return rc;
}

int am_weights_save(const am_model *m, const char *path, const am_preprocess *pre) {
    am_tentry *e = AM_CALLOC(sizeof(am_tentry) * (m->ntensors + 1));
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *t = &m->tensors[i];
        snprintf(e[i].name, sizeof e[i].name, "%s", t->name);
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof(int) * 4);
        e[i].n = t->n;
        e[i].data = (t->family == AM_PARAM ? m->params : m->stats) + t->offset;
    }
    int n = m->ntensors;
    char text[AM_PREPROCESS_TEXT];
    if (pre) {
        am_preprocess_text(pre, text, sizeof text);
        am_tentry *t = &e[n++];
        snprintf(t->name, sizeof t->name, "preprocess");
        t->type = AM_TF_U8;
        t->ndim = 1;
        t->shape[0] = (int)strlen(text);
        t->n = strlen(text);
        t->u8 = (uint8_t *)text;
    }
    int rc = am_tfile_write(path, "AMWT", m->arch.name, m->arch.in_ch, m->arch.classes, e, n);
    free(e);
    return rc;
}

int am_weights_preprocess(const char *path, am_preprocess *pre) {
    am_tfile f;
    if (am_tfile_read(&f, path, "AMWT")) return -1;
    const am_tentry *e = am_tfile_find(&f, "preprocess");
    int rc = 0;
    if (e && e->type == AM_TF_U8) {
        char *text = AM_MALLOC(e->n + 1);
        memcpy(text, e->u8, e->n);
        text[e->n] = 0;
        rc = am_preprocess_parse(pre, text, path) ? -1 : 1;
        free(text);
    }
    am_tfile_free(&f);
    return rc;
}

int am_weights_header(const char *path, char *arch, int *in_ch, int *classes) {
    am_tfile f;
    if (am_tfile_read(&f, path, "AMWT")) return -1;
    snprintf(arch, 17, "%s", f.arch);
    *in_ch = f.in_ch;
    *classes = f.classes;
    am_tfile_free(&f);
    return 0;
}
