// am_bench's benchmarks (src/cli/bench_*.c; src/cli/am_bench.c dispatches):
// the shared helpers (src/cli/bench_util.c) and each benchmark's entry point
// (argv[1] is the benchmark's name; returns the exit status).
#pragma once

double bench_now(void);
// qsort comparison of doubles, for medians.
int bench_cmp_double(const void *a, const void *b);
// --device as given, else cuda where a GPU is present, else the CPU with a
// one-line notice. The CUDA ordinal, -1 for the CPU, -2 on error (printed).
int bench_pick_device(const char *arg);
// A new private directory under base ($TMPDIR or /tmp when NULL); NULL, with
// the reason printed, when it cannot be made. bench_tmp_remove removes it
// with everything in it. (bench_data.c)
char *bench_tmp_make(const char *base);
void bench_tmp_remove(char *dir);

int bench_model(int argc, char **argv);        // bench_model.c
int bench_infer_train(int argc, char **argv);  // bench_run.c
int bench_loss(int argc, char **argv);         // bench_run.c
int bench_dwconv(int argc, char **argv);       // bench_dwconv.c
int bench_loader(int argc, char **argv);       // bench_data.c
int bench_e2e(int argc, char **argv);          // bench_data.c
int bench_layers(int argc, char **argv);       // bench_layers.c
int bench_inputs(int argc, char **argv);       // bench_inputs.c
