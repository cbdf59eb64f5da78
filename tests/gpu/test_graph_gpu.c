// CUDA graphs falling back to eager execution, the switches that turn them
// off, and cuDNN's 2^31-element limit.
//
// A capture is made to fail with the emulator's AM_EMU_FAIL_CAPTURE (tests/emu:
// 1 fails cudaStreamEndCapture, instantiate cudaGraphInstantiate, at:K the
// K-th operation recorded, which invalidates the rest of the capture). On a
// GPU the variable does nothing: a probe capture of our own says whether
// captures fail, and the checks that need a failed one are skipped otherwise.
//   inference: am_gpu_forward_graph gives the eager logits bit for bit, the
//     model runs eagerly from then on with no error left behind, and a new
//     model captures once the variable is gone;
//   train step: the capture failing at step 2 gives the same three steps as
//     a trainer made with AM_GRAPH=0, all three eager (at:5 invalidates the
//     capture early in the forward: every later operation of the step fails
//     there, the memsets of kernels/bn_act.cu's batch norms included);
//   AM_GRAPH=0 turns off the model's and the trainer's graphs, AM_TRAIN_GRAPH=0
//     only the train step's;
//   past 2^31 elements am_gpu_input dies naming the limit and
//     am_cudnn_dwconv_forward returns -1, both before allocating anything.
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "am/error.h"
#include "am/trainer_gpu.h"
#include "am/gpu_dwconv.h"
#include "am/train.h"
#include "gpu_check.h"

#define GN 2    // inference batch
#define GS 32   // image side
#define GK 5    // classes of the inference model
#define TB 2    // trainer: labelled images per step
#define TMU 1   // unlabelled per labelled
#define TROWS (TB * (1 + 2 * TMU))
// Set in the child process of the oversized-input check (test_gpu run again
// with --group graph), which then runs that check's child side alone.
#define CHILD_ENV "AM_TEST_GRAPH_OVERSIZE_CHILD"
// Lite0 at 32 px holds 96 x 16 x 16 = 24576 elements per image in its
// largest activation: a batch of 2^17 needs tensors past 2^31.
#define OVER_N (1 << 17)

// Sets AM_EMU_FAIL_CAPTURE to mode; 1 when captures now fail: a probe
// capture of eight memsets on a stream of its own, ended and instantiated.
// The runtime's error is cleared after it.
static int force_capture_failure(const char *mode) {
    setenv("AM_EMU_FAIL_CAPTURE", mode, 1);
    cudaStream_t s;
    void *buf;
    AM_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    AM_CUDA(cudaMalloc(&buf, 256));
    int failed = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) != cudaSuccess;
    for (int i = 0; i < 8; i++) failed |= cudaMemsetAsync(buf, 0, 256, s) != cudaSuccess;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    failed |= cudaStreamEndCapture(s, &graph) != cudaSuccess;
    if (graph) {
        failed |= cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess;
        AM_CUDA(cudaGraphDestroy(graph));
    }
    if (exec) AM_CUDA(cudaGraphExecDestroy(exec));
    cudaGetLastError();
    AM_CUDA(cudaFree(buf));
    AM_CUDA(cudaStreamDestroy(s));
    return failed;
}

static void skipped(const char *what, const char *mode) {
    char why[96];
    snprintf(why, sizeof why, "AM_EMU_FAIL_CAPTURE=%s does not make captures fail here (not the emulator)", mode);
    check_skip(what, why);
}

static void model_init(am_model *m, am_gpu_model *g) {
    AM_CHECK(am_model_init(m, "lite0", 3, GK, 11) == 0, "model init");
    if (am_gpu_model_init(g, m, C.device, AM_F32)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
}

static void model_free(am_model *m, am_gpu_model *g) {
    am_gpu_model_free(g);
    am_model_free(m);
}

// The inference forward's graph failing as `mode` makes it.
static void inference_case(const char *mode) {
    am_model m;
    am_gpu_model g;
    model_init(&m, &g);
    size_t nx = (size_t)GN * GS * GS * 3, nz = (size_t)GN * GK;
    float *x = h_rand(nx, 0, 1, 0);
    d_copy(am_gpu_input(&g, GN, GS), x, 4 * nx);
    float *eager = d_get(am_gpu_forward(&g, 0, 0, 0), nz, 0);
    d_fill(g.acts.logits, 0xFF, 4 * nz);
    int forced = force_capture_failure(mode);
    float *z = am_gpu_forward_graph(&g);
    cudaError_t left = cudaGetLastError();
    unsetenv("AM_EMU_FAIL_CAPTURE");
    float *got = d_get(z, nz, 0);
    char name[96];
    snprintf(name, sizeof name, "inference graph failing (%s)", mode);
    if (!forced) {
        skipped(name, mode);
        free(x); free(eager); free(got);
        model_free(&m, &g);
        return;
    }
    snprintf(name, sizeof name, "inference graph failing (%s): logits = eager", mode);
    check(name, got, eager, nz, 0.0);
    check_pass("  the model runs eagerly: graphs 0, no graph", g.graphs == 0 && !g.graph,
               "the failed capture left the model's graphs on");
    check_pass("  no error left after the fallback", left == cudaSuccess, cudaGetErrorString(left));
    // A second eval (captures work again, but this model stays eager), then
    // a training pass: no error of the failed capture may reach them.
    am_gpu_eval(&g, got, x, GN, GS);
    check("  a second eval (eager) = eager", got, eager, nz, 0.0);
    check_pass("  still no graph after it", g.graphs == 0 && !g.graph, "the model captured again");
    float *dz = h_rand(nz, -1, 1, 0);
    float *DZ = d_put(dz, nz, 0);
    am_gpu_forward(&g, 1, 7, 1);
    am_gpu_zero_grad(&g);
    am_gpu_backward(&g, DZ);
    am_gpu_sync(&g.ctx);
    left = cudaGetLastError();
    check_pass("  a training pass after it runs cleanly", left == cudaSuccess, cudaGetErrorString(left));
    // A new model, the variable unset: it captures, and its graph gives the
    // eager logits (the same kernels).
    am_model m2;
    am_gpu_model g2;
    model_init(&m2, &g2);
    d_copy(am_gpu_input(&g2, GN, GS), x, 4 * nx);
    free(got);
    got = d_get(am_gpu_forward_graph(&g2), nz, 0);
    check_pass("  a new model captures again", g2.graphs == 1 && g2.graph, "no graph for the new model");
    check("  its graph's logits = eager", got, eager, nz, 0.0);
    model_free(&m2, &g2);
    cudaFree(DZ);
    free(x); free(eager); free(got); free(dz);
    model_free(&m, &g);
}

static am_train_hparams graph_hp(void) {
    am_train_hparams hp = am_train_defaults();
    hp.batch = TB;
    hp.mu = TMU;
    hp.ssl.tau = 0.0f;  // every unlabelled row is used
    hp.lr = 1e-4f;  // small steps: the gradients at TF init are large
    return hp;
}

// A Lite0 trainer (2 classes) on the device, with the graph switches of the
// environment as it is now.
static am_trainer *graph_trainer(void) {
    am_train_hparams hp = graph_hp();
    am_trainer *t = AM_CALLOC(sizeof *t);
    if (am_trainer_init(t, "lite0", 3, 2, 21, &hp)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    if (am_trainer_to_gpu(t, C.device, AM_F32)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    return t;
}

static void trainer_free(am_trainer *t) {
    am_trainer_free(t);
    free(t);
}

// Three batches and their labels, the same for every trainer.
typedef struct {
    float *x[3];
    int y[TB];
} batches;

static batches make_batches(void) {
    batches b;
    for (int k = 0; k < 3; k++) b.x[k] = h_rand((size_t)TROWS * GS * GS * 3, -1, 1, 0);
    for (int i = 0; i < TB; i++) b.y[i] = i % 2;
    return b;
}

static void free_batches(batches *b) {
    for (int k = 0; k < 3; k++) free(b->x[k]);
}

// One family of two downloaded trainers: equal.
static void same_family(const char *what, const float *got, const float *ref, size_t n) {
    char name[96];
    snprintf(name, sizeof name, "  %s", what);
    check(name, got, ref, n, 0.0);
}

// The train step's graph failing at step 2 as `mode` makes it, against a
// trainer that never captures (AM_GRAPH=0).
static void train_case(const char *mode, const batches *b) {
    setenv("AM_GRAPH", "0", 1);
    am_trainer *ref = graph_trainer();
    unsetenv("AM_GRAPH");
    am_trainer *t = graph_trainer();
    float lr[12], lt[12];
    int forced = 0;
    for (int k = 0; k < 3; k++) {
        am_ssl_stats sr = am_train_step(ref, b->x[k], b->y, GS);
        if (k == 1) forced = force_capture_failure(mode);
        am_ssl_stats st = am_train_step(t, b->x[k], b->y, GS);
        unsetenv("AM_EMU_FAIL_CAPTURE");
        float r[4] = {sr.loss, sr.loss_x, sr.loss_u, sr.mask_rate};
        float s[4] = {st.loss, st.loss_x, st.loss_u, st.mask_rate};
        memcpy(lr + 4 * k, r, sizeof r);
        memcpy(lt + 4 * k, s, sizeof s);
    }
    cudaError_t left = cudaGetLastError();
    char name[96];
    snprintf(name, sizeof name, "train-step graph failing at step 2 (%s)", mode);
    if (!forced) {
        skipped(name, mode);
    } else {
        snprintf(name, sizeof name, "train-step graph failing at step 2 (%s): 3 steps' losses = AM_GRAPH=0", mode);
        check(name, lt, lr, 12, 0.0);
        int finite = 1;
        for (int i = 0; i < 12; i++) finite &= isfinite(lr[i]);
        check_pass("  the AM_GRAPH=0 run's losses are finite", finite,
                   "NaN or Inf: the comparisons of the two runs could pass on NaN = NaN");
        am_trainer_download(ref);
        am_trainer_download(t);
        size_t n = t->model.nparams, ns = t->model.nstats;
        same_family("parameters", t->model.params, ref->model.params, n);
        same_family("BN statistics", t->model.stats, ref->model.stats, ns);
        same_family("EMA parameters", t->ema.params, ref->ema.params, n);
        same_family("EMA statistics", t->ema.stats, ref->ema.stats, ns);
        same_family("momentum", t->v, ref->v, n);
        const am_gpu_trainer *g = t->gpu;
        char detail[128];
        snprintf(detail, sizeof detail, "graphs %d, graph %s, %ld eager steps", g->graphs, g->graph ? "set" : "NULL",
                 g->eager_steps);
        check_pass("  the trainer steps eagerly: graphs 0, no graph, 3 eager steps",
                   g->graphs == 0 && !g->graph && g->eager_steps == 3, detail);
        check_pass("  no error left after the fallback", left == cudaSuccess, cudaGetErrorString(left));
    }
    trainer_free(ref);
    trainer_free(t);
}

// Two steps and a scoring of the first batch's images.
static void two_steps_and_score(am_trainer *t, const batches *b) {
    for (int k = 0; k < 2; k++) am_train_step(t, b->x[k], b->y, GS);
    am_trainer_score(t, b->x[0], GN, GS);
}

static void graph_state(char *s, size_t n, const am_trainer *t) {
    const am_gpu_trainer *g = t->gpu;
    snprintf(s, n, "step graphs %d graph %s eager steps %ld; live graphs %d; EMA graphs %d graph %s", g->graphs,
             g->graph ? "set" : "NULL", g->eager_steps, g->live.graphs, g->ema.graphs, g->ema.graph ? "set" : "NULL");
}

// AM_GRAPH=0 and AM_TRAIN_GRAPH=0, and by default both graphs made.
static void switches_case(const batches *b) {
    char detail[192];
    setenv("AM_GRAPH", "0", 1);
    am_model m;
    am_gpu_model g;
    model_init(&m, &g);
    d_copy(am_gpu_input(&g, GN, GS), b->x[0], sizeof(float) * GN * GS * GS * 3);
    am_gpu_forward_graph(&g);
    am_gpu_sync(&g.ctx);
    check_pass("AM_GRAPH=0: a model's graphs 0, no graph after am_gpu_forward_graph", g.graphs == 0 && !g.graph,
               "the model captured");
    model_free(&m, &g);
    am_trainer *t = graph_trainer();
    two_steps_and_score(t, b);
    const am_gpu_trainer *gt = t->gpu;
    graph_state(detail, sizeof detail, t);
    check_pass("AM_GRAPH=0: a trainer's step and scoring graphs off",
               gt->graphs == 0 && !gt->graph && gt->eager_steps == 2 && gt->live.graphs == 0 && gt->ema.graphs == 0 &&
                   !gt->ema.graph, detail);
    trainer_free(t);
    unsetenv("AM_GRAPH");
    setenv("AM_TRAIN_GRAPH", "0", 1);
    t = graph_trainer();
    two_steps_and_score(t, b);
    gt = t->gpu;
    graph_state(detail, sizeof detail, t);
    check_pass("AM_TRAIN_GRAPH=0: the step's graph off, scoring's on",
               gt->graphs == 0 && !gt->graph && gt->eager_steps == 2 && gt->live.graphs == 1 && gt->ema.graphs == 1 &&
                   gt->ema.graph, detail);
    trainer_free(t);
    unsetenv("AM_TRAIN_GRAPH");
    t = graph_trainer();
    two_steps_and_score(t, b);
    gt = t->gpu;
    graph_state(detail, sizeof detail, t);
    check_pass("neither set: the second step captured, scoring too",
               gt->graphs == 1 && gt->graph && gt->eager_steps == 1 && gt->live.graphs == 1 && gt->ema.graph, detail);
    trainer_free(t);
}

static size_t free_bytes(void) {
    size_t f, total;
    AM_CUDA(cudaMemGetInfo(&f, &total));
    return f;
}

static void print_free_after(void) {
    printf("device memory free after: %zu\n", free_bytes());
    fflush(stdout);
}

// The child's side: an oversized batch for am_gpu_input, which must exit.
// The free device memory is printed before the call and at exit.
_Noreturn static void oversize_child(void) {
    am_model m;
    am_gpu_model g;
    model_init(&m, &g);
    printf("device memory free before: %zu\n", free_bytes());
    fflush(stdout);
    atexit(print_free_after);
    am_gpu_input(&g, OVER_N, GS);
    printf("am_gpu_input returned\n");
    exit(3);
}

// The value after `key` in the child's output, or 0 where it is missing.
static size_t printed(const char *out, const char *key) {
    const char *p = strstr(out, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

// am_gpu_input past 2^31 elements, in a child: this program run again (a
// forked child cannot use its parent's CUDA context).
static void oversize_input_case(void) {
    int fds[2];
    AM_CHECK(pipe(fds) == 0, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    AM_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        setenv(CHILD_ENV, "1", 1);
        execl("/proc/self/exe", "test_gpu", "--group", "graph", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char out[16384];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof out - 1 && (r = read(fds[0], out + len, sizeof out - 1 - len)) > 0) len += (size_t)r;
    out[len] = 0;
    close(fds[0]);
    int status;
    AM_CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const char *fatal = strstr(out, "am: fatal");
    char detail[640];
    snprintf(detail, sizeof detail, "exit status %d, output: %.560s", code, fatal ? fatal : out);
    char name[96];
    snprintf(name, sizeof name, "am_gpu_input N%d S%d (past 2^31): exits 1 naming 2^31", OVER_N, GS);
    check_pass(name, code == 1 && fatal && strstr(fatal, "2^31"), detail);
    size_t before = printed(out, "device memory free before: "), after = printed(out, "device memory free after: ");
    snprintf(detail, sizeof detail, "free device memory %zu before, %zu at exit", before, after);
    check_pass("  before allocating anything", before && before == after, detail);
}

// am_cudnn_dwconv_forward on x (2048,256,256,16): 2^31 elements.
static void oversize_dwconv_case(void) {
    size_t before = free_bytes();
    int rc = am_cudnn_dwconv_forward(&C, NULL, NULL, NULL, 2048, 256, 256, 16, 3, 1, AM_F32);
    size_t after = free_bytes();
    check_pass("am_cudnn_dwconv_forward of 2^31 elements: -1 naming 2^31", rc == -1 && strstr(am_error(), "2^31"),
               rc == -1 ? am_error() : "it returned 0");
    char detail[128];
    snprintf(detail, sizeof detail, "free device memory %zu before, %zu after", before, after);
    check_pass("  before allocating anything", before == after, detail);
    cudaError_t left = cudaGetLastError();
    check_pass("  no error left", left == cudaSuccess, cudaGetErrorString(left));
}

void test_graph_gpu(void) {
    if (getenv(CHILD_ENV)) oversize_child();
    inference_case("1");
    inference_case("instantiate");
    inference_case("at:5");
    batches b = make_batches();
    train_case("1", &b);
    train_case("at:5", &b);
    switches_case(&b);
    free_batches(&b);
    oversize_input_case();
    oversize_dwconv_case();
}
