// The active-learning loop (src/train/loop.c) on a tiny generated set: two
// cycles with the simulated oracle, the files they write, a resume from the
// checkpoint between the cycles that ends bit for bit where the uninterrupted
// run ends, labels with awkward filenames (commas, quotes, spaces, #) through
// labeled_data.csv and the checkpoint, and the errors of opening a run.
//
// The set: 72 demo cutouts of 32 px, 8 of them anomalies, 3 anomalies and 6
// normal images labelled; three images renamed to awkward names (a labelled
// anomaly, a labelled normal and a pool image), their rows in labels.csv and
// truth.csv quoted as a spreadsheet writes them. The uninterrupted run (A)
// is made by the fixture before each test (in the test's process: OpenMP
// does not survive a fork, so it cannot be made once in the runner's), and
// each test checks a part of it.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "am/config.h"
#include "am/dataset.h"
#include "am/demo.h"
#include "am/error.h"
#include "am/kernels.h"
#include "am/log.h"
#include "am/loop.h"
#include "am/metrics.h"
#include "am/tfile.h"
#include "am/weights.h"
#include "test.h"

#define N 72
#define ITERS 6
#define ORACLE 2

// The renamed images: the name on disk and its field as labels.csv,
// truth.csv, labeled_data.csv and scores.csv write it.
static const struct { const char *name, *csv; } awkward[3] = {
    {"a, \"b\" c.png", "\"a, \"\"b\"\" c.png\""},  // a labelled anomaly
    {" lead \"q\".png", "\" lead \"\"q\"\".png\""},  // a labelled normal
    {"#pool, x.png", "\"#pool, x.png\""},            // a pool image
};

// The set and run A, made by the fixture.
static struct {
    char err[4096];             // the fixture's failure, if any
    char dir[64];               // the set: images/, labels.csv, truth.csv; run A in runA/
    am_dataset d;               // the images as the run lists them
    const char *csv[N];         // each image's CSV field
    int truth[N];               // AM_NORMAL / AM_ANOMALY per dataset index
    int input[N];               // labels.csv's labels
    int after1[N], final[N];    // the labels after cycle 1 (with the oracle's) and at the end
    float score1[N], score[N];  // the scores of cycle 1 and of cycle 2
    char *scores1;              // cycle 1's scores.csv
} S;

// dir/name in one of 8 buffers used in turn: for paths used at once.
static char *file_in(const char *dir, const char *name) {
    static char path[8][4400];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    return p;
}

// The configuration of the runs: Lite0 from the bundled weights, 32 px,
// B 4, mu 1, 2 cycles of 6 steps, a checkpoint every 4 steps, the oracle
// labelling 2 + 2 images after cycle 1; one thread (OpenMP's spinning
// threads slow to a crawl on a busy 2-core machine).
static void run_config(am_config *c, const char *out) {
    am_config_defaults(c);
    const char *kv[][2] = {
        {"images", file_in(S.dir, "images")}, {"labels", file_in(S.dir, "labels.csv")},
        {"truth", file_in(S.dir, "truth.csv")}, {"out", out}, {"weights", "../weights/lite0.amw"},
        {"size", "32"}, {"batch", "4"}, {"mu", "1"}, {"tau", "0.6"}, {"iters", "6"}, {"cycles", "2"},
        {"oracle", "2"}, {"checkpoint_every", "4"}, {"top", "10"}, {"score_batch", "32"}, {"seed", "7"},
        {"threads", "1"}, {"device", "cpu"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) AM_CHECK(!am_config_set(c, kv[i][0], kv[i][1]), am_error());
}

// The set: demo images, three renamed, and labels.csv / truth.csv written
// here with those names quoted. 0, or -1 with S.err set.
static int make_set(void) {
    am_demo_opts o = {.look = AM_DEMO_LOOK, .n = N, .size = 32, .anomaly_rate = 8.0 / N, .labeled_anomalies = 3, .labeled_normals = 6,
                      .seed = 21};
    uint8_t kinds[N], labeled[N];
    if (am_demo_write(S.dir, &o, 0) || am_demo_plan(kinds, labeled, &o)) return -1;
    // The first labelled anomaly, the first labelled normal, the first pool normal.
    int pick[3] = {-1, -1, -1};
    for (int i = 0; i < N; i++) {
        int normal = kinds[i] == AM_DEMO_NORMAL, k = !labeled[i] ? (normal ? 2 : -1) : normal ? 1 : 0;
        if (k >= 0 && pick[k] < 0) pick[k] = i;
    }
    FILE *lf = fopen(file_in(S.dir, "labels.csv"), "w"), *tf = fopen(file_in(S.dir, "truth.csv"), "w");
    fprintf(lf, "filename,label\r\n");
    fprintf(tf, "filename,label,kind\n");
    for (int i = 0; i < N; i++) {
        char plain[32], from[512], to[512];
        snprintf(plain, sizeof plain, "%06d.png", i);
        const char *field = plain;
        for (int k = 0; k < 3; k++)
            if (pick[k] == i) {
                snprintf(from, sizeof from, "%s/images/%s", S.dir, plain);
                snprintf(to, sizeof to, "%s/images/%s", S.dir, awkward[k].name);
                if (rename(from, to)) return am_seterr("cannot rename '%s'", from);
                field = awkward[k].csv;
            }
        const char *label = kinds[i] == AM_DEMO_NORMAL ? "normal" : "anomaly";
        if (labeled[i]) fprintf(lf, "%s,%s\r\n", field, label);
        fprintf(tf, "%s,%s,%s\n", field, label, am_demo_kind_name(kinds[i]));
    }
    fclose(lf);
    fclose(tf);
    if (am_dataset_list(&S.d, file_in(S.dir, "images"), 0)) return -1;
    for (int i = 0; i < N; i++) {
        S.csv[i] = S.d.names[i];
        for (int k = 0; k < 3; k++)
            if (!strcmp(S.d.names[i], awkward[k].name)) S.csv[i] = awkward[k].csv;
    }
    return 0;
}

// Run A: two cycles, with snapshots after the first.
static int run_a(void) {
    static am_config c;
    static am_run r;
    run_config(&c, file_in(S.dir, "runA"));
    if (am_run_open(&r, &c, -1, AM_F32)) return -1;
    memcpy(S.truth, r.truth, sizeof S.truth);
    memcpy(S.input, r.d.label, sizeof S.input);
    int rc = am_run_cycle(&r, 1);
    if (!rc) {
        memcpy(S.after1, r.d.label, sizeof S.after1);
        memcpy(S.score1, r.score, sizeof S.score1);
        S.scores1 = test_read_file(file_in(c.out, "scores.csv"), NULL);
        rc = am_run_cycle(&r, 2);
    }
    memcpy(S.final, r.d.label, sizeof S.final);
    memcpy(S.score, r.score, sizeof S.score);
    am_run_close(&r);
    return rc;
}

static void setup(void) {
    memset(&S, 0, sizeof S);
    am_log_set_level(AM_LOG_WARN);
    snprintf(S.dir, sizeof S.dir, "/tmp/am_loop_XXXXXX");
    if (!mkdtemp(S.dir) || make_set() || run_a()) snprintf(S.err, sizeof S.err, "%s", am_error());
    am_log_set_level(-1);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", S.dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", S.dir);
    am_dataset_free(&S.d);
    free(S.scores1);
}

#define FIXTURE_OK() ck_assert_msg(!S.err[0], "the fixture's run failed: %s", S.err)

// A scores.csv: the header, then every image unlabelled under `labels`
// exactly once, as `field,score` with the score of `score` to 6 decimals,
// highest first. The dataset indices in file order go to order[] (its
// length returned).
static int check_scores(const char *text, const int *labels, const float *score, int *order) {
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(!strncmp(text, "Filename,Score\n", 15), "header: %.40s", text);
    int seen[N] = {0}, n = 0;
    const char *p = text + 15;
    double prev = INFINITY;
    while (*p) {
        const char *nl = strchr(p, '\n'), *comma = nl;
        ck_assert_ptr_nonnull(nl);
        while (comma > p && *comma != ',') comma--;
        int i = 0;
        while (i < N && (strlen(S.csv[i]) != (size_t)(comma - p) || strncmp(S.csv[i], p, (size_t)(comma - p)))) i++;
        ck_assert_msg(i < N, "row %d names no image: %.*s", n + 1, (int)(nl - p), p);
        ck_assert_msg(labels[i] == AM_UNLABELLED, "%s is labelled but in the scores", S.d.names[i]);
        ck_assert_msg(!seen[i]++, "%s twice", S.d.names[i]);
        char want[32];
        snprintf(want, sizeof want, "%.9g", score[i]);
        ck_assert_msg(strlen(want) == (size_t)(nl - comma - 1) && !strncmp(want, comma + 1, strlen(want)),
                      "%s: score %.*s, the run's %s", S.d.names[i], (int)(nl - comma - 1), comma + 1, want);
        ck_assert_msg(score[i] <= prev, "row %d: %s's score %g after %g", n + 1, S.d.names[i], score[i], prev);
        prev = score[i];
        order[n++] = i;
        p = nl + 1;
    }
    for (int i = 0; i < N; i++) ck_assert_msg(seen[i] || labels[i] != AM_UNLABELLED, "%s not scored", S.d.names[i]);
    return n;
}

// dir/train_log.jsonl: a line for each step 1 .. 2 * ITERS, in order.
static void check_log(const char *dir) {
    char *log = test_read_file(file_in(dir, "train_log.jsonl"), NULL);
    int lines = 0;
    for (const char *q = log; (q = strstr(q, "{\"step\": ")); q++) ck_assert_int_eq(atoi(q + 9), ++lines);
    ck_assert_int_eq(lines, 2 * ITERS);
    free(log);
}

static int count(const int *labels, int lab) {
    int n = 0;
    for (int i = 0; i < N; i++) n += labels[i] == lab;
    return n;
}

// The oracle after cycle 1: the ORACLE highest-scored true anomalies and the
// ORACLE highest-scored true normals (false positives) of cycle 1's ranking
// become labels, nothing else changes.
START_TEST(test_oracle_picks) {
    FIXTURE_OK();
    ck_assert_int_eq(count(S.input, AM_ANOMALY), 3);
    ck_assert_int_eq(count(S.input, AM_NORMAL), 6);
    for (int k = 0; k < 2; k++)
        ck_assert_msg(S.input[am_dataset_find(&S.d, awkward[k].name)] == (k ? AM_NORMAL : AM_ANOMALY),
                      "'%s' not read from labels.csv", awkward[k].name);
    int order[N], want[N], added[2] = {0, 0};
    int n = check_scores(S.scores1, S.input, S.score1, order);
    ck_assert_int_eq(n, N - 9);
    memcpy(want, S.input, sizeof want);
    for (int j = 0; j < n; j++) {
        int i = order[j], t = S.truth[i];
        if (added[t] < ORACLE) { want[i] = t; added[t]++; }
    }
    ck_assert(added[AM_ANOMALY] == ORACLE && added[AM_NORMAL] == ORACLE);
    for (int i = 0; i < N; i++)
        ck_assert_msg(S.after1[i] == want[i], "%s: label %d after the oracle, expected %d", S.d.names[i], S.after1[i],
                      want[i]);
    // No oracle after the last cycle.
    ck_assert(!memcmp(S.final, S.after1, sizeof S.final));
}
END_TEST

// The files of the last cycle.
START_TEST(test_outputs) {
    FIXTURE_OK();
    char out[512];
    snprintf(out, sizeof out, "%s/runA", S.dir);
    int order[N];
    char *scores = test_read_file(file_in(out, "scores.csv"), NULL);
    char *top = test_read_file(file_in(out, "top_candidates.csv"), NULL);
    int n = check_scores(scores, S.final, S.score, order);
    ck_assert_int_eq(n, N - 9 - 2 * ORACLE);
    // top_candidates.csv: the first 10 rows of scores.csv.
    const char *cut = scores;
    for (int k = 0; k < 11; k++) cut = strchr(cut, '\n') + 1;
    ck_assert_msg(strlen(top) == (size_t)(cut - scores) && !strncmp(top, scores, strlen(top)), "%s", top);

    // labeled_data.csv: the input labels and the oracle's, read back.
    am_dataset d = S.d;
    int back[N];
    d.label = back;
    for (int i = 0; i < N; i++) back[i] = AM_UNLABELLED;
    am_label_stats st;
    ck_assert_msg(am_dataset_apply_labels(&d, file_in(out, "labeled_data.csv"), &st) == 0, "%s", am_error());
    ck_assert_int_eq(st.matched, 9 + 2 * ORACLE);
    ck_assert(!memcmp(back, S.final, sizeof back));

    // model_ema.amw carries the run's preprocessing and its images' format family.
    am_preprocess pre;
    ck_assert_int_eq(am_weights_preprocess(file_in(out, "model_ema.amw"), &pre), 1);
    ck_assert(pre.size == 32 && pre.channels == 3 && pre.stretch.kind == AM_STRETCH_NONE);
    ck_assert_str_eq(pre.format, "png/jpeg");

    // metrics.json: the metrics of the scored pool against the truth.
    float s[N];
    int l[N];
    size_t m = 0;
    for (int j = 0; j < n; j++) {
        s[m] = S.score[order[j]];
        l[m++] = S.truth[order[j]];
    }
    am_metrics want;
    ck_assert_int_eq(am_metrics_compute(&want, s, l, m), 0);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "{\"cycle\": 2, \"step\": %d, \"n\": %zu, \"anomalies\": %zu, \"auroc\": %.6f, \"auprc\": %.6f, "
             "\"ap\": %.6f, \"top1_precision\": %.6f, \"top1_recall\": %.6f, \"top01_precision\": %.6f, "
             "\"top01_recall\": %.6f}\n", 2 * ITERS, want.n, want.n_pos, want.auroc, want.auprc, want.ap,
             want.prec_top1, want.rec_top1, want.prec_top01, want.rec_top01);
    char *metrics = test_read_file(file_in(out, "metrics.json"), NULL);
    ck_assert_str_eq(metrics, expect);
    ck_assert_int_eq((int)want.n_pos, 8 - 3 - ORACLE);

    // metrics_cycles.csv: a header and a row per cycle; train_log.jsonl: a line per step.
    char *cycles = test_read_file(file_in(out, "metrics_cycles.csv"), NULL);
    ck_assert_msg(!strncmp(cycles, "cycle,step,n,", 13) && strstr(cycles, "\n1,6,") && strstr(cycles, "\n2,12,"),
                  "%s", cycles);
    check_log(out);

    // config.txt: the configuration; skipped.txt: empty; model_ema.amw and
    // the plots exist.
    am_config c;
    run_config(&c, out);
    char *cfg, *txt = test_read_file(file_in(out, "config.txt"), NULL);
    char *skipped = test_read_file(file_in(out, "skipped.txt"), NULL);
    size_t len;
    FILE *f = open_memstream(&cfg, &len);
    am_config_write(&c, f);
    fclose(f);
    ck_assert_str_eq(txt, cfg);
    ck_assert_str_eq(skipped, "");
    struct stat sb;
    const char *files[] = {"model_ema.amw", "checkpoint.amck", "top_candidates.png", "roc.png", "pr.png",
                           "score_hist.png"};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
        ck_assert_msg(!stat(file_in(out, files[k]), &sb) && sb.st_size > 0, "no %s", files[k]);
    free(scores);
    free(top);
    free(metrics);
    free(cycles);
    free(cfg);
    free(txt);
    free(skipped);
}
END_TEST

static int same_file(const char *a, const char *b) {
    size_t nx, ny;
    char *x = test_read_file(a, &nx), *y = test_read_file(b, &ny);
    int same = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

// Run B stops after cycle 1 and is resumed from its checkpoint: the same
// labels, and cycle 2 ends bit for bit where run A's did.
START_TEST(test_resume) {
    FIXTURE_OK();
    static am_config c;
    static am_run r;
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/runA", S.dir);
    snprintf(b, sizeof b, "%s/runB", S.dir);
    run_config(&c, b);
    ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
    ck_assert_int_eq(am_run_next_cycle(&r), 1);
    ck_assert_msg(am_run_cycle(&r, 1) == 0, "%s", am_error());
    am_run_close(&r);

    snprintf(c.resume, sizeof c.resume, "%s", file_in(b, "checkpoint.amck"));
    c.labels[0] = 0;
    ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
    ck_assert(r.t.step == ITERS);
    ck_assert_int_eq(am_run_next_cycle(&r), 2);
    ck_assert_msg(!memcmp(r.d.label, S.after1, sizeof S.after1), "the checkpoint's labels differ from run A's");
    ck_assert_msg(am_run_cycle(&r, 2) == 0, "%s", am_error());
    for (int i = 0; i < N; i++)
        ck_assert_msg(!memcmp(&r.score[i], &S.score[i], sizeof(float)), "%s: score %.9g, run A's %.9g", S.d.names[i],
                      r.score[i], S.score[i]);
    ck_assert(!memcmp(r.d.label, S.final, sizeof S.final));
    am_run_close(&r);
    const char *files[] = {"scores.csv", "labeled_data.csv", "metrics.json", "metrics_cycles.csv", "model_ema.amw"};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
        ck_assert_msg(same_file(file_in(a, files[k]), file_in(b, files[k])), "%s differs", files[k]);
    check_log(b);
}
END_TEST

// A loss with a state per image (FlexMatch) resumes bit for bit too: two
// cycles straight, and one then a resume, give the same scores and model.
START_TEST(test_resume_per_image_loss) {
    FIXTURE_OK();
    static am_config c;
    static am_run r;
    char e[512], f[512];
    snprintf(e, sizeof e, "%s/flexE", S.dir);
    snprintf(f, sizeof f, "%s/flexF", S.dir);
    for (int k = 0; k < 2; k++) {
        run_config(&c, k ? f : e);
        ck_assert(!am_config_set(&c, "loss", "flexmatch") && !am_config_set(&c, "oracle", "0"));
        ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
        ck_assert(r.t.ssl_label != NULL);
        for (int cycle = 1; cycle <= 2 - k; cycle++) ck_assert_msg(am_run_cycle(&r, cycle) == 0, "%s", am_error());
        am_run_close(&r);
    }
    snprintf(c.resume, sizeof c.resume, "%s", file_in(f, "checkpoint.amck"));
    c.labels[0] = 0;
    ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
    ck_assert_int_eq(am_run_next_cycle(&r), 2);
    ck_assert_msg(am_run_cycle(&r, 2) == 0, "%s", am_error());
    am_run_close(&r);
    const char *files[] = {"scores.csv", "model_ema.amw"};
    for (size_t k = 0; k < 2; k++) ck_assert_msg(same_file(file_in(e, files[k]), file_in(f, files[k])), "%s differs", files[k]);
    // The loss's state and its state per image, as the straight run's.
    am_tfile te, tf;
    ck_assert(am_tfile_read(&te, file_in(e, "checkpoint.amck"), "AMCK") == 0);
    ck_assert(am_tfile_read(&tf, file_in(f, "checkpoint.amck"), "AMCK") == 0);
    const char *entries[] = {"ssl_state", "ssl_images"};
    for (size_t k = 0; k < 2; k++) {
        const am_tentry *x = am_tfile_find(&te, entries[k]), *y = am_tfile_find(&tf, entries[k]);
        ck_assert_msg(x && y && x->n == y->n && !memcmp(x->data, y->data, sizeof(float) * x->n), "%s differs",
                      entries[k]);
    }
    am_tfile_free(&te);
    am_tfile_free(&tf);
}
END_TEST

// The awkward names in labeled_data.csv as the writer quotes them, and the
// labels of run A's last checkpoint read back by a resumed run.
START_TEST(test_awkward_labels) {
    FIXTURE_OK();
    char a[512];
    snprintf(a, sizeof a, "%s/runA", S.dir);
    char *text = test_read_file(file_in(a, "labeled_data.csv"), NULL), row[128];
    for (int k = 0; k < 2; k++) {
        snprintf(row, sizeof row, "\n%s,%s\n", awkward[k].csv, k ? "normal" : "anomaly");
        ck_assert_msg(strstr(text, row) != NULL, "no row %s in\n%s", row, text);
    }
    free(text);
    static am_config c;
    static am_run r;
    run_config(&c, file_in(S.dir, "runC"));
    snprintf(c.resume, sizeof c.resume, "%s", file_in(a, "checkpoint.amck"));
    c.labels[0] = 0;
    ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
    ck_assert(r.t.step == 2 * ITERS);
    ck_assert_int_eq(am_run_next_cycle(&r), 3);
    ck_assert(!memcmp(r.d.label, S.final, sizeof S.final));
    am_run_close(&r);

    // --labels adds to the checkpoint's labels; with --replace-labels it is
    // the whole set (am_review's retrain: an image the expert marked unsure
    // loses its label).
    int first = -1;
    for (int i = 0; i < N && first < 0; i++)
        if (S.final[i] != AM_UNLABELLED) first = i;
    ck_assert(first >= 0);
    char one[512];
    snprintf(one, sizeof one, "%s", file_in(S.dir, "one_label.csv"));
    FILE *f = fopen(one, "w");
    fprintf(f, "filename,label\n");
    am_csv_write_field(f, S.d.names[first]);
    fprintf(f, ",%s\n", S.final[first] == AM_ANOMALY ? "normal" : "anomaly");
    fclose(f);
    for (int replace = 0; replace < 2; replace++) {
        snprintf(c.labels, sizeof c.labels, "%s", one);
        c.replace_labels = replace;
        ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
        for (int i = 0; i < N; i++) {
            int want = i == first ? 1 - S.final[i] : replace ? AM_UNLABELLED : S.final[i];
            ck_assert_msg(r.d.label[i] == want, "replace %d: %s has label %d, not %d", replace, S.d.names[i],
                          r.d.label[i], want);
        }
        am_run_close(&r);
    }
}
END_TEST

// Opening fails naming the option, the file and the fix, and leaves nothing open.
START_TEST(test_open_errors) {
    FIXTURE_OK();
    static am_config c;
    static am_run r;
    am_log_set_level(AM_LOG_ERROR);
    run_config(&c, file_in(S.dir, "runD"));
    snprintf(c.images, sizeof c.images, "%s", file_in(S.dir, "no such dir"));
    ck_assert_int_eq(am_run_open(&r, &c, -1, AM_F32), -1);
    ck_assert_msg(!strncmp(am_error(), "--images: cannot find", 21) && strstr(am_error(), "no such dir"), "%s",
                  am_error());
    ck_assert_ptr_null(r.score);

    run_config(&c, file_in(S.dir, "runD"));
    char bad[512];
    snprintf(bad, sizeof bad, "%s", file_in(S.dir, "bad.csv"));
    FILE *f = fopen(bad, "w");
    fprintf(f, "filename,label\n000005.png,maybe\n");
    fclose(f);
    snprintf(c.labels, sizeof c.labels, "%s", bad);
    ck_assert_int_eq(am_run_open(&r, &c, -1, AM_F32), -1);
    char want[600];
    snprintf(want, sizeof want, "--labels: %s:2: unknown label 'maybe'", bad);
    ck_assert_msg(!strncmp(am_error(), want, strlen(want)), "%s", am_error());
    ck_assert_ptr_null(r.log);

    run_config(&c, file_in(S.dir, "runD"));
    snprintf(c.resume, sizeof c.resume, "%s", file_in(S.dir, "none.amck"));
    ck_assert_int_eq(am_run_open(&r, &c, -1, AM_F32), -1);
    ck_assert_msg(!strncmp(am_error(), "--resume: ", 10) && strstr(am_error(), "none.amck"), "%s", am_error());

    // A resume with other preprocessing options than the checkpoint's.
    run_config(&c, file_in(S.dir, "runD"));
    snprintf(c.resume, sizeof c.resume, "%s/runA/checkpoint.amck", S.dir);
    c.labels[0] = 0;
    snprintf(c.stretch, sizeof c.stretch, "zscale");
    ck_assert_int_eq(am_run_open(&r, &c, -1, AM_F32), -1);
    ck_assert_msg(strstr(am_error(), "other preprocessing") && strstr(am_error(), "stretch = none vs stretch = zscale"),
                  "%s", am_error());
    run_config(&c, file_in(S.dir, "runD"));
    snprintf(c.combine, sizeof c.combine, "1;1");
    ck_assert_int_eq(am_run_open(&r, &c, -1, AM_F32), -1);
    ck_assert_msg(strstr(am_error(), "--combine '1;1' has 2 rows but the model takes 3"), "%s", am_error());

    // A cycle without an anomaly labelled.
    run_config(&c, file_in(S.dir, "runD"));
    f = fopen(bad, "w");
    fprintf(f, "000005.png,normal\n");
    fclose(f);
    snprintf(c.labels, sizeof c.labels, "%s", bad);
    c.truth[0] = 0;
    ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
    ck_assert_int_eq(am_run_cycle(&r, 1), -1);
    ck_assert_msg(strstr(am_error(), "no image is labelled anomaly") != NULL, "%s", am_error());
    am_run_close(&r);
    am_log_set_level(-1);
}
END_TEST

// Entries of two tensor files, float32 ones bit for bit (texts ignored):
// NULL, or the first that differs.
static const char *first_difference(const am_tfile *a, const am_tfile *b) {
    for (int i = 0; i < a->ntensors; i++) {
        const am_tentry *x = &a->t[i], *y = am_tfile_find(b, x->name);
        if (x->type != AM_TF_F32) continue;
        if (!y || y->n != x->n || memcmp(x->data, y->data, sizeof(float) * x->n)) return x->name;
    }
    return NULL;
}

// The side-by-side trace (am_train --trace, am/trace.h): a cycle traced with
// dropout and drop-connect off saves each step's batch and losses (those of
// train_log.jsonl) and the state after every step, the last one the cycle's
// checkpoint; the trace holds all a replay needs: a fresh trainer loaded with
// the state after step k and given step k+1's batch makes the state after
// step k+1 bit for bit.
START_TEST(test_trace) {
    FIXTURE_OK();
    static am_config c;
    static am_run r;
    char out[512], trace[512], path[600];
    snprintf(out, sizeof out, "%s/traced", S.dir);
    snprintf(trace, sizeof trace, "%s/trace", S.dir);
    run_config(&c, out);
    ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
    ck_assert(r.t.model.dropout == 0.2f && r.t.model.drop_connect == 0.2f);  // Lite0's, as the Python tool's
    am_run_close(&r);
    const char *kv[][2] = {{"trace", trace}, {"trace_states", "6,0,1,2,3,4,5"}, {"dropout", "0"},
                           {"drop_connect", "0"}, {"oracle", "0"}, {"cycles", "1"}, {"checkpoint_every", "0"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) ck_assert(!am_config_set(&c, kv[i][0], kv[i][1]));
    ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
    ck_assert(r.t.model.dropout == 0.0f && r.t.model.drop_connect == 0.0f);
    ck_assert_msg(am_run_cycle(&r, 1) == 0, "%s", am_error());
    am_run_close(&r);

    am_tfile last, ck;
    snprintf(path, sizeof path, "%s/state_%06d.amck", trace, ITERS);
    ck_assert_msg(am_tfile_read(&last, path, "AMCK") == 0, "%s", am_error());
    ck_assert(am_tfile_read(&ck, file_in(out, "checkpoint.amck"), "AMCK") == 0);
    const char *diff = first_difference(&ck, &last);
    ck_assert_msg(!diff, "the last traced state differs from the checkpoint at %s", diff);
    am_tfile_free(&ck);
    am_tfile_free(&last);

    char *log = test_read_file(file_in(out, "train_log.jsonl"), NULL);
    const char *line = log;
    am_train_hparams hp = am_config_hparams(&c);
    int B = hp.batch, U = hp.mu * hp.batch;
    for (int k = 0; k < ITERS; k++, line = strchr(line, '\n') + 1) {
        am_tfile st, after, mine;
        snprintf(path, sizeof path, "%s/step_%06d.amg", trace, k + 1);
        ck_assert_msg(am_tfile_read(&st, path, "AMGD") == 0, "%s", am_error());
        const am_tentry *x = am_tfile_find(&st, "x"), *lab = am_tfile_find(&st, "labels"),
                        *img = am_tfile_find(&st, "images"), *stats = am_tfile_find(&st, "stats");
        ck_assert(x && lab && img && stats && x->shape[0] == B + 2 * U && x->shape[1] == 32 && x->shape[3] == 3);
        ck_assert(lab->n == (size_t)B && img->n == (size_t)U && stats->n == 6);
        char want[64];
        snprintf(want, sizeof want, "\"loss\": %.6f,", stats->data[0]);
        ck_assert_msg(strstr(line, want) && strstr(line, want) < strchr(line, '\n'), "step %d: %s not in %.80s", k + 1,
                      want, line);

        static am_trainer t;
        ck_assert(am_trainer_init(&t, "lite0", 3, 2, 7, &hp) == 0);
        t.model.dropout = t.model.drop_connect = 0.0f;
        snprintf(path, sizeof path, "%s/state_%06d.amck", trace, k);
        ck_assert_msg(am_checkpoint_load(&t, path, NULL, NULL) == 0, "%s", am_error());
        int labels[64], images[64];
        for (int j = 0; j < B; j++) labels[j] = (int)lab->data[j];
        for (int j = 0; j < U; j++) images[j] = (int)img->data[j];
        t.step_images = images;
        am_ssl_stats got = am_train_step(&t, x->data, labels, 32);
        ck_assert_msg(got.loss == stats->data[0] && got.mask_rate == stats->data[4], "step %d: loss %.9g vs %.9g", k + 1,
                      got.loss, stats->data[0]);
        snprintf(path, sizeof path, "%s/replay.amck", S.dir);
        ck_assert(am_checkpoint_save(&t, path, NULL, NULL) == 0);
        ck_assert(am_tfile_read(&mine, path, "AMCK") == 0);
        snprintf(path, sizeof path, "%s/state_%06d.amck", trace, k + 1);
        ck_assert(am_tfile_read(&after, path, "AMCK") == 0);
        diff = first_difference(&after, &mine);
        ck_assert_msg(!diff, "step %d replayed from the trace differs at %s", k + 1, diff);
        am_tfile_free(&mine);
        am_tfile_free(&after);
        am_tfile_free(&st);
        am_trainer_free(&t);
    }
    free(log);

    // A bad list of steps is refused, naming the option.
    run_config(&c, out);
    ck_assert(!am_config_set(&c, "trace", trace) && !am_config_set(&c, "trace_states", "1,x"));
    ck_assert_int_eq(am_run_open(&r, &c, -1, AM_F32), -1);
    ck_assert_msg(strstr(am_error(), "--trace: --trace-states '1,x'") != NULL, "%s", am_error());
}
END_TEST

// The step settings come from the configuration.
START_TEST(test_config_hparams) {
    am_config c;
    am_config_defaults(&c);
    const char *kv[][2] = {{"batch", "3"}, {"mu", "4"}, {"tau", "0.5"}, {"lambda_u", "2"}, {"T", "0.25"},
                           {"optimizer", "adamw"}, {"lr", "0.01"}, {"momentum", "0.8"}, {"nesterov", "0"},
                           {"wd", "0.001"}, {"schedule", "cosine"}, {"iters", "30"}, {"cycles", "3"},
                           {"ema", "0.9"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) ck_assert_int_eq(am_config_set(&c, kv[i][0], kv[i][1]), 0);
    am_train_hparams h = am_config_hparams(&c), d = am_train_defaults();
    ck_assert(h.batch == 3 && h.mu == 4 && h.ssl.tau == 0.5f && h.ssl.lambda_u == 2.0f && h.ssl.T == 0.25f);
    ck_assert(h.optimizer == AM_OPT_ADAMW && h.lr == 0.01f && h.momentum == 0.8f && h.nesterov == 0);
    ck_assert(h.wd == 0.001f && h.schedule == AM_LR_COSINE && h.total_steps == 90 && h.ema == 0.9f);
    ck_assert(h.adam_b1 == d.adam_b1 && h.adam_b2 == d.adam_b2 && h.adam_eps == d.adam_eps);
    am_config_defaults(&c);
    h = am_config_hparams(&c);
    ck_assert(h.optimizer == AM_OPT_SGD && h.schedule == AM_LR_CONSTANT && h.nesterov == 1 && h.total_steps == 200);
}
END_TEST

Suite *suite_loop(void) {
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_oracle_picks);
    tcase_add_test(tc, test_outputs);
    tcase_add_test(tc, test_resume);
    tcase_add_test(tc, test_resume_per_image_loss);
    tcase_add_test(tc, test_awkward_labels);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_trace);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_test(tc, test_config_hparams);
    suite_add_tcase(s, tc);
    return s;
}
