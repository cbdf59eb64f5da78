// libFuzzer harness: FITS files through cfitsio (am_fits_read) and the
// whole preprocessing after it (am_input_load: the float resize, the band
// combination, every stretch), from memory and from a file (fuzz_file.h),
// which must agree: the same result and, on success, the same pixels and
// bytes. Checks the contract: a read image has w, h >= 1, 1..16 planes, a
// sample type of the four and h * w * planes readable floats; a failure
// names the file. The HDU choice and the stretch come from the input's last
// byte, so the corpus covers named, numbered and listed HDUs.
//
// Tile-compressed HDUs are left out: cfitsio 4.2's own decompressors
// (fits_rdecomp and kin) crash on hostile bytes within seconds of fuzzing;
// those bugs are the library's (fixed upstream since), as libhdf5's are in
// fuzz_h5.c, and mutating them would find only them. An input holding a
// ZIMAGE or ZCMPTYPE keyword is not read. The tile-compressed reader is
// tested on valid files (tests/test_inputs.c).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/fits.h"
#include "am/inputs.h"
#include "fuzz_file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init("fits");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *exts[] = {"", "0", "1", "SCI", "1,2", "G,R"};
    if (memmem(data, size, "ZIMAGE", 6) || memmem(data, size, "ZCMPTYPE", 8)) return 0;
    unsigned sel = size ? data[size - 1] : 0;
    const char *ext = exts[sel % 6];
    const char *path = fuzz_file_write(data, size);
    float *pa = NULL, *pb = NULL;
    int w[2], h[2], p[2];
    am_sample_type t[2];
    int ra = am_fits_read("fuzz.fits", data, size, ext, &pa, &w[0], &h[0], &p[0], &t[0]);
    if (ra && (ra != -1 || pa || !strstr(am_error(), "fuzz.fits"))) abort();
    int rb = am_fits_read(path, NULL, 0, ext, &pb, &w[1], &h[1], &p[1], &t[1]);
    if (ra != rb) abort();
    if (!ra) {
        if (w[0] < 1 || h[0] < 1 || p[0] < 1 || p[0] > AM_FITS_MAX_PLANES || t[0] > AM_SAMPLE_FLOAT) abort();
        size_t n = (size_t)w[0] * h[0] * p[0];
        if (w[0] != w[1] || h[0] != h[1] || p[0] != p[1] || t[0] != t[1] || memcmp(pa, pb, sizeof(float) * n))
            abort();
        volatile float last = pa[n - 1];
        (void)last;
    }
    free(pa);
    free(pb);
    // The whole path to the model's image, up to a megapixel (larger images
    // take seconds under the fuzzer's instrumentation: a timeout, not a bug).
    if (!ra && (size_t)w[0] * h[0] <= ((size_t)1 << 20)) {
        am_preprocess pre;
        am_preprocess_defaults(&pre, 16 + (int)(sel % 3) * 8, sel & 8 ? 3 : 1);
        pre.stretch.kind = (int)(sel / 6) % AM_STRETCH_COUNT;
        snprintf(pre.fits_ext, sizeof pre.fits_ext, "%s", ext);
        size_t n = (size_t)pre.size * pre.size * pre.channels;
        uint8_t *a = malloc(n), *b = malloc(n);
        int la = am_input_load_memory(a, data, size, "fuzz.fits", &pre);
        int lb = am_input_load(b, path, &pre);
        if (la != lb || (!la && memcmp(a, b, n))) abort();
        free(a);
        free(b);
    }
    return 0;
}
