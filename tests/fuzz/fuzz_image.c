// libFuzzer harness: image decoding (am_image_read, which picks the decoder by
// content) at 1 and 3 channels, then the Pillow-exact resize of what decoded;
// and the same bytes from memory (am_image_load_memory: a gray file kept gray
// through the resize, then replicated), which must agree with the file path.
// The input goes to a per-process temporary file (/dev/shm or /tmp): the decoders read paths.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/image.h"
#include "fuzz_file.h"


int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init("image");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file_write(data, size);
    size_t pixels = 0;  // of the largest image decoded
    for (int channels = 1; channels <= 3; channels += 2) {
        int w = 0, h = 0;
        uint8_t *px = am_image_read(path, channels, &w, &h);
        if (!px) continue;
        if (w < 1 || h < 1) abort();  // a decoded image always has pixels
        if ((size_t)w * h > pixels) pixels = (size_t)w * h;
        // Touch the last pixel: the buffer must hold h*w*channels bytes.
        volatile uint8_t last = px[(size_t)w * h * channels - 1];
        (void)last;
        // Resize up to a megapixel: a tiny arithmetic-coded JPEG can decode to
        // 20 megapixels of grey, whose resize takes ~0.1 s natively but over
        // 10 s with the fuzzer's instrumentation (a timeout, not a bug).
        if ((size_t)w * h <= ((size_t)1 << 20)) {
            uint8_t small[8 * 5 * 3], up[3 * 11 * 3];
            am_resize_bilinear(small, 8, 5, px, w, h, channels);
            am_resize_bilinear(up, 3, 11, px, w, h, channels);
        }
        free(px);
    }
    // From memory, as tar members and HDF5 elements are read, against the
    // same bytes from the file (up to a megapixel, as above).
    for (int channels = 1; channels <= 3 && pixels <= ((size_t)1 << 20); channels += 2) {
        uint8_t a[7 * 7 * 3], b[7 * 7 * 3];
        int ra = am_image_load_memory(a, data, size, "fuzz input", 7, channels);
        int rb = am_image_load(b, path, 7, channels);
        if (ra != rb || (!ra && memcmp(a, b, (size_t)7 * 7 * channels))) abort();
    }
    return 0;
}
