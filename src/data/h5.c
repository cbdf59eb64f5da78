// HDF5 files of images, encoded or dense (include/am/h5.h), through
// libhdf5's C API.
//
// Reading: items come from two blocks, one over `images` and one over
// `filenames`, each a window of consecutive elements read by one H5Dread
// with a hyperslab (for dense images, a hyperslab of whole images: (count,
// H, W[, C]) from (start, 0, 0[, 0]), in the file's type converted by HDF5
// to the native one of the same kind, then to float32 one item at a time).
// Variable-length elements are allocated by our own
// allocator (H5Pset_vlen_mem_manager), which records every allocation, so
// that a block is freed in one sweep, even after a failed read, and which
// refuses an element over the caller's max_bytes and a block over its byte
// budget: the read fails, and the block is read again shorter (the elements
// before the refused one), down to the one item, whose size is then known.
// HDF5's error stack is never printed (H5Eset_auto2 off, per thread): its
// innermost message becomes part of am_error().
#include "am/h5.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "am/error.h"
#include "am/image.h"
#include "am/inputs.h"

#define BLOCK 64                            // elements a sequential read takes at once
#define IMAGES_BUDGET ((size_t)64 << 20)    // bytes of image data a block may hold (dense: of pixels in memory)
#define NAMES_BUDGET ((size_t)4 << 20)      // bytes of filenames a block may hold
#define NAME_LIMIT ((size_t)64 << 10)       // a variable-length filename's longest
#define FIXED_NAME_LIMIT ((size_t)64 << 10) // a fixed-length filename's longest
#define WRITE_BATCH 4096                    // elements per H5Dwrite in am_h5_write

static const char *const LAYOUT =
    "an HDF5 file of images holds at its root 'images' and 'filenames' (1-D strings, one per image) in the "
    "AnomalyMatch layout ('images' 1-D variable-length uint8, each element a PNG or JPEG file's bytes), or dense "
    "'images' (N, H, W) or (N, H, W, C) of uint8, uint16, int16, float32 or float64, 'filenames' optional";
// The dense element types: the native memory type each is read as.
enum { PX_U8, PX_U16, PX_I16, PX_F32, PX_F64 };

// The allocations of one block's variable-length elements.
typedef struct {
    void **p;
    size_t n, cap;  // p[0..n): the allocations held
    size_t made;    // allocations made since the reset (kept when a failed read frees them)
    size_t total, budget, limit;
    size_t over_limit;  // the size of an element refused for exceeding limit (0: none)
    int refused;        // an allocation was refused (limit or budget)
} tracker;

// A window [start, start + count) of one dataset's elements, in memory.
typedef struct {
    hid_t dset, fspace, mtype, dxpl;
    size_t esize;  // bytes of one element in memory
    int vlen;      // elements are allocated by the tracker
    int rank;      // of the dataset: 1, or a dense one's 3 or 4
    hsize_t dims[4];  // its dimensions (dims[1..rank): one element's shape)
    uint64_t start, count, next;  // next: the count a sequential load tries
    uint64_t most;  // the most elements a window holds
    size_t budget;
    unsigned char *elems;
    size_t elems_cap;  // elements
    tracker tr;
    char cause[256];  // why the last read failed
} block;

struct am_h5 {
    hid_t file;
    uint64_t n, last;
    char *path;
    block images, names;
    int has_names;   // `filenames` is there (a dense file may lack it)
    int dense;       // `images` is a dense array: its images are w x h x bands of px (PX_*), sample type type
    int w, h, bands, px;
    am_sample_type type;
};

static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static herr_t innermost(unsigned k, const H5E_error2_t *e, void *data) {
    (void)k;
    if (e->desc && e->desc[0]) snprintf(data, 256, "%s", e->desc);
    return 0;
}

// The innermost message of HDF5's error stack into out[256] (call right
// after the failure: the next HDF5 call clears the stack).
static void hdf5_cause(char *out) {
    out[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost, out);
    if (!out[0]) snprintf(out, 256, "HDF5 error");
}

// ---- the tracking allocator --------------------------------------------------

static void *track_alloc(size_t size, void *info) {
    tracker *t = info;
    if (size > t->limit) {
        t->over_limit = size;
        t->refused = 1;
        return NULL;
    }
    if (size > t->budget - t->total) {
        t->refused = 1;
        return NULL;
    }
    void *p = malloc(size ? size : 1);
    if (!p) return NULL;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 2 * BLOCK;
        void **np = realloc(t->p, sizeof *np * t->cap);
        if (!np) am_fatalf(__FILE__, __LINE__, "out of memory reading an HDF5 file");
        t->p = np;
    }
    t->p[t->n++] = p;
    t->made++;
    t->total += size;
    return p;
}

static void track_free(void *mem, void *info) {
    tracker *t = info;
    for (size_t k = t->n; k-- > 0;)
        if (t->p[k] == mem) t->p[k] = NULL;
    free(mem);
}

// Frees the allocations held (after a failed read: the counts stay).
static void track_drop(tracker *t) {
    for (size_t k = 0; k < t->n; k++) free(t->p[k]);
    t->n = 0;
}

static void track_reset(tracker *t, size_t limit, size_t budget) {
    track_drop(t);
    t->made = 0;
    t->total = 0;
    t->limit = limit;
    t->budget = budget;
    t->over_limit = 0;
    t->refused = 0;
}

// ---- blocks ------------------------------------------------------------------

static void block_init(block *b) {
    memset(b, 0, sizeof *b);
    b->dset = b->fspace = b->mtype = b->dxpl = H5I_INVALID_HID;
    b->rank = 1;
    b->next = b->most = BLOCK;
}

static void block_free(block *b) {
    track_reset(&b->tr, 0, 0);
    free(b->tr.p);
    free(b->elems);
    if (b->dxpl >= 0) H5Pclose(b->dxpl);
    if (b->mtype >= 0) H5Tclose(b->mtype);
    if (b->fspace >= 0) H5Sclose(b->fspace);
    if (b->dset >= 0) H5Dclose(b->dset);
}

// Reads elements [start, start + cnt) into b->elems. 0, or -1 with b->cause.
static int read_range(block *b, uint64_t start, uint64_t cnt, size_t limit, size_t budget) {
    if (cnt > b->elems_cap) {
        free(b->elems);
        b->elems = AM_MALLOC(b->esize * cnt);
        b->elems_cap = cnt;
    }
    track_reset(&b->tr, limit, budget);
    hsize_t s[4] = {start, 0, 0, 0}, c[4] = {cnt, b->dims[1], b->dims[2], b->dims[3]};
    hid_t ms = H5Screate_simple(b->rank, c, NULL);
    herr_t r = ms < 0 ? -1 : H5Sselect_hyperslab(b->fspace, H5S_SELECT_SET, s, NULL, c, NULL);
    if (r >= 0) r = H5Dread(b->dset, b->mtype, ms, b->fspace, b->dxpl, b->elems);
    if (r < 0) {
        hdf5_cause(b->cause);
        track_drop(&b->tr);
    }
    if (ms >= 0) H5Sclose(ms);
    return r < 0 ? -1 : 0;
}

// Makes element i of n resident. seq: i follows the last item read, so a
// window of b->next elements is read; otherwise i alone. A refused element
// shortens the window to the elements before it, any other failure to i
// alone. Returns 0; 2 when element i is over limit (*want its size); -1
// (b->cause) when it cannot be read.
static int load(block *b, uint64_t i, uint64_t n, int seq, size_t limit, size_t *want) {
    if (b->count && i >= b->start && i - b->start < b->count) return 0;
    track_reset(&b->tr, limit, 0);
    b->count = 0;
    uint64_t cnt = seq ? b->next : 1;
    if (cnt > n - i) cnt = n - i;
    for (;;) {
        if (read_range(b, i, cnt, limit, cnt == 1 ? SIZE_MAX : b->budget) == 0) {
            b->start = i;
            b->count = cnt;
            // The next window: what the budget holds at this one's mean
            // size, at most twice this one (after a failure it grows back
            // by doubling, not at once over the bad element again).
            const size_t avg = b->tr.total / cnt;
            uint64_t next = avg ? b->budget / avg : b->most;
            if (next > 2 * cnt) next = 2 * cnt;
            b->next = next < 1 ? 1 : next > b->most ? b->most : next;
            return 0;
        }
        if (cnt == 1) {
            if (b->tr.over_limit) {
                *want = b->tr.over_limit;
                return 2;
            }
            return -1;
        }
        // Allocations are made in element order (HDF5 may walk backwards
        // through a buffer, but then cnt still shrinks: made < cnt).
        cnt = b->tr.refused && b->tr.made ? b->tr.made : 1;
    }
}

// ---- opening -----------------------------------------------------------------

// The transfer properties of b: our allocator, and a type-conversion buffer
// sized to a window (HDF5 zeroes its 1 MiB default on every H5Dread of
// variable-length data: as many bytes as the images themselves).
static int make_dxpl(block *b, size_t file_esize) {
    const size_t esize = file_esize > b->esize ? file_esize : b->esize;
    const size_t bytes = BLOCK * esize > ((size_t)16 << 10) ? BLOCK * esize : (size_t)16 << 10;
    b->dxpl = H5Pcreate(H5P_DATASET_XFER);
    return b->dxpl < 0 || H5Pset_vlen_mem_manager(b->dxpl, track_alloc, &b->tr, track_free, &b->tr) < 0 ||
                   H5Pset_buffer(b->dxpl, bytes, NULL, NULL) < 0
               ? -1
               : 0;
}

static void describe(hid_t t, char *out, size_t cap, int depth) {
    const size_t size = H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        snprintf(out, cap, "%s %zu-bit integers", H5Tget_sign(t) == H5T_SGN_NONE ? "unsigned" : "signed", 8 * size);
        break;
    case H5T_FLOAT: snprintf(out, cap, "%zu-bit floats", 8 * size); break;
    case H5T_STRING:
        if (H5Tis_variable_str(t) > 0) snprintf(out, cap, "variable-length strings");
        else snprintf(out, cap, "fixed-length strings of %zu bytes", size);
        break;
    case H5T_VLEN: {
        char base[128] = "an unknown type";
        hid_t s = H5Tget_super(t);
        if (s >= 0 && depth < 3) describe(s, base, sizeof base, depth + 1);
        if (s >= 0) H5Tclose(s);
        snprintf(out, cap, "variable-length sequences of %s", base);
        break;
    }
    case H5T_COMPOUND: snprintf(out, cap, "records (a compound type)"); break;
    case H5T_OPAQUE: snprintf(out, cap, "opaque elements of %zu bytes", size); break;
    case H5T_ARRAY: snprintf(out, cap, "arrays"); break;
    case H5T_ENUM: snprintf(out, cap, "enumerations"); break;
    case H5T_REFERENCE: snprintf(out, cap, "references"); break;
    default: snprintf(out, cap, "an unsupported type"); break;
    }
}

// The root's link names, comma-separated, into out (cut when long).
static void root_names(hid_t file, char *out, size_t cap) {
    H5G_info_t gi;
    out[0] = 0;
    if (H5Gget_info(file, &gi) < 0) return;
    size_t len = 0;
    for (hsize_t k = 0; k < gi.nlinks && k < 8 && len + 1 < cap; k++) {
        char nm[64];
        if (H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, k, nm, sizeof nm, H5P_DEFAULT) < 0) break;
        len += (size_t)snprintf(out + len, cap - len, "%s'%s'", k ? ", " : "", nm);
    }
    if (gi.nlinks > 8 && len + 1 < cap) snprintf(out + len, cap - len, ", ...");
}

// Opens dataset `name` of h->file into b: its rank (0 for a scalar or empty
// one) into *rank, its dimensions (up to 4) into dims.
static int open_dataset(am_h5 *h, block *b, const char *name, int *rank, hsize_t *dims) {
    char cause[256];
    htri_t ex = H5Lexists(h->file, name, H5P_DEFAULT);
    if (ex <= 0) {
        char names[256];
        root_names(h->file, names, sizeof names);
        return am_seterr("'%s' has no dataset '%s' (its root holds %s): %s", h->path, name,
                         names[0] ? names : "nothing", LAYOUT);
    }
    hid_t o = H5Oopen(h->file, name, H5P_DEFAULT);
    if (o < 0) {
        hdf5_cause(cause);
        return am_seterr("'%s': cannot open '%s' (%s): the file is damaged", h->path, name, cause);
    }
    if (H5Iget_type(o) != H5I_DATASET) {
        H5Oclose(o);
        return am_seterr("'%s': '%s' is not a dataset (a group or a named type): %s", h->path, name, LAYOUT);
    }
    b->dset = o;
    b->fspace = H5Dget_space(o);
    if (b->fspace < 0) {
        hdf5_cause(cause);
        return am_seterr("'%s': cannot read the shape of '%s' (%s): the file is damaged", h->path, name, cause);
    }
    const int nd = H5Sget_simple_extent_ndims(b->fspace);
    *rank = nd < 0 || H5Sget_simple_extent_type(b->fspace) != H5S_SIMPLE ? 0 : nd;
    hsize_t d[H5S_MAX_RANK];
    if (*rank && H5Sget_simple_extent_dims(b->fspace, d, NULL) < 0) {
        hdf5_cause(cause);
        return am_seterr("'%s': cannot read the shape of '%s' (%s): the file is damaged", h->path, name, cause);
    }
    for (int k = 0; k < 4; k++) dims[k] = k < *rank ? d[k] : 1;
    return 0;
}

static int not_1d(const am_h5 *h, const char *name, int rank) {
    return am_seterr("'%s': dataset '%s' has %d dimensions; it must be 1-D: %s", h->path, name, rank, LAYOUT);
}

// `images` as a dense array of type t, rank `rank`, dimensions dims.
static int open_dense(am_h5 *h, hid_t t, int rank, const hsize_t *dims) {
    block *b = &h->images;
    const H5T_class_t cls = H5Tget_class(t);
    const size_t size = H5Tget_size(t);
    const int sign = cls == H5T_INTEGER && H5Tget_sign(t) != H5T_SGN_NONE;
    static const struct { H5T_class_t cls; size_t size; int sign, px; am_sample_type type; } kinds[] = {
        {H5T_INTEGER, 1, 0, PX_U8, AM_SAMPLE_U8},    {H5T_INTEGER, 2, 0, PX_U16, AM_SAMPLE_U16},
        {H5T_INTEGER, 2, 1, PX_I16, AM_SAMPLE_INT},  {H5T_FLOAT, 4, 0, PX_F32, AM_SAMPLE_FLOAT},
        {H5T_FLOAT, 8, 0, PX_F64, AM_SAMPLE_FLOAT}};
    static const size_t bytes[] = {1, 2, 2, 4, 8};
    int k = 0;
    while (k < 5 && !(kinds[k].cls == cls && kinds[k].size == size && kinds[k].sign == sign)) k++;
    char what[160] = "an unreadable type";
    describe(t, what, sizeof what, 0);
    if (k == 5)
        return am_seterr("'%s': dataset 'images' holds %s; dense images must be uint8, uint16, int16, float32 or "
                         "float64 (convert the array, e.g. numpy's images.astype(np.float32)): %s", h->path, what,
                         LAYOUT);
    if (rank != 3 && rank != 4)
        return am_seterr("'%s': dataset 'images' holds %s in %d dimension%s; dense images must be (N, H, W) or (N, "
                         "H, W, C): %s", h->path, what, rank, rank == 1 ? "" : "s", LAYOUT);
    const unsigned long long H = dims[1], W = dims[2], C = dims[3];
    if (!H || !W || !C)
        return am_seterr("'%s': dataset 'images' is %llu x %llu x %llu x %llu (N, H, W, C): its images have no "
                         "pixels", h->path, (unsigned long long)dims[0], H, W, C);
    if (C > AM_MAX_BANDS)
        return am_seterr("'%s': dataset 'images' is (N, H, W, C) = (%llu, %llu, %llu, %llu): %llu bands, over %d (the "
                         "bands go last: transpose an (N, C, H, W) array to (N, H, W, C))", h->path,
                         (unsigned long long)dims[0], H, W, C, C, AM_MAX_BANDS);
    if (H > AM_IMAGE_MAX_PIXELS || W > AM_IMAGE_MAX_PIXELS || H * W * C > AM_IMAGE_MAX_PIXELS)
        return am_seterr("'%s': dataset 'images' holds images of %llu x %llu x %llu values, over %llu: not image "
                         "cutouts", h->path, H, W, C, (unsigned long long)AM_IMAGE_MAX_PIXELS);
    hid_t mt = kinds[k].px == PX_U8    ? H5T_NATIVE_UINT8
               : kinds[k].px == PX_U16 ? H5T_NATIVE_UINT16
               : kinds[k].px == PX_I16 ? H5T_NATIVE_INT16
               : kinds[k].px == PX_F32 ? H5T_NATIVE_FLOAT
                                       : H5T_NATIVE_DOUBLE;
    b->mtype = H5Tcopy(mt);
    b->dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (b->mtype < 0 || b->dxpl < 0) return am_seterr("'%s': cannot set up reading 'images': HDF5 failed", h->path);
    b->rank = rank;
    memcpy(b->dims, dims, sizeof b->dims);
    b->esize = (size_t)(H * W * C) * bytes[k];
    b->budget = IMAGES_BUDGET;
    b->most = IMAGES_BUDGET / b->esize;
    b->most = b->most < 1 ? 1 : b->most > BLOCK ? BLOCK : b->most;
    b->next = b->most;
    h->dense = 1;
    h->w = (int)W;
    h->h = (int)H;
    h->bands = (int)C;
    h->px = kinds[k].px;
    h->type = kinds[k].type;
    return 0;
}

// `images`: dense (a numeric array) or encoded (1-D variable-length bytes).
static int open_images(am_h5 *h, uint64_t *len) {
    block *b = &h->images;
    int rank;
    hsize_t dims[4];
    if (open_dataset(h, b, "images", &rank, dims)) return -1;
    *len = dims[0];
    hid_t t = H5Dget_type(b->dset), base = H5I_INVALID_HID;
    const H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        int rc = open_dense(h, t, rank, dims);
        H5Tclose(t);
        return rc;
    }
    if (cls == H5T_VLEN && rank != 1) {
        H5Tclose(t);
        return not_1d(h, "images", rank);
    }
    int ok = cls == H5T_VLEN;
    const size_t file_esize = ok ? H5Tget_size(t) : 0;
    if (ok) base = H5Tget_super(t);
    ok = ok && base >= 0 && H5Tget_class(base) == H5T_INTEGER && H5Tget_size(base) == 1;
    if (ok) {
        // Signed bytes are read as they are (a conversion to uint8 would clip them).
        b->mtype = H5Tvlen_create(H5Tget_sign(base) == H5T_SGN_NONE ? H5T_NATIVE_UCHAR : H5T_NATIVE_SCHAR);
    } else {
        char what[160] = "an unreadable type";
        if (t >= 0) describe(t, what, sizeof what, 0);
        am_seterr("'%s': dataset 'images' holds %s; it must hold variable-length uint8 (h5py.vlen_dtype(np.uint8)), "
                  "each element the bytes of a PNG or JPEG file, or be a dense numeric array: %s",
                  h->path, what, LAYOUT);
    }
    if (base >= 0) H5Tclose(base);
    if (t >= 0) H5Tclose(t);
    if (!ok) return -1;
    b->esize = sizeof(hvl_t);
    b->vlen = 1;
    b->budget = IMAGES_BUDGET;
    if (b->mtype < 0 || make_dxpl(b, file_esize))
        return am_seterr("'%s': cannot set up reading 'images': HDF5 failed", h->path);
    return 0;
}

static int open_names(am_h5 *h, uint64_t *len) {
    block *b = &h->names;
    int rank;
    hsize_t dims[4];
    if (open_dataset(h, b, "filenames", &rank, dims)) return -1;
    if (rank != 1) return not_1d(h, "filenames", rank);
    *len = dims[0];
    hid_t t = H5Dget_type(b->dset);
    const int str = t >= 0 && H5Tget_class(t) == H5T_STRING;
    const int var = str && H5Tis_variable_str(t) > 0;
    const size_t size = str ? H5Tget_size(t) : 0;
    if (!str || (!var && (size == 0 || size > FIXED_NAME_LIMIT))) {
        char what[160] = "an unreadable type";
        if (t >= 0) describe(t, what, sizeof what, 0);
        if (t >= 0) H5Tclose(t);
        return am_seterr("'%s': dataset 'filenames' holds %s; it must hold strings (variable-length, or fixed-length "
                         "of at most %zu bytes): %s",
                         h->path, what, FIXED_NAME_LIMIT, LAYOUT);
    }
    // In memory: the file's character set (HDF5 converts no ASCII <-> UTF-8),
    // fixed-length names one byte longer and NUL-terminated.
    b->mtype = H5Tcopy(H5T_C_S1);
    int bad = b->mtype < 0 || H5Tset_cset(b->mtype, H5Tget_cset(t)) < 0;
    if (var) {
        bad = bad || H5Tset_size(b->mtype, H5T_VARIABLE) < 0;
        b->esize = sizeof(char *);
        b->vlen = 1;
    } else {
        bad = bad || H5Tset_size(b->mtype, size + 1) < 0 || H5Tset_strpad(b->mtype, H5T_STR_NULLTERM) < 0;
        b->esize = size + 1;
    }
    const size_t file_esize = H5Tget_size(t);
    H5Tclose(t);
    b->budget = NAMES_BUDGET;
    if (bad || make_dxpl(b, file_esize))
        return am_seterr("'%s': dataset 'filenames' has a string type this build cannot read (character set or "
                         "padding): write the names as UTF-8 or ASCII strings", h->path);
    return 0;
}

am_h5 *am_h5_open(const char *path) {
    quiet();
    struct stat st;
    if (stat(path, &st)) {
        am_seterr("cannot open HDF5 file '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        am_seterr("'%s' is not a regular file: give the .h5 file itself", path);
        return NULL;
    }
    am_h5 *h = AM_CALLOC(sizeof *h);
    h->path = strdup(path);
    AM_CHECK(h->path, "out of memory");
    block_init(&h->images);
    block_init(&h->names);
    h->last = UINT64_MAX;
    h->file = H5I_INVALID_HID;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    h->file = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    char cause[256] = "";
    if (h->file < 0) hdf5_cause(cause);
    if (fapl >= 0) H5Pclose(fapl);
    if (h->file < 0) {
        if (!am_h5_signature(path))
            am_seterr("'%s' is not an HDF5 file (no HDF5 signature): %s", path, LAYOUT);
        else
            am_seterr("cannot open HDF5 file '%s' (%s): the file is truncated or damaged; copy or write it again", path,
                      cause);
        am_h5_close(h);
        return NULL;
    }
    uint64_t ni = 0, nn = 0;
    // A dense file's names are optional.
    h->has_names = 1;
    if (open_images(h, &ni)) {
        am_h5_close(h);
        return NULL;
    }
    if (h->dense) h->has_names = H5Lexists(h->file, "filenames", H5P_DEFAULT) > 0;
    if (h->has_names && open_names(h, &nn)) {
        am_h5_close(h);
        return NULL;
    }
    if (h->has_names && ni != nn) {
        am_seterr("'%s': 'images' has %llu elements but 'filenames' %llu: they must be as long (the file is "
                  "incomplete or damaged; write it again)",
                  path, (unsigned long long)ni, (unsigned long long)nn);
        am_h5_close(h);
        return NULL;
    }
    h->n = ni;
    return h;
}

uint64_t am_h5_count(const am_h5 *h) { return h->n; }

int am_h5_dense(const am_h5 *h, int *w, int *hh, int *bands, am_sample_type *t) {
    if (w) *w = h->w;
    if (hh) *hh = h->h;
    if (bands) *bands = h->bands;
    if (t) *t = h->type;
    return h->dense;
}

void am_h5_close(am_h5 *h) {
    if (!h) return;
    quiet();
    block_free(&h->images);
    block_free(&h->names);
    if (h->file >= 0) H5Fclose(h->file);
    free(h->path);
    free(h);
}

// ---- reading -----------------------------------------------------------------

// Copies s into dst[cap]; a name that does not fit is cut before the UTF-8
// character that would straddle the end.
static void copy_name(char *dst, size_t cap, const char *s) {
    if (!cap) return;
    size_t len = strlen(s);
    if (len >= cap) {
        len = cap - 1;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
    }
    memcpy(dst, s, len);
    dst[len] = 0;
}

// Grows *buf (capacity *cap) to n bytes.
static void grow(uint8_t **buf, size_t *cap, size_t n, const am_h5 *h, uint64_t i) {
    if (n <= *cap && *buf) return;
    uint8_t *p = realloc(*buf, n);
    if (!p) am_fatalf(__FILE__, __LINE__, "out of memory reading item %llu of '%s'", (unsigned long long)i, h->path);
    *buf = p;
    *cap = n;
}

// Item i of a dense file (named nm) as float32 pixels into *buf.
static int read_pixels(am_h5 *h, uint64_t i, const char *nm, int seq, uint8_t **buf, size_t *n, size_t *bufcap,
                       size_t max_bytes) {
    const size_t vals = (size_t)h->w * h->h * h->bands, bytes = vals * sizeof(float);
    *n = bytes;
    if (bytes > max_bytes) return 2;
    size_t want = 0;
    if (load(&h->images, i, h->n, seq, SIZE_MAX, &want))
        return am_seterr("'%s': item %llu ('%s'): cannot read its pixels (%s): the file is damaged there; skipped",
                         h->path, (unsigned long long)i, nm, h->images.cause);
    grow(buf, bufcap, bytes, h, i);
    float *dst = (float *)*buf;
    const void *e = h->images.elems + (i - h->images.start) * h->images.esize;
    switch (h->px) {
    case PX_U8: for (size_t k = 0; k < vals; k++) dst[k] = ((const uint8_t *)e)[k]; break;
    case PX_U16: for (size_t k = 0; k < vals; k++) dst[k] = ((const uint16_t *)e)[k]; break;
    case PX_I16: for (size_t k = 0; k < vals; k++) dst[k] = ((const int16_t *)e)[k]; break;
    case PX_F32: memcpy(dst, e, bytes); break;
    default: for (size_t k = 0; k < vals; k++) dst[k] = (float)((const double *)e)[k]; break;
    }
    return 0;
}

int am_h5_read(am_h5 *h, uint64_t i, char *name, size_t cap, uint8_t **buf, size_t *n, size_t *bufcap,
               size_t max_bytes) {
    quiet();
    if (cap) name[0] = 0;
    const unsigned long long ii = (unsigned long long)i;
    if (i >= h->n)
        return am_seterr("'%s': item %llu is past the end (the file holds %llu items)", h->path, ii,
                         (unsigned long long)h->n);
    const int seq = i == h->last + 1;
    h->last = i;
    size_t want = 0;
    int r;
    const char *nm;
    char made[4200];  // a dense file's name without `filenames`: BASENAME#i
    if (h->has_names) {
        r = load(&h->names, i, h->n, seq, NAME_LIMIT, &want);
        if (r == 2)
            return am_seterr("'%s': item %llu: its filename is %zu bytes long, over %zu: skipped", h->path, ii, want,
                             NAME_LIMIT);
        if (r)
            return am_seterr("'%s': item %llu: cannot read its filename (%s): the file is damaged there; skipped",
                             h->path, ii, h->names.cause);
        const unsigned char *ne = h->names.elems + (i - h->names.start) * h->names.esize;
        nm = h->names.vlen ? *(char *const *)ne : (const char *)ne;
    } else {
        const char *slash = strrchr(h->path, '/');
        snprintf(made, sizeof made, "%s#%llu", slash ? slash + 1 : h->path, ii);
        nm = made;
    }
    copy_name(name, cap, nm ? nm : "");
    if (!buf) {
        *n = 0;
        return 0;
    }
    if (h->dense) return read_pixels(h, i, nm ? nm : "", seq, buf, n, bufcap, max_bytes);
    r = load(&h->images, i, h->n, seq, max_bytes, &want);
    if (r == 2) {
        *n = want;
        return 2;
    }
    if (r)
        return am_seterr("'%s': item %llu ('%s'): cannot read its image bytes (%s): the file is damaged there; "
                         "skipped", h->path, ii, nm ? nm : "", h->images.cause);
    const hvl_t *v = (const hvl_t *)h->images.elems + (i - h->images.start);
    *n = v->len;
    if (v->len > max_bytes) return 2;
    if (!v->len || !v->p)
        return am_seterr("'%s': item %llu ('%s') holds no bytes (an element the writer never filled, e.g. an image "
                         "it failed to encode): skipped", h->path, ii, nm ? nm : "");
    grow(buf, bufcap, v->len, h, i);
    memcpy(*buf, v->p, v->len);
    return 0;
}

// ---- writing -----------------------------------------------------------------

int am_h5_write(const char *path, const char *const *names, const uint8_t *const *data, const size_t *len,
                uint64_t n) {
    quiet();
    for (uint64_t i = 0; i < n; i++) {
        if (!names[i]) return am_seterr("cannot write '%s': item %llu has no name", path, (unsigned long long)i);
        if (len[i] && !data[i])
            return am_seterr("cannot write '%s': item %llu has %zu bytes but no data", path, (unsigned long long)i,
                             len[i]);
    }
    char tmp[4096], cause[256] = "";
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        hdf5_cause(cause);
        return am_seterr("cannot create '%s' (to write '%s'): %s", tmp, path, cause);
    }
    hsize_t dim = n;
    hid_t space = H5Screate_simple(1, &dim, NULL);
    hid_t ftype = H5Tvlen_create(H5T_STD_U8LE), mtype = H5Tvlen_create(H5T_NATIVE_UCHAR);
    hid_t stype = H5Tcopy(H5T_C_S1);
    int ok = space >= 0 && ftype >= 0 && mtype >= 0 && stype >= 0 && H5Tset_size(stype, H5T_VARIABLE) >= 0 &&
             H5Tset_cset(stype, H5T_CSET_UTF8) >= 0;
    hid_t di = ok ? H5Dcreate2(file, "images", ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    hid_t dn = di >= 0 ? H5Dcreate2(file, "filenames", stype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = dn >= 0;
    if (ok && n) ok = H5Dwrite(dn, stype, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0;
    hvl_t *v = AM_MALLOC(sizeof(hvl_t) * (n < WRITE_BATCH ? n : WRITE_BATCH));
    for (uint64_t s = 0; ok && s < n; s += WRITE_BATCH) {
        hsize_t start = s, c = n - s < WRITE_BATCH ? n - s : WRITE_BATCH;
        for (hsize_t k = 0; k < c; k++) v[k] = (hvl_t){.len = len[s + k], .p = (void *)data[s + k]};
        hid_t ms = H5Screate_simple(1, &c, NULL);
        ok = ms >= 0 && H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, NULL, &c, NULL) >= 0 &&
             H5Dwrite(di, mtype, ms, space, H5P_DEFAULT, v) >= 0;
        if (ms >= 0) H5Sclose(ms);
    }
    free(v);
    if (!ok) hdf5_cause(cause);
    if (dn >= 0) H5Dclose(dn);
    if (di >= 0) H5Dclose(di);
    if (stype >= 0) H5Tclose(stype);
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    if (space >= 0) H5Sclose(space);
    if (H5Fclose(file) < 0 && ok) {
        hdf5_cause(cause);
        ok = 0;
    }
    int err = 0;
    if (ok) {
        int fd = open(tmp, O_RDONLY);
        ok = fd >= 0 && fsync(fd) == 0;
        if (!ok) err = errno;
        if (fd >= 0) close(fd);
    }
    if (!ok) {
        unlink(tmp);
        return am_seterr("writing HDF5 file '%s' failed: %s (free disk space or write elsewhere); the previous file "
                         "is intact", path, err ? strerror(err) : cause);
    }
    if (rename(tmp, path)) {
        err = errno;
        unlink(tmp);
        return am_seterr("cannot rename '%s' to '%s': %s", tmp, path, strerror(err));
    }
    return 0;
}
