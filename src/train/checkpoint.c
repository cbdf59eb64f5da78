// Checkpoints: am tensor files (weights/FORMAT.md) with magic AMCK, written
// and read by src/core/tfile.c (CRC-32, atomic write). The header names the
// architecture, input channels and classes; the entries are `step` and
// `seed` (u64 [1]), `config` and `labels` (text), the consistency loss's
// name `ssl_loss` (text) and state `ssl_state` (float32, include/am/ssl.h;
// a checkpoint without them is FixMatch's), for a loss with a state per
// image `ssl_images` (float32, one per image), and float32 tensors, each
// packed (none of the model's padding): the live model's parameters and BN
// statistics under their own names, the EMA model's as `ema:<name>`, the
// optimiser state as `v:<param>` and, for AdamW, `s:<param>`.
// A trainer on a device is downloaded before saving and uploaded after loading.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/tfile.h"
#include "am/train.h"

// The float32 sections of a checkpoint: entry name prefix, the family of
// model tensors it holds, and where they live in the trainer.
typedef struct {
    const char *prefix;
    int family;
    float *base;
} section;

static int sections(am_trainer *t, section s[6]) {
    int n = 0;
    s[n++] = (section){"", AM_PARAM, t->model.params};
    s[n++] = (section){"", AM_STAT, t->model.stats};
    s[n++] = (section){"ema:", AM_PARAM, t->ema.params};
    s[n++] = (section){"ema:", AM_STAT, t->ema.stats};
    s[n++] = (section){"v:", AM_PARAM, t->v};
    if (t->hp.optimizer == AM_OPT_ADAMW) s[n++] = (section){"s:", AM_PARAM, t->s};
    return n;
}

static am_tentry text_entry(const char *name, const char *s) {
    size_t n = s ? strlen(s) : 0;
    am_tentry e = {.type = AM_TF_U8, .ndim = 1, .shape = {(int)n}, .n = n, .u8 = (uint8_t *)s};
    snprintf(e.name, sizeof e.name, "%s", name);
    return e;
}

int am_checkpoint_save(am_trainer *t, const char *path, const char *config, const char *labels) {
    am_trainer_download(t);
    const am_model *m = &t->model;
    if ((config && strlen(config) > 0x7fffffff) || (labels && strlen(labels) > 0x7fffffff))
        return am_seterr("cannot write checkpoint '%s': its configuration or labels text is over 2 GiB", path);
    am_tentry *e = AM_CALLOC(sizeof(am_tentry) * (size_t)(4 * m->ntensors + 7));
    int n = 0;
    e[n++] = (am_tentry){.name = "step", .type = AM_TF_U64, .ndim = 1, .shape = {1}, .n = 1, .u64 = &t->step};
    e[n++] = (am_tentry){.name = "seed", .type = AM_TF_U64, .ndim = 1, .shape = {1}, .n = 1, .u64 = &t->seed};
    e[n++] = text_entry("config", config);
    e[n++] = text_entry("labels", labels);
    e[n++] = text_entry("ssl_loss", am_ssl_name(t->hp.ssl.loss));
    e[n++] = (am_tentry){.name = "ssl_state", .type = AM_TF_F32, .ndim = 1, .shape = {AM_SSL_STATE_FLOATS},
                         .n = AM_SSL_STATE_FLOATS, .data = t->ssl.f};
    float *per_image = NULL;
    if (t->ssl_label) {
        per_image = AM_MALLOC(sizeof(float) * (size_t)(t->ssl_nimages ? t->ssl_nimages : 1));
        for (int i = 0; i < t->ssl_nimages; i++) per_image[i] = (float)t->ssl_label[i];
        e[n++] = (am_tentry){.name = "ssl_images", .type = AM_TF_F32, .ndim = 1, .shape = {t->ssl_nimages},
                             .n = (size_t)t->ssl_nimages, .data = per_image};
    }
    section s[6];
    for (int k = 0, ns = sections(t, s); k < ns; k++)
        for (int i = 0; i < m->ntensors; i++) {
            const am_tensor *x = &m->tensors[i];
            if (x->family != s[k].family) continue;
            am_tentry *d = &e[n++];
            snprintf(d->name, sizeof d->name, "%s%s", s[k].prefix, x->name);
            d->ndim = x->ndim;
            memcpy(d->shape, x->shape, sizeof d->shape);
            d->n = x->n;
            d->data = s[k].base + x->offset;
        }
    int rc = am_tfile_write(path, "AMCK", m->arch.name, m->arch.in_ch, m->arch.classes, e, n);
    free(e);
    free(per_image);
    return rc;
}

// The entry `name` if it is a u64 [1], else NULL (am_error()).
static const am_tentry *u64_entry(const am_tfile *f, const char *path, const char *name) {
    const am_tentry *e = am_tfile_find(f, name);
    if (e && e->type == AM_TF_U64 && e->n == 1) return e;
    am_seterr("checkpoint '%s' has no '%s' (a u64): the file is damaged; use an earlier checkpoint", path, name);
    return NULL;
}

// The consistency loss's entries: *state the saved state (NULL for a
// checkpoint without them, FixMatch's, whose state is empty); -1 (am_error())
// when the checkpoint's loss is not `loss`.
static int ssl_entries(const am_tfile *f, const char *path, int loss, const am_tentry **state) {
    const am_tentry *name = am_tfile_find(f, "ssl_loss"), *st = am_tfile_find(f, "ssl_state");
    char saved[32] = "fixmatch";
    if (name && (name->type != AM_TF_U8 || name->n >= sizeof saved))
        return am_seterr("checkpoint '%s': its ssl_loss entry is not a loss's name: the file is damaged", path);
    if (name) snprintf(saved, sizeof saved, "%.*s", (int)name->n, (const char *)name->u8);
    if (strcmp(saved, am_ssl_name(loss)))
        return am_seterr("checkpoint '%s' was trained with --loss %s, not %s: resume with --loss %s", path, saved,
                         am_ssl_name(loss), saved);
    if (name && (!st || st->type != AM_TF_F32 || st->n != AM_SSL_STATE_FLOATS))
        return am_seterr("checkpoint '%s' has no float32 ssl_state of %d values: the file is damaged", path,
                         AM_SSL_STATE_FLOATS);
    *state = name ? st : NULL;
    return 0;
}

// A malloc'd, NUL-terminated copy of a text entry ("" when there is none).
static char *text_copy(const am_tentry *e) {
    size_t n = e ? e->n : 0;
    char *s = AM_MALLOC(n + 1);
    if (n) memcpy(s, e->u8, n);
    s[n] = 0;
    return s;
}

int am_checkpoint_load(am_trainer *t, const char *path, char **config, char **labels) {
    am_tfile f;
    if (am_tfile_read(&f, path, "AMCK")) return -1;
    const am_model *m = &t->model;
    const am_arch *a = &m->arch;
    const am_tentry **src = AM_CALLOC(sizeof(am_tentry *) * (size_t)(4 * m->ntensors + 1));
    const am_tentry *step = NULL, *seed = NULL, *cfg = am_tfile_find(&f, "config"), *lab = am_tfile_find(&f, "labels"),
                    *ssl = NULL;
    section s[6];
    const int ns = sections(t, s);
    int rc = 0, n = 0;
    if (strcmp(f.arch, a->name) || f.in_ch != a->in_ch || f.classes != a->classes) {
        rc = am_seterr("checkpoint '%s' holds %s (%d channels, %d classes); this run's model is %s (%d channels, %d "
                       "classes): resume with the same --arch and --channels, or start a new run",
                       path, f.arch, f.in_ch, f.classes, a->name, a->in_ch, a->classes);
        goto done;
    }
    if (!(step = u64_entry(&f, path, "step")) || !(seed = u64_entry(&f, path, "seed"))) { rc = -1; goto done; }
    if ((cfg && cfg->type != AM_TF_U8) || (lab && lab->type != AM_TF_U8)) {
        rc = am_seterr("checkpoint '%s': its configuration or labels entry is not text: the file is damaged", path);
        goto done;
    }
    if (ssl_entries(&f, path, t->hp.ssl.loss, &ssl)) {
        rc = -1;
        goto done;
    }
    const am_tentry *per_image = am_tfile_find(&f, "ssl_images");
    if (t->ssl_label && (!per_image || per_image->type != AM_TF_F32 || per_image->n != (size_t)t->ssl_nimages)) {
        rc = am_seterr("checkpoint '%s' has no float32 ssl_images of %d values (one per image of this run): it is "
                       "damaged or of another image set", path, t->ssl_nimages);
        goto done;
    }
    for (int i = 0; t->ssl_label && i < t->ssl_nimages; i++) {
        float v = per_image->data[i];
        if (!(v >= -1 && v < a->classes) || v != (float)(int)v) {
            rc = am_seterr("checkpoint '%s': ssl_images[%d] is %g, not a class or -1: the file is damaged", path, i, v);
            goto done;
        }
    }
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < m->ntensors; i++) {
            const am_tensor *x = &m->tensors[i];
            if (x->family != s[k].family) continue;
            char name[80];
            snprintf(name, sizeof name, "%s%s", s[k].prefix, x->name);
            const am_tentry *e = am_tfile_find(&f, name);
            if (!e && !strcmp(s[k].prefix, "s:")) {
                rc = am_seterr("checkpoint '%s' holds no AdamW state (an SGD run wrote it): resume with --optimizer "
                               "sgd", path);
                goto done;
            }
            if (!e || e->type != AM_TF_F32 || e->ndim != x->ndim || memcmp(e->shape, x->shape, sizeof e->shape)) {
                rc = am_seterr("checkpoint '%s' has no float32 tensor '%s' of %s's shape: it is damaged or from "
                               "another model; start a new run", path, name, a->name);
                goto done;
            }
            src[n++] = e;
        }
    for (int i = 0; i < f.ntensors && t->hp.optimizer != AM_OPT_ADAMW; i++)
        if (!strncmp(f.t[i].name, "s:", 2)) {
            rc = am_seterr("checkpoint '%s' holds AdamW state (an AdamW run wrote it): resume with --optimizer "
                           "adamw", path);
            goto done;
        }
    n = 0;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < m->ntensors; i++) {
            const am_tensor *x = &m->tensors[i];
            if (x->family == s[k].family) memcpy(s[k].base + x->offset, src[n++]->data, sizeof(float) * x->n);
        }
    t->step = step->u64[0];
    t->seed = seed->u64[0];
    if (ssl) memcpy(t->ssl.f, ssl->data, sizeof t->ssl.f);
    for (int i = 0; t->ssl_label && i < t->ssl_nimages; i++) t->ssl_label[i] = (int)per_image->data[i];
    if (config) *config = text_copy(cfg);
    if (labels) *labels = text_copy(lab);
    am_trainer_upload(t);
done:
    free(src);
    am_tfile_free(&f);
    return rc;
}
