// PNG writing, a small RGB canvas with a built-in bitmap font, and the plots
// the engine writes: ROC / PR curves, score histograms, image contact sheets.
// Colours are 0xRRGGBB. Every writer returns 0, or -1 with am_error() naming the
// path; files are written atomically (a temporary beside the target, renamed).
#pragma once
#include <stddef.h>
#include <stdint.h>

// Writes w x h pixels, `channels` (1 gray, 3 RGB) interleaved uint8, rows top first.
int am_png_write(const char *path, const uint8_t *pixels, int w, int h, int channels);
// The same image as PNG bytes in memory: malloc'd, *n bytes, or NULL (am_error()).
uint8_t *am_png_encode(const uint8_t *pixels, int w, int h, int channels, size_t *n);

// The font: 5x7 glyphs for ASCII 32..126 in a 6 x 10 cell (1 column of spacing;
// g, p, q, y drop 2 rows below the baseline). Other bytes draw as '?'.
enum { AM_FONT_W = 5, AM_FONT_H = 7, AM_FONT_ADVANCE = 6, AM_FONT_LINE = 10 };
// The 7 row bitmaps of `ch` (bit 4 = leftmost column); *drop gets its row offset.
const uint8_t *am_font_glyph(int ch, int *drop);

typedef struct { int w, h; uint8_t *px; } am_canvas;  // px: (h, w, 3) RGB

void am_canvas_init(am_canvas *c, int w, int h, uint32_t rgb);
void am_canvas_free(am_canvas *c);
// Filled rectangle [x, x+w) x [y, y+h), clipped to the canvas.
void am_canvas_rect(am_canvas *c, int x, int y, int w, int h, uint32_t rgb);
// Line from (x0,y0) to (x1,y1), both ends included, `thick` px wide; dash > 0
// draws dash px on, dash px off.
void am_canvas_line(am_canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb, int thick, int dash);
// Text with its top-left corner at (x, y), each font pixel a scale x scale block.
// vertical != 0 rotates it 90 degrees counter-clockwise (reading upwards), the
// corner (x, y) then being the top-left of the rotated box.
void am_canvas_text(am_canvas *c, int x, int y, const char *s, uint32_t rgb, int scale, int vertical);
int am_text_width(const char *s, int scale);   // along the reading direction
int am_text_height(int scale);                 // the cell height, descenders included
// Draws img (ih, iw, channels 1..16) scaled to dw x dh by nearest neighbour:
// one channel as gray, two as (first, their mean, second), more as the first three.
void am_canvas_blit(am_canvas *c, int x, int y, int dw, int dh, const uint8_t *img, int iw, int ih,
                    int channels);
int am_canvas_write(const am_canvas *c, const char *path);

// A curve in [0,1] x [0,1] (ROC: FPR/TPR; PR: recall/precision) with axes, ticks
// every 0.2, a grid, the title and axis labels, and `legend` (e.g. "AUROC 0.912")
// in a box in the emptiest corner (NULL: none). diagonal != 0 adds the chance
// line y = x; hline in [0,1] adds a dashed horizontal line there (the PR chance
// level, the prevalence), a negative hline none.
int am_plot_curve_png(const char *path, const char *title, const char *xlabel, const char *ylabel,
                      const double *x, const double *y, size_t n, const char *legend, int diagonal,
                      double hline);

// Histogram of n scores in `bins` bins over [0,1] (wider if a score falls
// outside), bars side by side per label: 0 normal (blue), 1 anomaly (red), any
// other value unlabelled (grey); log count axis; a legend with each count.
int am_plot_hist_png(const char *path, const char *title, const float *score, const int *label, size_t n,
                     int bins);

// A contact sheet: n images (each h x w x channels, channels 1..16, shown as
// am_canvas_blit draws them) on a grid of
// `cols` columns, each drawn scale x scale times larger, with its caption (may be
// NULL, as may `captions`) below it, cut to the cell width.
int am_image_grid_png(const char *path, const uint8_t *const *images, const char *const *captions, int n,
                      int cols, int w, int h, int channels, int scale);
