// am_infer's run (am/infer.h): manifest, journal, streaming scoring, outputs.
#include "am/infer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "am/augment.h"
#include "am/dataset.h"
#include "am/error.h"
#include "am/files.h"
#include "am/image.h"
#include "am/journal.h"
#include "am/kernels.h"
#include "am/log.h"
#include "am/ops.h"
#include "am/plot.h"
#include "am/prefetch.h"
#include "am/progress.h"
#include "am/sources.h"
#include "am/topk.h"
#include "am/train.h"
#include "am/weights.h"

#define SCORES_HEADER "Filename,Score\n"
#define SKIPPED_HEADER "path,reason\n"
// A skipped.csv row: its two fields, each at worst doubled by quoting.
#define SKIP_ROW_MAX (2 * (sizeof(((am_item *)0)->src) + sizeof(((am_item *)0)->why)) + 8)

am_infer_opts am_infer_defaults(void) {
    return (am_infer_opts){.nshards = 1, .loader_threads = 1, .batch = 64, .top = 100, .device = -1,
                           .dt = AM_F32, .sync_seconds = 1.0};
}

typedef struct {
    const am_infer_opts *o;
    am_plan plan;
    am_preprocess pre;
    char arch[17];
    uint32_t model_crc;
    uint64_t model_bytes;
    char **excl;             // sorted basenames left out
    int nexcl;
    am_trainer t;
    int have_trainer;
    am_journal j;
    FILE *scores, *skipped;
    char scores_path[4200], skipped_path[4200];
    am_jrec st;              // where the outputs stand: the last record
    am_topk top;
    // the loader's side
    am_reader rd;
    am_item *items;
    int B, S, C;
    size_t img;
} run;

// ---- paths, files ------------------------------------------------------------

static void out_path(char *dst, size_t n, const char *dir, const char *name) { snprintf(dst, n, "%s/%s", dir, name); }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

// ---- the model and the manifest ---------------------------------------------

static int open_model(run *r) {
    const am_infer_opts *o = r->o;
    size_t n;
    char *bytes = am_file_read(o->model, &n);
    if (!bytes) return am_seterr("cannot read the model '%s': %s", o->model, strerror(errno));
    // The CRC-32 of every byte before the file's own CRC (over the whole
    // file a CRC-32 gives the same residue for every file).
    r->model_crc = (uint32_t)crc32(0L, (const Bytef *)bytes, (uInt)(n >= 4 ? n - 4 : 0));
    r->model_bytes = n;
    free(bytes);
    int in_ch, classes;
    if (am_weights_header(o->model, r->arch, &in_ch, &classes)) return -1;
    if (classes != 2)
        return am_seterr("'%s' has %d classes, not the 2 (normal, anomaly) of a model am_train made: give the "
                         "model_ema.amw of an am_train run", o->model, classes);
    int has = am_weights_preprocess(o->model, &r->pre);
    if (has < 0) return -1;
    if (!has) {
        if (!o->size || !o->channels)
            return am_seterr("'%s' does not say how its images were prepared (an older am wrote it): give --size and "
                             "--channels as they were in training", o->model);
        am_preprocess_defaults(&r->pre, o->size, o->channels);
    }
    if (o->stretch && strcmp(o->stretch, am_stretch_name(r->pre.stretch.kind)))
        return am_seterr("--stretch %s, but '%s' was trained with stretch %s: leave --stretch out (the model's is used)",
                         o->stretch, o->model, am_stretch_name(r->pre.stretch.kind));
    if (o->fits_ext && strcmp(o->fits_ext, r->pre.fits_ext))
        return am_seterr("--fits-ext '%s', but '%s' was trained on FITS HDUs '%s': leave --fits-ext out (the model's "
                         "is used)", o->fits_ext, o->model, r->pre.fits_ext);
    if (o->size && o->size != r->pre.size)
        return am_seterr("--size %d, but '%s' was trained on %d px images: leave --size out (the model's is used)",
                         o->size, o->model, r->pre.size);
    if (o->channels && o->channels != r->pre.channels)
        return am_seterr("--channels %d, but '%s' was trained on %d channels: leave --channels out (the model's is "
                         "used)", o->channels, o->model, r->pre.channels);
    if (in_ch != r->pre.channels)
        return am_seterr("'%s' has %d input channels but its preprocessing says %d: the file is damaged", o->model,
                         in_ch, r->pre.channels);
    return 0;
}

// The text that identifies the run (manifest.txt).
static char *manifest(const run *r) {
    const am_infer_opts *o = r->o;
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    AM_CHECK(f != NULL, "out of memory");
    char pre[AM_PREPROCESS_TEXT];
    am_preprocess_text(&r->pre, pre, sizeof pre);
    fprintf(f, "am_infer manifest 1\nmodel_crc32 = %08x\nmodel_bytes = %llu\narch = %s\n%s", r->model_crc,
            (unsigned long long)r->model_bytes, r->arch, pre);
    fprintf(f, "recursive = %d\n", o->recursive);
    for (int i = 0; i < o->nsources; i++) fprintf(f, "source = %s\n", o->sources[i]);
    fprintf(f, "identity = %016llx\nshard = %d/%d\nbatch = %d\ntop = %d\n", (unsigned long long)r->plan.identity,
            o->shard, o->nshards, o->batch, o->top);
    fprintf(f, "exclude = %s\n", o->exclude ? o->exclude : "");
    fclose(f);
    return text;
}

// Writes the manifest of a new run, or checks that of a run being continued.
static int check_manifest(const run *r) {
    char path[4200];
    out_path(path, sizeof path, r->o->out, "manifest.txt");
    char *want = manifest(r), *have = am_file_read(path, NULL);
    int rc = 0;
    if (!have) {
        if (errno != ENOENT) rc = am_seterr("cannot read '%s': %s", path, strerror(errno));
        else rc = am_file_write_atomic(path, want, strlen(want));
    } else if (strcmp(want, have)) {
        const char *a = want, *b = have;
        while (*a && *a == *b) {  // the first line that differs
            const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
            if (!ea || !eb || ea - a != eb - b || strncmp(a, b, (size_t)(ea - a))) break;
            a = ea + 1;
            b = eb + 1;
        }
        rc = am_seterr("'%s' holds another run: it has '%.*s' where this command gives '%.*s' (the model, sources, "
                       "shard, --batch, --top or --exclude differ, or the sources changed): use another --out, or delete the "
                       "folder to start again", r->o->out, (int)strcspn(b, "\n"), b, (int)strcspn(a, "\n"), a);
    }
    free(want);
    free(have);
    return rc;
}

// ---- exclusions -----------------------------------------------------------------

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_exclusions(run *r) {
    if (!r->o->exclude) return 0;
    r->excl = am_csv_first_column(r->o->exclude, "--exclude labels file", &r->nexcl);
    if (!r->excl) return -1;
    for (int i = 0; i < r->nexcl; i++) {
        const char *s = strrchr(r->excl[i], '/');
        if (s) memmove(r->excl[i], s + 1, strlen(s));
    }
    qsort(r->excl, (size_t)r->nexcl, sizeof(char *), cmp_str);
    am_info("--exclude %s: %d images left out by name", r->o->exclude, r->nexcl);
    return 0;
}

static int excluded(const run *r, const char *name) {
    if (!r->nexcl) return 0;
    const char *s = strrchr(name, '/');
    const char *base = s ? s + 1 : name;
    return bsearch(&base, r->excl, (size_t)r->nexcl, sizeof(char *), cmp_str) != NULL;
}

// ---- the outputs and their state ------------------------------------------------

// Cuts file f (path) back to `bytes`, or starts it with its header.
static FILE *open_output(const char *path, uint64_t bytes, const char *header) {
    FILE *f = fopen(path, "r+b");
    if (!f && errno == ENOENT) f = fopen(path, "w+b");
    if (!f) { am_seterr("cannot open '%s': %s", path, strerror(errno)); return NULL; }
    struct stat st;
    fstat(fileno(f), &st);
    if (bytes && (uint64_t)st.st_size < bytes) {
        fclose(f);
        am_seterr("'%s' is shorter (%lld bytes) than its journal says (%llu): it was changed outside am_infer; "
                  "delete the folder to start again", path, (long long)st.st_size, (unsigned long long)bytes);
        return NULL;
    }
    if (ftruncate(fileno(f), (off_t)bytes) || fseek(f, (long)bytes, SEEK_SET) ||
        (!bytes && (fputs(header, f) < 0 || fflush(f)))) {
        am_seterr("cannot prepare '%s': %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    return f;
}

// Reads the journal; the top candidates come back from scores.csv's rows
// (their ordinals from the records' bits), the outputs are cut back to the
// last record.
static int restore(run *r) {
    char path[4200];
    out_path(path, sizeof path, r->o->out, "journal.bin");
    if (am_journal_open(&r->j, path)) return -1;
    FILE *sc = fopen(r->scores_path, "rb");
    memset(&r->st, 0, sizeof r->st);
    r->st.scores_bytes = strlen(SCORES_HEADER);
    r->st.skipped_bytes = strlen(SKIPPED_HEADER);
    am_jrec rec;
    int got, nrec = 0;
    char *text = NULL, *fields = NULL;
    size_t cap = 0;
    while ((got = am_journal_next(&r->j, &rec)) == 1) {
        size_t len = rec.scores_bytes - r->st.scores_bytes;
        if (rec.scores_bytes < r->st.scores_bytes || !sc) {
            got = am_seterr("'%s' does not match '%s': delete the folder to start again", r->scores_path, path);
            break;
        }
        if (len + 2 > cap) {
            cap = 2 * len + 2;
            text = realloc(text, cap);
            fields = realloc(fields, cap);
            AM_CHECK(text && fields, "out of memory");
        }
        if (fseek(sc, (long)r->st.scores_bytes, SEEK_SET) || fread(text, 1, len, sc) != len) {
            got = am_seterr("'%s' is shorter than '%s' says: delete the folder to start again", r->scores_path, path);
            break;
        }
        text[len] = 0;
        const char *p = text;
        int line = 1, nf;
        uint64_t first = r->st.ordinal_end;
        for (uint32_t i = 0; i < rec.n; i++) {
            if (!(rec.bits[i / 8] >> (i % 8) & 1)) continue;
            if (am_csv_row(&p, fields, &nf, &line, NULL, r->scores_path) != 1 || nf != 2) {
                got = am_seterr("'%s' does not match '%s' near byte %llu: delete the folder to start again",
                                r->scores_path, path, (unsigned long long)r->st.scores_bytes);
                break;
            }
            am_topk_push(&r->top, strtof(fields + strlen(fields) + 1, NULL), first + i, fields, NULL);
        }
        if (got != 1) break;
        r->st = rec;
        nrec++;
    }
    free(text);
    free(fields);
    if (sc) fclose(sc);
    if (got < 0) return -1;
    if (nrec) am_info("continuing %s after image %llu (%llu scored, %llu skipped so far)", r->o->out,
                      (unsigned long long)r->st.ordinal_end, (unsigned long long)r->st.scored,
                      (unsigned long long)r->st.skipped);
    uint64_t sb = nrec ? r->st.scores_bytes : 0, kb = nrec ? r->st.skipped_bytes : 0;
    r->scores = open_output(r->scores_path, sb, SCORES_HEADER);
    if (!r->scores) return -1;
    r->skipped = open_output(r->skipped_path, kb, SKIPPED_HEADER);
    return r->skipped ? 0 : -1;
}

// ---- the loader: batches of items, decoded ---------------------------------------

enum { ITEM_SCORED = 0, ITEM_SKIPPED = 1, ITEM_EXCLUDED = 2 };

typedef struct {
    int n, nok;                        // items in the batch, images to score
    size_t skip_len;                   // bytes of skipped.csv rows
    char status[AM_JOURNAL_BATCH_MAX];
} slot_head;

#define ALIGN(n) (((n) + 63) & ~(size_t)63)

static size_t names_off(void) { return ALIGN(sizeof(slot_head)); }
static size_t skips_off(const run *r) { return names_off() + ALIGN((size_t)r->B * AM_NAME_MAX); }
static size_t x_off(const run *r) { return skips_off(r) + ALIGN((size_t)r->B * SKIP_ROW_MAX); }
static size_t raw_off(const run *r) { return x_off(r) + ALIGN(sizeof(float) * r->img * r->B); }
static size_t slot_bytes(const run *r) { return raw_off(r) + ALIGN(r->img * r->B); }

// One skipped.csv row: path,reason.
static size_t skip_row(char *dst, const char *src, const char *why) {
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    AM_CHECK(f != NULL, "out of memory");
    am_csv_write_field(f, src);
    fputc(',', f);
    am_csv_write_field(f, why);
    fputc('\n', f);
    fclose(f);
    AM_CHECK(len <= SKIP_ROW_MAX, "a skipped.csv row longer than its room");
    memcpy(dst, text, len);
    free(text);
    return len;
}

// Job j: the next B items of the reader (fewer at the end, none after it),
// decoded on the loader threads.
static void fill(void *ctx, uint64_t job, void *slot) {
    (void)job;
    run *r = ctx;
    slot_head *h = slot;
    char *names = (char *)slot + names_off(), *skips = (char *)slot + skips_off(r);
    float *x = (float *)((char *)slot + x_off(r));
    uint8_t *raw = (uint8_t *)slot + raw_off(r);
    h->n = h->nok = 0;
    h->skip_len = 0;
    while (h->n < r->B && am_reader_next(&r->rd, &r->items[h->n], 1)) {
        am_item *it = &r->items[h->n];
        h->status[h->n] = it->why[0] ? ITEM_SKIPPED : excluded(r, it->name) ? ITEM_EXCLUDED : ITEM_SCORED;
        h->n++;
    }
    #pragma omp parallel for num_threads(r->o->loader_threads) schedule(dynamic)
    for (int i = 0; i < h->n; i++) {
        am_item *it = &r->items[i];
        if (h->status[i] != ITEM_SCORED) continue;
        uint8_t *dst = raw + r->img * i;
        int rc = am_item_load(dst, it, &r->pre);
        if (rc) {
            snprintf(it->why, sizeof it->why, "%s", am_error());
            h->status[i] = ITEM_SKIPPED;
        }
    }
    for (int i = 0; i < h->n; i++) {
        am_item *it = &r->items[i];
        if (h->status[i] == ITEM_SKIPPED) h->skip_len += skip_row(skips + h->skip_len, it->src, it->why);
        if (h->status[i] != ITEM_SCORED) continue;
        snprintf(names + (size_t)h->nok * AM_NAME_MAX, AM_NAME_MAX, "%s", it->name);
        if (h->nok != i) memmove(raw + r->img * h->nok, raw + r->img * i, r->img);
        h->nok++;
    }
    // Every forward sees B images (the rest black): an image's score then
    // depends on nothing else in its batch (BLAS picks its kernels by
    // shape), so shards and resumed runs give the same bytes.
    memset(raw + r->img * h->nok, 0, r->img * (size_t)(r->B - h->nok));
    am_augment_to_input(x, raw, r->img * (size_t)r->B);
}

// ---- scoring -------------------------------------------------------------------

static int write_failed(const char *path) {
    int e = errno;
    return am_seterr("cannot write '%s': %s%s. Nothing is lost: the journal holds every batch before this one; "
                     "run the same command again to continue", path, strerror(e),
                     e == ENOSPC || e == EFBIG ? " (the disk is full: free space first)" : "");
}

// The outputs up to the queued records on disk, then the records.
static int sync_all(run *r) {
    if (fflush(r->scores) || fdatasync(fileno(r->scores))) return write_failed(r->scores_path);
    if (fflush(r->skipped) || fdatasync(fileno(r->skipped))) return write_failed(r->skipped_path);
    return am_journal_sync(&r->j);
}

static int score_all(run *r) {
    const am_infer_opts *o = r->o;
    am_reader_open(&r->rd, &r->plan, r->st.ordinal_end);
    r->items = AM_CALLOC(sizeof(am_item) * (size_t)r->B);
    // Four slots, two held: batch j is scored while batch j+1 is copied to
    // the device (pinned memory) and j+2, j+3 are decoded.
    void *slots = am_trainer_host_alloc(&r->t, slot_bytes(r) * 4);
    am_prefetch *pf = am_prefetch_start_held(fill, r, slot_bytes(r), 4, 2, slots, 0, UINT64_MAX);
    void *slot = am_prefetch_next(pf, 0);
    if (((slot_head *)slot)->nok) am_trainer_score_send(&r->t, (float *)((char *)slot + x_off(r)), r->B, r->S);
    am_progress p;
    uint64_t total = r->plan.weight > r->st.ordinal_end ? r->plan.weight : r->st.ordinal_end + 1;
    am_progress_start(&p, "score", total, "img");
    double t0 = now_s(), last_sync = t0;
    uint64_t elapsed0 = r->st.elapsed_ns;
    int rc = 0;
    for (uint64_t job = 0;; job++) {
        slot_head *h = slot;
        if (!h->n) break;
        void *next = am_prefetch_next(pf, job + 1);
        if (((slot_head *)next)->nok) am_trainer_score_send(&r->t, (float *)((char *)next + x_off(r)), r->B, r->S);
        const char *names = (char *)slot + names_off();
        const float *z = h->nok ? am_trainer_score_take(&r->t) : NULL;
        am_jrec rec = r->st;
        rec.n = (uint32_t)h->n;
        memset(rec.bits, 0, sizeof rec.bits);
        for (int i = 0, k = 0; i < h->n; i++) {
            if (h->status[i] == ITEM_SKIPPED) rec.skipped++;
            if (h->status[i] == ITEM_EXCLUDED) rec.excluded++;
            if (h->status[i] != ITEM_SCORED) continue;
            const float *zi = z + 2 * k;
            float m = fmaxf(zi[0], zi[1]);
            float s = expf(zi[1] - m) / (expf(zi[0] - m) + expf(zi[1] - m));
            const char *name = names + (size_t)k * AM_NAME_MAX;
            char num[32];
            snprintf(num, sizeof num, "%.9g", s);
            am_csv_write_field(r->scores, name);
            fprintf(r->scores, ",%s\n", num);
            am_topk_push(&r->top, strtof(num, NULL), r->st.ordinal_end + (uint64_t)i, name, NULL);
            rec.bits[i / 8] |= (uint8_t)(1u << (i % 8));
            rec.scored++;
            k++;
        }
        if (h->skip_len && fwrite((char *)slot + skips_off(r), 1, h->skip_len, r->skipped) != h->skip_len) {
            rc = write_failed(r->skipped_path);
            break;
        }
        if (fflush(r->scores)) { rc = write_failed(r->scores_path); break; }
        if (fflush(r->skipped)) { rc = write_failed(r->skipped_path); break; }
        rec.ordinal_end += (uint64_t)h->n;
        rec.scores_bytes = (uint64_t)ftell(r->scores);
        rec.skipped_bytes = (uint64_t)ftell(r->skipped);
        double t = now_s();
        rec.elapsed_ns = elapsed0 + (uint64_t)((t - t0) * 1e9);
        am_journal_append(&r->j, &rec);
        r->st = rec;
        if (t - last_sync >= o->sync_seconds) {
            if ((rc = sync_all(r))) break;
            last_sync = t;
        }
        char extra[96];
        snprintf(extra, sizeof extra, "%llu skipped", (unsigned long long)rec.skipped);
        if (rec.ordinal_end > total) p.total = total = rec.ordinal_end;
        am_progress_update(&p, rec.ordinal_end, extra);
        slot = next;
    }
    am_prefetch_stop(pf);
    am_trainer_host_free(&r->t, slots);
    if (!rc) rc = sync_all(r);
    if (!rc) {
        char extra[96];
        snprintf(extra, sizeof extra, "%llu scored, %llu skipped, %llu left out", (unsigned long long)r->st.scored,
                 (unsigned long long)r->st.skipped, (unsigned long long)r->st.excluded);
        p.total = r->st.ordinal_end;
        am_progress_end(&p, extra);
    }
    for (int i = 0; i < r->B; i++) am_item_free(&r->items[i]);
    free(r->items);
    am_reader_close(&r->rd);
    return rc;
}

// ---- the final outputs -----------------------------------------------------------

static int by_ordinal(const void *a, const void *b) {
    uint64_t x = (*(const am_cand *const *)a)->ord, y = (*(const am_cand *const *)b)->ord;
    return (x > y) - (x < y);
}

// Each candidate's Source, from one pass of the reader over names only.
static void resolve_sources(run *r, am_cand *c, int n) {
    am_cand **by = AM_MALLOC(sizeof(am_cand *) * (n ? n : 1));
    for (int i = 0; i < n; i++) by[i] = &c[i];
    qsort(by, (size_t)n, sizeof(am_cand *), by_ordinal);
    am_reader rd;
    am_reader_open(&rd, &r->plan, 0);
    am_item it = {0};
    for (int i = 0; i < n; i++) {
        while (rd.ordinal <= by[i]->ord && am_reader_next(&rd, &it, 0)) {}
        by[i]->source = strdup(rd.ordinal == by[i]->ord + 1 ? it.src : "?");
    }
    am_item_free(&it);
    am_reader_close(&rd);
    free(by);
}

static int write_summary(const run *r) {
    const am_infer_opts *o = r->o;
    char path[4200], *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    AM_CHECK(f != NULL, "out of memory");
    double wall = r->st.elapsed_ns * 1e-9;
    fprintf(f, "{\"complete\": true, \"shard\": \"%d/%d\", \"images\": %llu, \"scored\": %llu, \"skipped\": %llu, "
               "\"excluded\": %llu, \"wall_seconds\": %.3f, \"images_per_second\": %.1f, \"model_crc32\": \"%08x\", "
               "\"size\": %d, \"channels\": %d, \"top\": %d, \"identity\": \"%016llx\"}\n",
            o->shard, o->nshards, (unsigned long long)r->st.ordinal_end, (unsigned long long)r->st.scored,
            (unsigned long long)r->st.skipped, (unsigned long long)r->st.excluded, wall,
            wall > 0 ? r->st.ordinal_end / wall : 0.0, r->model_crc, r->pre.size, r->pre.channels, o->top,
            (unsigned long long)r->plan.identity);
    fclose(f);
    out_path(path, sizeof path, o->out, "summary.json");
    int rc = am_file_write_atomic(path, text, len);
    free(text);
    return rc;
}

static int finish(run *r) {
    int n;
    am_cand *c = am_topk_sorted(&r->top, &n);
    resolve_sources(r, c, n);
    int rc = am_topk_write(r->o->out, c, n, &r->pre);
    am_topk_free_sorted(c, n);
    if (!rc) rc = write_summary(r);
    if (!rc) printf("am_infer: %llu images: %llu scored, %llu skipped%s, %llu left out; results in %s/\n",
                    (unsigned long long)r->st.ordinal_end, (unsigned long long)r->st.scored,
                    (unsigned long long)r->st.skipped, r->st.skipped ? " (skipped.csv)" : "",
                    (unsigned long long)r->st.excluded, r->o->out);
    return rc;
}

// ---- the run ----------------------------------------------------------------------

static int fail(const char *what) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", am_error());
    return am_seterr("%s: %s", what, msg);
}

static int run_steps(run *r) {
    const am_infer_opts *o = r->o;
    if (o->batch < 1 || o->batch > AM_JOURNAL_BATCH_MAX) return am_seterr("--batch %d: give 1..%d", o->batch, AM_JOURNAL_BATCH_MAX);
    if (o->nshards < 1 || o->shard < 0 || o->shard >= o->nshards)
        return am_seterr("--shard %d/%d: give i/N with 0 <= i < N", o->shard, o->nshards);
    if (open_model(r)) return fail("--model");
    if (am_plan_make(&r->plan, o->sources, o->nsources, o->recursive, r->pre.band_names, o->shard, o->nshards))
        return fail("--images");
    if (load_exclusions(r)) return fail("--exclude");
    if (am_mkdir_p(o->out) || check_manifest(r)) return -1;
    out_path(r->scores_path, sizeof r->scores_path, o->out, "scores.csv");
    out_path(r->skipped_path, sizeof r->skipped_path, o->out, "skipped.csv");
    am_topk_init(&r->top, o->top);
    if (restore(r)) return -1;
    r->B = o->batch;
    r->S = r->pre.size;
    r->C = r->pre.channels;
    r->img = (size_t)r->S * r->S * r->C;
    am_set_threads(o->threads);
    am_train_hparams hp = am_train_defaults();
    if (am_trainer_init(&r->t, r->arch, r->C, 2, 0, &hp)) return -1;
    r->have_trainer = 1;
    if (am_weights_load(&r->t.model, o->model, 0)) return fail("--model");
    am_trainer_sync_ema(&r->t);
    if (o->device >= 0) {
        if (am_trainer_to_gpu(&r->t, o->device, o->dt)) return fail("--device");
        am_info("scoring on cuda:%d in %s", o->device, o->dt == AM_BF16 ? "bf16" : "fp32");
    }
    am_info("shard %d/%d: %d sources, about %llu images of %llu; model %s (%s, %d px, %d channels)", o->shard,
            o->nshards, o->nsources, (unsigned long long)r->plan.weight, (unsigned long long)r->plan.total, o->model,
            r->arch, r->S, r->C);
    if (score_all(r)) return -1;
    return finish(r);
}

int am_infer_run(const am_infer_opts *o) {
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    int rc = run_steps(&r);
    if (r.scores) fclose(r.scores);
    if (r.skipped) fclose(r.skipped);
    am_journal_close(&r.j);
    if (r.have_trainer) am_trainer_free(&r.t);
    am_topk_free(&r.top);
    for (int i = 0; i < r.nexcl; i++) free(r.excl[i]);
    free(r.excl);
    am_plan_free(&r.plan);
    return rc;
}
