// am_infer: a trained model scores an archive of images, streaming, with
// exactly-once resume and shards (am/sources.h) that merge into one result.
//
// The output folder of a run:
//   manifest.txt        what the run is (model checksum, preprocessing, the
//                       sources' identity, the shard, top K, exclusions):
//                       another command on the folder is refused
//   scores.csv          Filename,Score: one row per scored image, in source
//                       order, appended as batches complete
//   skipped.csv         path,reason: every image that could not be scored
//   journal.bin         the completed batches (am/journal.h)
//   top_candidates.csv  Filename,Score,Source of the top K, highest first
//                       (ties: source order); Source locates the image (a
//                       path, or ARCHIVE#K for a tar member or HDF5 element)
//   top_candidates.png  a contact sheet of the first 64 of them
//   summary.json        counts, images/s, wall time, model checksum, shard
// The score is the EMA model's anomaly probability softmax(z)[1], exactly as
// am_train scores its pool (the same decode, resize and input), printed as
// %.9g (a float32 exactly).
#pragma once

typedef struct {
    const char *model;      // the weight file (model_ema.amw), carrying its preprocessing
    char *const *sources;
    int nsources, recursive;
    const char *out;
    int shard, nshards;     // shard i of N (0 <= i < N)
    int size, channels;     // 0: the model's; else must equal the model's
    const char *stretch;    // NULL: the model's; else must equal the model's
    const char *fits_ext;   // the same
    int threads;            // model threads (0: all cores)
    int loader_threads;     // decoding threads
    int batch;              // images a batch, 1..1024
    int top;                // K of the top candidates
    const char *exclude;    // a labels CSV whose images are left out (by basename), or NULL
    int device, dt;         // CUDA device (-1: the CPU) and precision (AM_F32, AM_BF16)
    double sync_seconds;    // the outputs and journal are fsynced at most this often (0: every batch)
} am_infer_opts;

am_infer_opts am_infer_defaults(void);

// Scores the shard, continuing a run in o->out where it stopped. 0 when the
// shard is complete (its outputs written), -1 (am_error(): what failed,
// which file, what to do; the journal and outputs stay consistent, and the
// same command continues).
int am_infer_run(const am_infer_opts *o);

// Merges the complete shards dirs[0..n) of one run (the same model, sources
// and shard count; shards 0..N-1 each exactly once) into out: scores.csv and
// skipped.csv in global order, top K, the contact sheet and summary.json.
// -1 (am_error()) naming the shard that is missing, incomplete or foreign.
int am_infer_merge(const char *out, char *const *dirs, int n);
