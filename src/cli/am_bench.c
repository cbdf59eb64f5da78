// am_bench: throughput of the engine, one benchmark per name (src/cli/bench_*.c).
// `model`: forward and forward+backward images/s of one architecture on the
// CPU. `infer`: eval forward img/s by batch size and precision on --device
// cpu or cuda (CUDA graphs on the GPU). `train`: the trainer's FixMatch step
// (B labelled + mu*B weak + mu*B strong views) per second, with the GPU
// memory it held. `loss`: the FixMatch loss alone. `dwconv`: every distinct
// depthwise convolution of an architecture, our kernels against cuDNN's
// grouped convolution, and the one the selector keeps. `loader`: the
// images/s of the loader that feeds scoring (decode, resize, float input).
// `e2e`: scoring a folder end to end, and whether the loader or the model
// bounds it. `layers`: the time of each op and block of a pass. `inputs`:
// the inputs module per core (FITS decode, resize, stretch), as
// bench/fits_vs_python.sh compares with fitsbolt and astropy.
#include <stdio.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: am_bench BENCHMARK [options]   (am_bench BENCHMARK --help)\n"
        "  model    CPU forward and forward+backward images/s of one architecture\n"
        "  infer    eval forward images/s by size, batch and precision (cpu or cuda)\n"
        "  train    the trainer's FixMatch step per second (cpu or cuda)\n"
        "  loss     the FixMatch consistency loss alone\n"
        "  dwconv   depthwise convolutions: our kernels against cuDNN (cuda)\n"
        "  loader   the scoring loader's images/s (decode, resize, float input)\n"
        "  e2e      scoring a folder end to end: loader or model bound\n"
        "  layers   the time of each op and block of a pass\n"
        "  inputs   FITS/TIFF/PNG decode + resize + stretch images/s per core (am_input_load)\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *b = argv[1];
    if (!strcmp(b, "model")) return bench_model(argc, argv);
    if (!strcmp(b, "infer") || !strcmp(b, "train")) return bench_infer_train(argc, argv);
    if (!strcmp(b, "loss")) return bench_loss(argc, argv);
    if (!strcmp(b, "dwconv")) return bench_dwconv(argc, argv);
    if (!strcmp(b, "loader")) return bench_loader(argc, argv);
    if (!strcmp(b, "e2e")) return bench_e2e(argc, argv);
    if (!strcmp(b, "layers")) return bench_layers(argc, argv);
    if (!strcmp(b, "inputs")) return bench_inputs(argc, argv);
    fprintf(stderr, "am_bench: unknown benchmark '%s'\n", b);
    usage(stderr);
    return 2;
}
