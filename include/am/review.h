// am_review: the expert in the loop. One run folder of am_train served to a
// local web page: its images, their scores and labels, a remembered list,
// and retraining in a child process. The page (src/review/page/) talks to
// the JSON API below through the server (src/review/server.c); the API
// itself is plain C (src/review/review.c), tested without a socket too.
//
// A run's labels: labels_base.csv (the labels am_train left when the run was
// first reviewed) with labels.log replayed over it (include/am/labelbook.h);
// labeled_data.csv is always their result. A retrain gives am_train a
// snapshot of them (review_labels.csv, --replace-labels) and resumes the
// run's checkpoint for one more cycle; the page stays usable meanwhile.
//
// API (every reply JSON unless said; images by index i, never by path):
//   GET  /api/run                 run facts, label counts, generation, cycle
//   GET  /api/items?sort=&filter=&offset=&limit=&seed=
//        sort: anomalous nominal uncertain mean median random
//        filter: all none anomaly normal unsure labelled remembered
//   POST /api/label?i=&label=anomaly|normal|unsure    POST /api/undo
//   GET  /api/image?i=[&thumb=1][&stretch=NAME]       image/png
//   GET  /api/hist?bins=          scored images per bin and label state
//   GET  /api/curves              ROC and PR against the truth (404 without)
//   GET  /api/remember            POST /api/remember?i=&on=0|1
//   GET  /api/remember.csv        text/csv download
//   GET  /api/retrain             POST /api/retrain (202, or 409 when running)
#pragma once
#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#include "am/config.h"
#include "am/dataset.h"
#include "am/inputs.h"
#include "am/labelbook.h"

enum { AM_RETRAIN_IDLE, AM_RETRAIN_RUNNING, AM_RETRAIN_DONE, AM_RETRAIN_FAILED };
#define AM_RETRAIN_LOG 40  // output lines kept for the page

typedef struct {
    int state, percent, exit_code;
    pid_t pid;
    char line[512];                      // the last progress line
    char log[AM_RETRAIN_LOG][256];       // the last lines, a ring
    int nlog;
    pthread_t thread;
    int joinable;
} am_retrain;

typedef struct {
    char dir[4096], train_exe[4096];  // the run folder; the am_train a retrain runs
    am_config cfg;                    // RUN/config.txt
    am_preprocess pre;                // the run's preprocessing (images shown through it)
    int fits;                         // the images are FITS or TIFF: the page offers stretches
    am_dataset d;
    am_labelbook book;
    float *score;                     // per image: the last scoring's, NaN when it has none
    int nscored;
    int *truth, has_truth;            // per image: AM_ANOMALY, AM_NORMAL or AM_UNLABELLED
    unsigned char *remember;
    int generation, cycle;            // retrains finished since opening; cycles the checkpoint holds
    pthread_mutex_t lock;             // score, remember, generation, cycle, retrain (the book has its own)
    am_retrain retrain;
} am_review;

// Opens run folder dir (its config.txt, images, scores.csv, labels) with
// truth (a CSV, "" for the run's own --truth if it had one). train_exe is
// the am_train a retrain runs. 0, or -1 (am_error() naming the file and the fix).
int am_review_open(am_review *rv, const char *dir, const char *truth, const char *train_exe);
// Waits for a retrain still running, then frees everything.
void am_review_close(am_review *rv);

// One API reply: a status, its content type, a malloc'd body and an optional
// extra header line ("Name: value").
typedef struct {
    int status;
    const char *type;
    char *body;
    size_t len;
    char header[160];
} am_reply;

// Looks a query argument up ("" or NULL when absent).
typedef const char *(*am_arg_fn)(void *ctx, const char *key);

// Answers one API request: method "GET" or "POST", path under /api/ (the
// query string apart, read through arg). Always fills out.
void am_review_api(am_review *rv, const char *method, const char *path, am_arg_fn arg, void *ctx, am_reply *out);

// Starts a retrain (src/review/retrain.c): 0, or -1 (am_error()) when one is
// running or the child cannot start. The child's output goes to the page
// and RUN/retrain.log; when it succeeds the scores are reloaded and the
// generation goes up.
int am_retrain_start(am_review *rv);
// Waits for a running retrain to end (am_review_close; tests).
void am_retrain_wait(am_review *rv);
// Asks a running retrain's child to stop (SIGTERM; its checkpoints are atomic).
void am_retrain_stop(am_review *rv);
// Reloads RUN/scores.csv into rv->score (the lock held by the caller). 0, or -1 (am_error()).
int am_review_load_scores(am_review *rv);

// The HTTP server (src/review/server.c; server_none.c without libmicrohttpd).
typedef struct am_server am_server;
typedef struct {
    const char *listen;    // address to bind ("127.0.0.1" unless told)
    int port;              // 0: a free one
    const char *token;     // NULL: a random one
    size_t max_body;       // bytes a request body may have (4096)
    double rate, burst;    // requests per second, and the bucket's size
} am_server_opts;

void am_server_defaults(am_server_opts *o);
// Starts serving rv: NULL (am_error()) when the address cannot be bound.
am_server *am_server_start(am_review *rv, const am_server_opts *o);
int am_server_port(const am_server *s);
const char *am_server_token(const am_server *s);
void am_server_stop(am_server *s);
