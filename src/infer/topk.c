// The top K candidates (am/topk.h).
#include "am/topk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/dataset.h"
#include "am/error.h"
#include "am/files.h"
#include "am/log.h"
#include "am/plot.h"
#include "am/sources.h"

// a ranks below b. A NaN score ranks below every number.
static int worse(const am_cand *a, const am_cand *b) {
    float x = isnan(a->score) ? -INFINITY : a->score, y = isnan(b->score) ? -INFINITY : b->score;
    return x < y || (x == y && a->ord > b->ord);
}

static void swap(am_cand *a, am_cand *b) {
    am_cand t = *a;
    *a = *b;
    *b = t;
}

void am_topk_init(am_topk *t, int k) {
    t->k = k < 0 ? 0 : k;
    t->n = 0;
    t->h = AM_MALLOC(sizeof(am_cand) * (size_t)(t->k ? t->k : 1));
}

static void sift_down(am_topk *t, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < t->n && worse(&t->h[l], &t->h[w])) w = l;
        if (r < t->n && worse(&t->h[r], &t->h[w])) w = r;
        if (w == i) return;
        swap(&t->h[i], &t->h[w]);
        i = w;
    }
}

void am_topk_push(am_topk *t, float score, uint64_t ord, const char *name, const char *source) {
    am_cand c = {score, ord, NULL, NULL};
    if (!t->k || (t->n == t->k && !worse(&t->h[0], &c))) return;
    c.name = strdup(name);
    c.source = source ? strdup(source) : NULL;
    if (t->n < t->k) {
        int i = t->n++;
        t->h[i] = c;
        while (i && worse(&t->h[i], &t->h[(i - 1) / 2])) {
            swap(&t->h[i], &t->h[(i - 1) / 2]);
            i = (i - 1) / 2;
        }
        return;
    }
    free(t->h[0].name);
    free(t->h[0].source);
    t->h[0] = c;
    sift_down(t, 0);
}

static int best_first(const void *a, const void *b) {
    const am_cand *x = a, *y = b;
    return worse(x, y) - worse(y, x);
}

am_cand *am_topk_sorted(const am_topk *t, int *n) {
    am_cand *c = AM_MALLOC(sizeof(am_cand) * (size_t)(t->n ? t->n : 1));
    for (int i = 0; i < t->n; i++) {
        c[i] = t->h[i];
        c[i].name = strdup(t->h[i].name);
        c[i].source = t->h[i].source ? strdup(t->h[i].source) : NULL;
    }
    qsort(c, (size_t)t->n, sizeof(am_cand), best_first);
    *n = t->n;
    return c;
}

void am_topk_free_sorted(am_cand *c, int n) {
    for (int i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].source);
    }
    free(c);
}

void am_topk_free(am_topk *t) {
    for (int i = 0; i < t->n; i++) {
        free(t->h[i].name);
        free(t->h[i].source);
    }
    free(t->h);
    memset(t, 0, sizeof *t);
}

int am_topk_write(const char *dir, const am_cand *c, int n, const am_preprocess *pre) {
    int S = pre->size, C = pre->channels;
    char path[4200], *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    AM_CHECK(f != NULL, "out of memory");
    fputs("Filename,Score,Source\n", f);
    for (int i = 0; i < n; i++) {
        am_csv_write_field(f, c[i].name);
        fprintf(f, ",%.9g,", c[i].score);
        am_csv_write_field(f, c[i].source ? c[i].source : "");
        fputc('\n', f);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/top_candidates.csv", dir);
    int rc = am_file_write_atomic(path, text, len);
    free(text);
    int m = n < 64 ? n : 64;
    if (rc || !m) return rc;
    size_t img = (size_t)S * S * C;
    uint8_t *pix = AM_CALLOC(img * m);
    const uint8_t **ims = AM_MALLOC(sizeof(uint8_t *) * m);
    char **caps = AM_MALLOC(sizeof(char *) * m);
    for (int i = 0; i < m; i++) {
        if (!c[i].source || am_source_load(pix + img * i, c[i].source, pre))
            am_warn("contact sheet: image %d: %s", i + 1, c[i].source ? am_error() : "its source is unknown");
        ims[i] = pix + img * i;
        caps[i] = AM_MALLOC(64);
        snprintf(caps[i], 64, "%d %.3f", i + 1, c[i].score);
    }
    snprintf(path, sizeof path, "%s/top_candidates.png", dir);
    rc = am_image_grid_png(path, ims, (const char *const *)caps, m, 8, S, S, C, S < 96 ? 2 : 1);
    for (int i = 0; i < m; i++) free(caps[i]);
    free(caps);
    free(ims);
    free(pix);
    return rc;
}
