// The canvas (fill, lines, bitmap text, nearest-neighbour blits) and the plots
// built on it: curves, score histograms and image contact sheets.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/plot.h"

enum { MAX_SIDE = 16384 };

static const uint32_t INK = 0x202020, GRID = 0xe4e4e4, CHANCE = 0x9a9a9a, CURVE = 0x1f5fbf;
static const uint32_t CLASS_RGB[3] = {0x3b6fb6, 0xd2413a, 0x9a9a9a};  // normal, anomaly, unlabelled

void am_canvas_init(am_canvas *c, int w, int h, uint32_t rgb) {
    c->w = w;
    c->h = h;
    c->px = AM_MALLOC((size_t)w * (size_t)h * 3);
    am_canvas_rect(c, 0, 0, w, h, rgb);
}

void am_canvas_free(am_canvas *c) {
    free(c->px);
    c->px = NULL;
    c->w = c->h = 0;
}

void am_canvas_rect(am_canvas *c, int x, int y, int w, int h, uint32_t rgb) {
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
    uint8_t r = (uint8_t)(rgb >> 16), g = (uint8_t)(rgb >> 8), b = (uint8_t)rgb;
    for (int j = y0; j < y1; j++) {
        uint8_t *p = c->px + ((size_t)j * (size_t)c->w + (size_t)x0) * 3;
        for (int i = x0; i < x1; i++, p += 3) {
            p[0] = r;
            p[1] = g;
            p[2] = b;
        }
    }
}

void am_canvas_line(am_canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb, int thick, int dash) {
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy, off = (thick - 1) / 2;
    for (int step = 0;; step++) {
        if (dash <= 0 || (step / dash) % 2 == 0) am_canvas_rect(c, x0 - off, y0 - off, thick, thick, rgb);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) { err += dy; x0 += sx; }
        if (e2 <= dx) { err += dx; y0 += sy; }
    }
}

int am_text_width(const char *s, int scale) {
    size_t n = strlen(s);
    return n ? (int)(n * AM_FONT_ADVANCE - 1) * scale : 0;
}

int am_text_height(int scale) { return (AM_FONT_H + 2) * scale; }

void am_canvas_text(am_canvas *c, int x, int y, const char *s, uint32_t rgb, int scale, int vertical) {
    int wf = am_text_width(s, 1);  // in font pixels
    for (int k = 0; s[k]; k++) {
        int drop;
        const uint8_t *g = am_font_glyph((unsigned char)s[k], &drop);
        for (int r = 0; r < AM_FONT_H; r++)
            for (int b = 0; b < AM_FONT_W; b++) {
                if (!((g[r] >> (AM_FONT_W - 1 - b)) & 1)) continue;
                int u = k * AM_FONT_ADVANCE + b, v = r + drop;  // along and down the text
                if (vertical) am_canvas_rect(c, x + v * scale, y + (wf - 1 - u) * scale, scale, scale, rgb);
                else am_canvas_rect(c, x + u * scale, y + v * scale, scale, scale, rgb);
            }
    }
}

void am_canvas_blit(am_canvas *c, int x, int y, int dw, int dh, const uint8_t *img, int iw, int ih,
                    int channels) {
    for (int j = 0; j < dh; j++) {
        int ty = y + j;
        if (ty < 0 || ty >= c->h) continue;
        const uint8_t *row = img + (size_t)((long)j * ih / dh) * (size_t)iw * (size_t)channels;
        for (int i = 0; i < dw; i++) {
            int tx = x + i;
            if (tx < 0 || tx >= c->w) continue;
            const uint8_t *s = row + (size_t)((long)i * iw / dw) * (size_t)channels;
            uint8_t *p = c->px + ((size_t)ty * (size_t)c->w + (size_t)tx) * 3;
            // Gray; two bands as (first, their mean, second); else the first three.
            p[0] = s[0];
            p[1] = channels == 1 ? s[0] : channels == 2 ? (uint8_t)((s[0] + s[1] + 1) / 2) : s[1];
            p[2] = channels == 1 ? s[0] : channels == 2 ? s[1] : s[2];
        }
    }
}

int am_canvas_write(const am_canvas *c, const char *path) { return am_png_write(path, c->px, c->w, c->h, 3); }

// ---- plot frame: a [0,1]-style plot area with margins -----------------------

typedef struct { int l, t, w, h; } frame;

static int fx(const frame *f, double v) { return f->l + (int)lround(v * (f->w - 1)); }
static int fy(const frame *f, double v) { return f->t + (int)lround((1.0 - v) * (f->h - 1)); }

static double clamp01(double v) { return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v; }

// Title centred on top (smaller if it does not fit), axis labels, and the box.
static void decorate(am_canvas *c, const frame *f, const char *title, const char *xlabel, const char *ylabel) {
    if (title) {
        int s = am_text_width(title, 2) <= c->w - 8 ? 2 : 1;
        am_canvas_text(c, (c->w - am_text_width(title, s)) / 2, 14, title, INK, s, 0);
    }
    if (xlabel)
        am_canvas_text(c, f->l + (f->w - am_text_width(xlabel, 2)) / 2, f->t + f->h + 34, xlabel, INK, 2, 0);
    if (ylabel)
        am_canvas_text(c, 8, f->t + (f->h - am_text_width(ylabel, 2)) / 2, ylabel, INK, 2, 1);
    am_canvas_line(c, f->l, f->t, f->l + f->w - 1, f->t, INK, 1, 0);
    am_canvas_line(c, f->l, f->t + f->h - 1, f->l + f->w - 1, f->t + f->h - 1, INK, 1, 0);
    am_canvas_line(c, f->l, f->t, f->l, f->t + f->h - 1, INK, 1, 0);
    am_canvas_line(c, f->l + f->w - 1, f->t, f->l + f->w - 1, f->t + f->h - 1, INK, 1, 0);
}

static void xtick(am_canvas *c, const frame *f, int px, const char *label) {
    int y = f->t + f->h - 1;
    am_canvas_line(c, px, y, px, y + 5, INK, 1, 0);
    am_canvas_text(c, px - am_text_width(label, 1) / 2, y + 10, label, INK, 1, 0);
}

static void ytick(am_canvas *c, const frame *f, int py, const char *label) {
    am_canvas_line(c, f->l - 5, py, f->l, py, INK, 1, 0);
    am_canvas_text(c, f->l - 9 - am_text_width(label, 1), py - 3, label, INK, 1, 0);
}

// ---- curves -------------------------------------------------------------------

typedef struct { int x0, y0, x1, y1, hits; } box;

static void count_hits(box *b, int nb, int x0, int y0, int x1, int y1) {
    int steps = (abs(x1 - x0) > abs(y1 - y0) ? abs(x1 - x0) : abs(y1 - y0)) / 2 + 1;
    for (int s = 0; s <= steps; s++) {
        int x = x0 + (x1 - x0) * s / steps, y = y0 + (y1 - y0) * s / steps;
        for (int k = 0; k < nb; k++)
            if (x >= b[k].x0 && x <= b[k].x1 && y >= b[k].y0 && y <= b[k].y1) b[k].hits++;
    }
}

int am_plot_curve_png(const char *path, const char *title, const char *xlabel, const char *ylabel,
                      const double *x, const double *y, size_t n, const char *legend, int diagonal,
                      double hline) {
    if (n == 0) return am_seterr("cannot plot '%s': the curve has no points", path);
    am_canvas c;
    am_canvas_init(&c, 560, 500, 0xffffff);
    frame f = {84, 50, 452, 380};
    for (int k = 0; k <= 5; k++) {
        char lab[8];
        snprintf(lab, sizeof lab, "%.1f", k / 5.0);
        int px = fx(&f, k / 5.0), py = fy(&f, k / 5.0);
        am_canvas_line(&c, px, f.t, px, f.t + f.h - 1, GRID, 1, 0);
        am_canvas_line(&c, f.l, py, f.l + f.w - 1, py, GRID, 1, 0);
        xtick(&c, &f, px, lab);
        ytick(&c, &f, py, lab);
    }
    if (diagonal) am_canvas_line(&c, fx(&f, 0), fy(&f, 0), fx(&f, 1), fy(&f, 1), CHANCE, 1, 4);
    if (hline >= 0.0 && hline <= 1.0) am_canvas_line(&c, fx(&f, 0), fy(&f, hline), fx(&f, 1), fy(&f, hline), CHANCE, 1, 4);
    int px0 = fx(&f, clamp01(x[0])), py0 = fy(&f, clamp01(y[0]));
    am_canvas_rect(&c, px0 - 1, py0 - 1, 3, 3, CURVE);
    for (size_t i = 1; i < n; i++) {
        int px1 = fx(&f, clamp01(x[i])), py1 = fy(&f, clamp01(y[i]));
        am_canvas_line(&c, px0, py0, px1, py1, CURVE, 2, 0);
        px0 = px1;
        py0 = py1;
    }
    decorate(&c, &f, title, xlabel, ylabel);
    if (legend && *legend) {
        int bw = am_text_width(legend, 2) + 44, bh = am_text_height(2) + 12, m = 10;
        box b[4] = {{f.l + f.w - m - bw, f.t + f.h - m - bh, 0, 0, 0}, {f.l + f.w - m - bw, f.t + m, 0, 0, 0},
                    {f.l + m, f.t + f.h - m - bh, 0, 0, 0}, {f.l + m, f.t + m, 0, 0, 0}};
        for (int k = 0; k < 4; k++) {
            b[k].x1 = b[k].x0 + bw - 1;
            b[k].y1 = b[k].y0 + bh - 1;
        }
        for (size_t i = 1; i < n; i++)
            count_hits(b, 4, fx(&f, clamp01(x[i - 1])), fy(&f, clamp01(y[i - 1])), fx(&f, clamp01(x[i])),
                       fy(&f, clamp01(y[i])));
        if (diagonal) count_hits(b, 4, fx(&f, 0), fy(&f, 0), fx(&f, 1), fy(&f, 1));
        if (hline >= 0.0 && hline <= 1.0) count_hits(b, 4, fx(&f, 0), fy(&f, hline), fx(&f, 1), fy(&f, hline));
        int best = 0;
        for (int k = 1; k < 4; k++)
            if (b[k].hits < b[best].hits) best = k;
        box *p = &b[best];
        am_canvas_rect(&c, p->x0, p->y0, bw, bh, 0xffffff);
        am_canvas_line(&c, p->x0, p->y0, p->x1, p->y0, INK, 1, 0);
        am_canvas_line(&c, p->x0, p->y1, p->x1, p->y1, INK, 1, 0);
        am_canvas_line(&c, p->x0, p->y0, p->x0, p->y1, INK, 1, 0);
        am_canvas_line(&c, p->x1, p->y0, p->x1, p->y1, INK, 1, 0);
        int my = p->y0 + bh / 2;
        am_canvas_line(&c, p->x0 + 8, my, p->x0 + 30, my, CURVE, 3, 0);
        am_canvas_text(&c, p->x0 + 36, p->y0 + 6, legend, INK, 2, 0);
    }
    int rc = am_canvas_write(&c, path);
    am_canvas_free(&c);
    return rc;
}

// ---- score histogram --------------------------------------------------------

int am_plot_hist_png(const char *path, const char *title, const float *score, const int *label, size_t n,
                     int bins) {
    if (n == 0) return am_seterr("cannot plot '%s': no scores", path);
    if (bins <= 0 || bins > 1000) return am_seterr("cannot plot '%s': %d bins (1..1000)", path, bins);
    double lo = 0.0, hi = 1.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(score[i])) {
            if (score[i] < lo) lo = score[i];
            if (score[i] > hi) hi = score[i];
        }
    size_t *cnt = AM_CALLOC(sizeof(size_t) * 3 * (size_t)bins), total[3] = {0, 0, 0}, maxc = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(score[i])) continue;
        int cls = label[i] == 0 ? 0 : label[i] == 1 ? 1 : 2;
        int b = (int)((score[i] - lo) / (hi - lo) * bins);
        if (b >= bins) b = bins - 1;
        size_t v = ++cnt[(size_t)cls * (size_t)bins + (size_t)b];
        total[cls]++;
        if (v > maxc) maxc = v;
    }
    int decades = (int)ceil(log10((double)maxc));
    if (decades < 1) decades = 1;
    double top = log10(1.0 + pow(10.0, decades));
    am_canvas c;
    am_canvas_init(&c, 640, 460, 0xffffff);
    frame f = {84, 50, 532, 340};
    for (int d = 0; d <= decades; d++) {
        char lab[24];
        snprintf(lab, sizeof lab, "%.0f", pow(10.0, d));
        int py = fy(&f, log10(1.0 + pow(10.0, d)) / top);
        am_canvas_line(&c, f.l, py, f.l + f.w - 1, py, GRID, 1, 0);
        ytick(&c, &f, py, lab);
    }
    for (int k = 0; k <= 5; k++) {
        char lab[16];
        snprintf(lab, sizeof lab, "%.2g", lo + (hi - lo) * k / 5.0);
        xtick(&c, &f, fx(&f, k / 5.0), lab);
    }
    int present[3], slots = 0;
    for (int k = 0; k < 3; k++) present[k] = total[k] ? slots++ : -1;
    for (int b = 0; b < bins; b++) {
        int x0 = fx(&f, (double)b / bins), x1 = fx(&f, (double)(b + 1) / bins);
        int bw = (x1 - x0 - 1) / slots;
        if (bw < 1) bw = 1;
        for (int k = 0; k < 3; k++) {
            size_t v = cnt[(size_t)k * (size_t)bins + (size_t)b];
            if (present[k] < 0 || v == 0) continue;
            int py = fy(&f, log10(1.0 + (double)v) / top);
            am_canvas_rect(&c, x0 + 1 + present[k] * bw, py, bw, f.t + f.h - 1 - py, CLASS_RGB[k]);
        }
    }
    decorate(&c, &f, title, "score", "count");
    static const char *names[3] = {"normal", "anomaly", "unlabelled"};
    char items[3][48];
    int lw = 0;
    for (int k = 0; k < 3; k++) {
        if (present[k] < 0) continue;
        snprintf(items[k], sizeof items[k], "%s %zu", names[k], total[k]);
        lw += am_text_width(items[k], 1) + 30;
    }
    int lx = f.l + (f.w - lw) / 2, ly = f.t + 8;
    am_canvas_rect(&c, lx - 6, ly - 4, lw + 6, am_text_height(1) + 8, 0xffffff);
    for (int k = 0; k < 3; k++) {
        if (present[k] < 0) continue;
        am_canvas_rect(&c, lx, ly, 12, 8, CLASS_RGB[k]);
        am_canvas_text(&c, lx + 16, ly, items[k], INK, 1, 0);
        lx += am_text_width(items[k], 1) + 30;
    }
    free(cnt);
    int rc = am_canvas_write(&c, path);
    am_canvas_free(&c);
    return rc;
}

// ---- contact sheet -----------------------------------------------------------

int am_image_grid_png(const char *path, const uint8_t *const *images, const char *const *captions, int n,
                      int cols, int w, int h, int channels, int scale) {
    if (n <= 0 || cols <= 0 || w <= 0 || h <= 0 || scale <= 0 || channels < 1 || channels > 16)
        return am_seterr("cannot write image grid '%s': bad arguments (n %d, cols %d, %dx%dx%d, scale %d)", path, n,
                         cols, w, h, channels, scale);
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols, pad = 6, cap = captions ? am_text_height(1) + 4 : 0;
    long cw = (long)w * scale, ch = (long)h * scale + cap;
    long W = cols * (cw + pad) + pad, H = rows * (ch + pad) + pad;
    if (W > MAX_SIDE || H > MAX_SIDE)
        return am_seterr("cannot write image grid '%s': %ldx%ld pixels is too large (max %d a side)", path, W, H,
                         MAX_SIDE);
    am_canvas c;
    am_canvas_init(&c, (int)W, (int)H, 0x1e1e1e);
    int maxch = (int)((cw + 1) / AM_FONT_ADVANCE);
    char *buf = AM_MALLOC((size_t)maxch + 1);
    for (int i = 0; i < n; i++) {
        int x = pad + (int)((i % cols) * (cw + pad)), y = pad + (int)((i / cols) * (ch + pad));
        am_canvas_blit(&c, x, y, (int)cw, h * scale, images[i], w, h, channels);
        if (captions && captions[i]) {
            snprintf(buf, (size_t)maxch + 1, "%s", captions[i]);
            am_canvas_text(&c, x, y + h * scale + 3, buf, 0xe8e8e8, 1, 0);
        }
    }
    free(buf);
    int rc = am_canvas_write(&c, path);
    am_canvas_free(&c);
    return rc;
}
