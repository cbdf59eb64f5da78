// am_infer: a trained model scores an archive of images (am/infer.h), or
// `am_infer merge` joins the shards of one run. This file is the argument
// handling; the run is src/infer/ (infer.c, sources.c, journal.c, merge.c).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/gpu.h"
#include "am/infer.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: am_infer --model MODEL.amw --images SRC [SRC...] --out DIR [options]\n"
        "       am_infer merge --out DIR SHARD_DIR [SHARD_DIR...]\n"
        "Scores every image of the sources with a trained model (am_train's model_ema.amw):\n"
        "the anomaly probability, exactly as am_train scores its pool (the model file carries\n"
        "the image size and channels). Streams: memory does not grow with the number of images.\n"
        "Run the same command again after a crash, kill -9 or a full disk: it continues where\n"
        "it stopped, and scores.csv ends with every image exactly once.\n\n"
        "Sources (mixed freely, scored in the order given):\n"
        "  DIR                    its .png/.jpg/.jpeg files, sorted by path (--recursive: subfolders)\n"
        "  LIST.txt               one path per line, in order ('-': standard input)\n"
        "  SHARD.tar[.gz]         its members in archive order (any compression libarchive reads)\n"
        "  FILE.h5                the Python AnomalyMatch layout: `images` (encoded PNG/JPEG bytes), `filenames`\n\n"
        "Options:\n"
        "  --out DIR              output folder (required)\n"
        "  --recursive            include subdirectories of DIR sources\n"
        "  --shard I/N            score shard I of N (0-based); default $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\n"
        "                         when set, else 0/1. Shards are contiguous, balanced stretches of the sources;\n"
        "                         `am_infer merge` joins their folders into the single run's result\n"
        "  --top K                top candidates kept (default 100)\n"
        "  --exclude CSV          leave out the images named in this labels CSV (by basename)\n"
        "  --batch N              images a batch, 1..1024 (default 64)\n"
        "  --threads N            model threads (default 0: all cores)\n"
        "  --loader-threads N     decoding threads (default 1)\n"
        "  --device D             auto, cpu, cuda, cuda:N (default auto)\n"
        "  --precision P          auto (bf16 on cuda), fp32, bf16\n"
        "  --sync-seconds S       fsync the outputs and journal at most every S seconds (default 1; 0: every batch)\n"
        "  --size S, --channels C only for a model file without its preprocessing; must match otherwise\n"
        "  --stretch NAME, --fits-ext EXT   checked against the model's (its preprocessing is applied: the\n"
        "                      stretch, FITS HDUs and band combination it was trained with)\n\n"
        "Output folder:\n"
        "  scores.csv             Filename,Score of every scored image, in source order\n"
        "  top_candidates.csv     Filename,Score,Source of the top K, highest first; top_candidates.png: a contact sheet\n"
        "  skipped.csv            path,reason of every image that could not be read\n"
        "  summary.json           counts, images/s, wall time, model checksum, shard\n"
        "  manifest.txt, journal.bin  what the run is, and how far it got (for resuming)\n");
}

static int die(void) {
    fprintf(stderr, "am_infer: %s\n", am_error());
    return 1;
}

static int parse_int(const char *opt, const char *v, long lo, long hi, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return am_seterr("%s %s: give a whole number in %ld..%ld", opt, v, lo, hi);
    *out = (int)x;
    return 0;
}

static int parse_shard(const char *v, int *i, int *n) {
    char tail;
    if (sscanf(v, "%d/%d%c", i, n, &tail) != 2 || *n < 1 || *i < 0 || *i >= *n)
        return am_seterr("--shard %s: give I/N with 0 <= I < N (e.g. 3/100)", v);
    return 0;
}

static int merge_main(int argc, char **argv) {
    const char *out = NULL;
    char **dirs = malloc(sizeof(char *) * (size_t)argc);
    int n = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strncmp(argv[i], "--", 2)) { free(dirs); am_seterr("merge: unknown option '%s'", argv[i]); return die(); }
        else dirs[n++] = argv[i];
    }
    int rc = !out ? am_seterr("merge: --out DIR is required") : am_infer_merge(out, dirs, n);
    free(dirs);
    return rc ? die() : 0;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
    if (argc < 2) { usage(stderr); return 2; }
    // A file-size limit makes writes fail (EFBIG) like a full disk, instead of killing.
    signal(SIGXFSZ, SIG_IGN);
    if (!strcmp(argv[1], "merge")) return merge_main(argc, argv);
    am_infer_opts o = am_infer_defaults();
    const char *device = "auto", *precision = "auto";
    char **sources = malloc(sizeof(char *) * (size_t)argc);
    o.sources = sources;
    int rc = 0, shard_given = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--recursive")) { o.recursive = 1; continue; }
        if (!strcmp(a, "--images")) {
            while (i + 1 < argc && (strncmp(argv[i + 1], "--", 2) || !argv[i + 1][2])) sources[o.nsources++] = argv[++i];
            if (!o.nsources) rc = am_seterr("--images needs at least one source");
            continue;
        }
        if (strncmp(a, "--", 2)) { rc = am_seterr("unexpected argument '%s' (options start with --)", a); break; }
        if (!v) { rc = am_seterr("option '%s' needs a value", a); break; }
        i++;
        if (!strcmp(a, "--model")) o.model = v;
        else if (!strcmp(a, "--out")) o.out = v;
        else if (!strcmp(a, "--shard")) {
            rc = parse_shard(v, &o.shard, &o.nshards);
            shard_given = 1;
        }
        else if (!strcmp(a, "--top")) rc = parse_int(a, v, 0, 1000000, &o.top);
        else if (!strcmp(a, "--exclude")) o.exclude = v;
        else if (!strcmp(a, "--batch")) rc = parse_int(a, v, 1, 1024, &o.batch);
        else if (!strcmp(a, "--threads")) rc = parse_int(a, v, 0, 4096, &o.threads);
        else if (!strcmp(a, "--loader-threads")) rc = parse_int(a, v, 1, 4096, &o.loader_threads);
        else if (!strcmp(a, "--size")) rc = parse_int(a, v, 16, 1024, &o.size);
        else if (!strcmp(a, "--channels")) rc = parse_int(a, v, 1, 16, &o.channels);
        else if (!strcmp(a, "--stretch")) o.stretch = v;
        else if (!strcmp(a, "--fits-ext")) o.fits_ext = v;
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--precision")) precision = v;
        else if (!strcmp(a, "--sync-seconds")) {
            char *end;
            o.sync_seconds = strtod(v, &end);
            if (*end || o.sync_seconds < 0) rc = am_seterr("--sync-seconds %s: give seconds >= 0", v);
        } else rc = am_seterr("unknown option '%s' (see am_infer --help)", a);
    }
    // A Slurm array task's shard, unless --shard says (a task resubmitted
    // alone sees a count of 1).
    const char *id = getenv("SLURM_ARRAY_TASK_ID"), *count = getenv("SLURM_ARRAY_TASK_COUNT");
    if (!rc && !shard_given && id && count) {
        char v[64];
        snprintf(v, sizeof v, "%s/%s", id, count);
        rc = parse_shard(v, &o.shard, &o.nshards);
    }
    if (!rc && !o.model) rc = am_seterr("--model is required (an am_train run's model_ema.amw)");
    if (!rc && !o.nsources) rc = am_seterr("--images is required (directories, file lists, .tar or .h5 files)");
    if (!rc && !o.out) rc = am_seterr("--out is required (the output folder)");
    if (!rc && (am_device_pick(device, "am_infer", &o.device) || am_precision_pick(precision, o.device, &o.dt))) rc = -1;
    if (!rc) rc = am_infer_run(&o);
    free(sources);
    return rc ? die() : 0;
}
