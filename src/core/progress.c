#include "am/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

void am_progress_start(am_progress *p, const char *label, uint64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->total = total;
    p->t0 = p->last = now();
    p->tty = isatty(2);
    p->last_decile = -1;
}

static void fmt_time(char *s, size_t n, double sec) {
    if (sec < 0 || sec > 1e7) { snprintf(s, n, "--:--"); return; }
    int t = (int)(sec + 0.5);
    if (t >= 3600) snprintf(s, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else snprintf(s, n, "%02d:%02d", t / 60, t % 60);
}

static void draw(am_progress *p, const char *extra, int final) {
    double el = now() - p->t0, rate = el > 0 ? p->done / el : 0.0;
    double frac = p->total ? (double)p->done / p->total : 1.0;
    char eta[16], spent[16], bar[26];
    fmt_time(eta, sizeof eta, rate > 0 ? (p->total - p->done) / rate : -1);
    fmt_time(spent, sizeof spent, el);
    int fill = (int)(frac * 24);
    for (int i = 0; i < 24; i++) bar[i] = i < fill ? '#' : '.';
    bar[24] = 0;
    fprintf(stderr, "%s%-10s [%s] %3.0f%% %llu/%llu %.1f %s/s %s %s%s%s%s%s", p->tty ? "\r" : "", p->label, bar,
            100 * frac, (unsigned long long)p->done, (unsigned long long)p->total, rate, p->unit,
            final ? "took" : "eta", final ? spent : eta, extra ? "  " : "", extra ? extra : "",
            p->tty ? "\033[K" : "", p->tty && !final ? "" : "\n");
    fflush(stderr);
}

void am_progress_update(am_progress *p, uint64_t done, const char *extra) {
    p->done = done;
    double t = now();
    int decile = p->total ? (int)(10 * done / p->total) : 10;
    if (p->tty ? t - p->last >= 0.2 : decile != p->last_decile) {
        p->last = t;
        p->last_decile = decile;
        draw(p, extra, 0);
    }
}

void am_progress_end(am_progress *p, const char *extra) { draw(p, extra, 1); }
