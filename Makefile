# am: EfficientNet + FixMatch engine. `make` builds the CPU engine and, where
# nvcc and cuDNN are found, the CUDA objects; `make test` runs every test.
# Overridable: CC, CUDA (1/0), CUDA_HOME, GPU_ARCH, OPT, WERROR.

CC       ?= gcc
comma    := ,
OPT      ?= -O3 -march=native
# Containers of images for am_infer: tar shards (libarchive) and HDF5 (libhdf5,
# Debian's serial build, found by pkg-config). A build without one of them
# (the GPU machine's: tests/gpu/run.sh) takes src/data/X_none.c instead, whose
# open fails with a message naming the package.
HDF5_CFLAGS := $(shell pkg-config --cflags hdf5 2>/dev/null)
HDF5_PROBE  := $(or $(shell pkg-config --libs hdf5 2>/dev/null),-lhdf5)
HAVE_ARCHIVE := $(shell printf '\043include <archive.h>\nint main(void){return archive_version_number() < 0;}' | $(CC) -x c - -o /dev/null -larchive 2>/dev/null && echo 1)
HAVE_HDF5    := $(shell printf '\043include <hdf5.h>\nint main(void){return H5open();}' | $(CC) $(HDF5_CFLAGS) -x c - -o /dev/null $(HDF5_PROBE) 2>/dev/null && echo 1)
HDF5_LIBS   := $(if $(HAVE_HDF5),$(HDF5_PROBE),)
ARCHIVE_LIBS := $(if $(HAVE_ARCHIVE),-larchive,)
# Astronomy inputs: FITS (cfitsio) and TIFF (libtiff), the same way.
HAVE_CFITSIO := $(shell printf '\043include <fitsio.h>\nint main(void){return fits_is_reentrant() < 0;}' | $(CC) -x c - -o /dev/null -lcfitsio 2>/dev/null && echo 1)
HAVE_TIFF    := $(shell printf '\043include <tiffio.h>\nint main(void){return TIFFGetVersion() == 0;}' | $(CC) -x c - -o /dev/null -ltiff 2>/dev/null && echo 1)
IMAGE_LIBS  := $(if $(HAVE_CFITSIO),-lcfitsio,) $(if $(HAVE_TIFF),-ltiff,)
# am_review's web server: libmicrohttpd (without it, src/review/server_none.c
# refuses to start, naming the package).
HAVE_MHD    := $(shell printf '\043include <microhttpd.h>\nint main(void){return MHD_get_version() == 0;}' | $(CC) -x c - -o /dev/null -lmicrohttpd 2>/dev/null && echo 1)
MHD_LIBS    := $(if $(HAVE_MHD),-lmicrohttpd,)
# WERROR= turns warnings back into warnings (an unknown compiler: tests/gpu/run.sh).
WERROR   ?= -Werror
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -g -fopenmp -Wall -Wextra $(WERROR) -Iinclude $(HDF5_CFLAGS)
CFLAGS   += $(BASE_CFLAGS)
# OpenBLAS built on OpenMP shares our thread pool (the pthread build and
# OpenMP spin against each other); fall back to the default libopenblas.
OPENBLAS_DIR ?= $(firstword $(wildcard /usr/lib/$(shell $(CC) -dumpmachine)/openblas-openmp))
BLAS_LIB := $(if $(OPENBLAS_DIR),-L$(OPENBLAS_DIR) -Wl$(comma)-rpath$(comma)$(OPENBLAS_DIR))
BASE_LIBS := $(BLAS_LIB) -lopenblas -lpng -ljpeg $(IMAGE_LIBS) $(ARCHIVE_LIBS) $(HDF5_LIBS) $(MHD_LIBS) -lz -lm
LDLIBS   += $(BASE_LIBS)
LDFLAGS  += -fopenmp
# GPU_ARCH: compute capabilities for a fat binary (plus PTX of the newest, so
# that later GPUs JIT it), or one nvcc -arch value (sm_90, native).
GPU_ARCH ?= 75 80 86 89 90 100 120
BUILD    ?= build

NVCC      := $(shell command -v nvcc 2>/dev/null)
CUDA_HOME ?= $(if $(NVCC),$(patsubst %/bin/nvcc,%,$(NVCC)),/usr/local/cuda)
CUDNN_H   := $(firstword $(wildcard $(CUDA_HOME)/include/cudnn.h /usr/include/cudnn.h /usr/local/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h))
HAVE_BLAS := $(shell printf '\043include <cblas.h>\nint main(void){return 0;}' | $(CC) -x c - -o /dev/null -lopenblas 2>/dev/null && echo 1)
HAVE_PNG  := $(shell printf '\043include <png.h>\nint main(void){return 0;}' | $(CC) -x c - -o /dev/null -lpng 2>/dev/null && echo 1)
HAVE_CHECK:= $(shell pkg-config --exists check 2>/dev/null && echo 1)

ifeq ($(CUDA),0)
  USE_CUDA :=
else
  USE_CUDA := $(if $(and $(NVCC),$(CUDNN_H)),1,)
endif

ifeq ($(USE_CUDA),1)
  CFLAGS += -DAM_HAVE_CUDA -I$(CUDA_HOME)/include $(if $(CUDNN_H),-I$(dir $(CUDNN_H)),)
  # CUDNN_LIB / CUBLAS_LIB: directories of libcudnn.so / libcublas.so when they
  # are not in CUDA_HOME/lib64 (e.g. PyTorch's nvidia wheels; tests/gpu/run.sh).
  LDLIBS += $(foreach d,$(CUDNN_LIB) $(CUBLAS_LIB),-L$(d) -Wl$(comma)-rpath$(comma)$(d))
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart -lstdc++
endif
# CUDA kernels (kernels/*.cu): nvcc, C-like CUDA C++ with extern "C" launchers.
NVCCFLAGS ?= -O3 -lineinfo
NVCC_ARCH := $(if $(filter sm_% native all all-major,$(GPU_ARCH)),-arch=$(GPU_ARCH),$(foreach a,$(GPU_ARCH),-gencode arch=compute_$(a),code=sm_$(a)) -gencode arch=compute_$(lastword $(GPU_ARCH)),code=compute_$(lastword $(GPU_ARCH)))
NVCCFLAGS += -std=c++17 $(NVCC_ARCH) -Iinclude -I$(CUDA_HOME)/include -Xcompiler -Wall,-Wextra,-fPIC $(if $(WERROR),-Werror all-warnings,)
CU_SRC := $(if $(USE_CUDA),$(wildcard kernels/*.cu),)

SRC  := $(filter-out src/data/$(if $(HAVE_ARCHIVE),tar_none,tar).c src/data/$(if $(HAVE_HDF5),h5_none,h5).c \
          src/data/$(if $(HAVE_CFITSIO),fits_none,fits).c src/data/$(if $(HAVE_TIFF),tiff_none,tiff).c \
          src/review/$(if $(HAVE_MHD),server_none,server).c,\
        $(wildcard src/core/*.c src/cpu/*.c src/model/*.c src/data/*.c src/train/*.c src/infer/*.c src/review/*.c src/cuda/*.c)) src/cli/exe_dir.c
OBJ  := $(SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.o) $(BUILD)/src/review/page.o
BINS := am_classify am_bench am_train am_demo am_infer am_review
TSRC := $(wildcard tests/test_*.c tests/compare.c)
TOBJ := $(TSRC:%.c=$(BUILD)/%.o)
# The GPU check (tests/gpu/*.c): built with the CUDA objects, by `make` and `make test` (so CI
# compiles and links it), run by tests/gpu/run.sh.
GPU_TSRC := $(wildcard tests/gpu/*.c tests/compare.c)
GPU_TOBJ := $(if $(USE_CUDA),$(patsubst %.c,$(BUILD)/%.o,$(GPU_TSRC)),)
GPU_TEST := $(if $(USE_CUDA),$(BUILD)/test_gpu,)

.PHONY: all test test-emu emu-run mutate gpu-dryrun asan setup clean status demo fuzz fuzz-build fuzz-no-cc FORCE
all: status $(BINS) $(GPU_TEST)

status:
	@echo "am build: CUDA $(if $(NVCC),✓ $(NVCC),✗ (nvcc not found))$(if $(filter 0,$(CUDA)), [off: CUDA=0],)"
	@echo "          cuDNN $(if $(CUDNN_H),✓ $(CUDNN_H),✗)  OpenBLAS $(if $(HAVE_BLAS),✓$(if $(OPENBLAS_DIR), (OpenMP),),✗ (apt-get install libopenblas-openmp-dev))  libpng $(if $(HAVE_PNG),✓,✗ (apt-get install libpng-dev))  Check $(if $(HAVE_CHECK),✓,✗ (apt-get install check))"
	@echo "          libarchive $(if $(HAVE_ARCHIVE),✓,✗ (apt-get install libarchive-dev: am_infer reads no tar))  HDF5 $(if $(HAVE_HDF5),✓,✗ (apt-get install libhdf5-dev: am_infer reads no .h5))"
	@echo "          cfitsio $(if $(HAVE_CFITSIO),✓,✗ (apt-get install libcfitsio-dev: no FITS))  libtiff $(if $(HAVE_TIFF),✓,✗ (apt-get install libtiff-dev: no TIFF))  libmicrohttpd $(if $(HAVE_MHD),✓,✗ (apt-get install libmicrohttpd-dev: no am_review))"
	@echo "          GPU device layer: $(if $(USE_CUDA),linked with the CUDA runtime$(comma) cuDNN and cuBLAS (GPU_ARCH $(GPU_ARCH)),not built)"

# One build folder holds one configuration: the stamp changes with the
# flags (CUDA=0 and then CUDA on, another OPT, ...) and every object depends
# on it, so a changed configuration rebuilds instead of mixing objects.
STAMP := $(BUILD)/config.stamp
CONFIG := $(CC) $(CFLAGS) | $(USE_CUDA) $(NVCCFLAGS)
$(STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CONFIG)' | cmp -s - $@ || echo '$(CONFIG)' > $@

$(BUILD)/%.o: %.c $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The review page's files, built into the binary by .incbin.
$(BUILD)/src/review/page.o: src/review/page.S $(wildcard src/review/page/*) $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(BUILD)/%.o: %.cu $(STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@

# All cuDNN calls live in src/cuda/cudnn.c; cuDNN 9 marks its legacy
# convolution API deprecated.
$(BUILD)/src/cuda/cudnn.o: CFLAGS += -Wno-deprecated-declarations

$(BUILD)/libam.a: $(OBJ)
	rm -f $@ && ar rcs $@ $^

am_classify: $(BUILD)/src/cli/am_classify.o $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_gpu: $(GPU_TOBJ) $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# The programs of this build that tests run (`make asan` gives its own:
# AM_INFER, AM_TRAIN, AM_REVIEW).
$(BUILD)/am_infer: $(BUILD)/src/cli/am_infer.o $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/am_train: $(BUILD)/src/cli/am_train.o $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/am_review: $(BUILD)/src/cli/am_review.o $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_am: $(TOBJ) $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS) $(shell pkg-config --libs check 2>/dev/null)

# ---- GPU truth without a GPU (tests/emu/README.md) ----------------------------
# The real kernels/*.cu (rewritten by tests/emu/rewrite.pl, compiled by g++),
# the GPU host code (src/cuda, trainer_gpu.c: built with AM_HAVE_CUDA against
# tests/emu/include) and the GPU check (tests/gpu/*.c) run on the CPU through
# the emulated CUDA runtime, cuDNN and cuBLAS. Needs no CUDA toolkit.
EMU      ?= $(BUILD)-emu
CXX      ?= g++
EMU_CFLAGS   := $(BASE_CFLAGS) -DAM_HAVE_CUDA -Itests/emu/include -ffp-contract=off
EMU_CXXFLAGS := -std=c++17 $(OPT) -g -fopenmp -Wall -Wextra -Wno-unknown-pragmas $(WERROR) -ffp-contract=off -U_FORTIFY_SOURCE
EMU_KFLAGS   := $(EMU_CXXFLAGS) -D__CUDACC__ -D__CUDA_ARCH__=900 -Iinclude -Ikernels -Itests/emu/include
EMU_KOBJ := $(patsubst kernels/%.cu,$(EMU)/kernels/%.o,$(wildcard kernels/*.cu))
EMU_LOBJ := $(patsubst %,$(EMU)/tests/emu/%.o,runtime cudnn cublas)
EMU_OBJ  := $(SRC:%.c=$(EMU)/%.o) $(EMU_KOBJ) $(EMU_LOBJ)
EMU_TOBJ := $(patsubst %.c,$(EMU)/%.o,$(GPU_TSRC))
EMU_BINS := $(EMU)/test_gpu $(EMU)/test_emu $(EMU)/test_emu_libs
# test_emu_libs provokes its findings on purpose: its stderr is shown only
# when it fails. The kernel groups run once more with blocks and threads in
# reverse order (races).
EMU_RUN  = $(EMU)/test_emu && \
           { $(EMU)/test_emu_libs 2>$(EMU)/test_emu_libs.err || { cat $(EMU)/test_emu_libs.err; false; }; } && \
           $(EMU)/test_gpu && AM_EMU_REVERSE=1 $(EMU)/test_gpu --quick

test-emu: $(EMU_BINS)
	$(EMU_RUN)

# Runs the emulator's programs as built (make asan builds them with the sanitizers).
emu-run:
	$(EMU_RUN)

# Plants defects in the GPU code, one at a time in a copy of the tree; each
# must make the emulated GPU check fail (tests/emu/mutate.sh).
mutate:
	tests/emu/mutate.sh

# run.sh rehearsed here without a GPU (needs the CUDA toolkit; exit 77: skipped).
gpu-dryrun:
	tests/gpu/dryrun.sh

EMU_STAMP := $(EMU)/config.stamp
EMU_CONFIG := $(CC) $(EMU_CFLAGS) | $(CXX) $(EMU_KFLAGS) | $(LDFLAGS)
$(EMU_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(EMU_CONFIG)' | cmp -s - $@ || echo '$(EMU_CONFIG)' > $@

$(EMU)/%.o: %.c $(EMU_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(EMU_CFLAGS) -MMD -MP -c $< -o $@

$(EMU)/src/cuda/cudnn.o: EMU_CFLAGS += -Wno-deprecated-declarations

$(EMU)/tests/emu/%.o: tests/emu/%.cpp $(EMU_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -Itests/emu/include -MMD -MP -c $< -o $@

$(EMU)/kernels/%.cpp: kernels/%.cu tests/emu/rewrite.pl
	@mkdir -p $(dir $@)
	perl tests/emu/rewrite.pl $< > $@.tmp && mv $@.tmp $@

$(EMU)/kernels/%.o: $(EMU)/kernels/%.cpp $(EMU_STAMP)
	$(CXX) $(EMU_KFLAGS) -MMD -MP -c $< -o $@

$(EMU)/libam.a: $(EMU_OBJ)
	rm -f $@ && ar rcs $@ $^

$(EMU)/test_gpu: $(EMU_TOBJ) $(EMU)/libam.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(BASE_LIBS)

$(EMU)/test_emu: $(EMU)/tests/emu/test_emu.o $(EMU)/tests/emu/test_emu_kernels.o $(EMU)/tests/emu/runtime.o
	$(CXX) $(LDFLAGS) $^ -o $@ $(BASE_LIBS)

$(EMU)/tests/emu/test_emu_kernels.cpp: tests/emu/test_emu_kernels.cu tests/emu/rewrite.pl
	@mkdir -p $(dir $@)
	perl tests/emu/rewrite.pl $< > $@.tmp && mv $@.tmp $@

$(EMU)/tests/emu/test_emu_kernels.o: $(EMU)/tests/emu/test_emu_kernels.cpp $(EMU_STAMP)
	$(CXX) $(EMU_KFLAGS) -MMD -MP -c $< -o $@

$(EMU)/test_emu_libs: $(EMU)/tests/emu/test_emu_libs.o $(EMU)/libam.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(BASE_LIBS)

test: status $(BINS) $(GPU_TEST) bench/augment_bench $(BUILD)/test_am $(EMU_BINS) fuzz-build
	cd tests && ../$(BUILD)/test_am
	$(EMU_RUN)
	tests/slurm/run.sh || [ $$? -eq 77 ]
	tests/review/run.sh || [ $$? -eq 77 ]
	$(if $(HAVE_FUZZ_CC),FUZZ_OUT=$(FUZZ_OUT) tests/fuzz/run.sh $(FUZZ_SMOKE),@echo "fuzz: $(FUZZ_CC) not found: no fuzz run")


asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	        LDFLAGS="-fopenmp -fsanitize=address,undefined" CUDA=0 build-asan/test_am build-asan/am_infer build-asan/am_train \
	        build-asan/am_review \
	        $(patsubst $(EMU)/%,build-asan-emu/%,$(EMU_BINS))
	cd tests && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CK_FORK=no AM_INFER=../build-asan/am_infer \
	        AM_TRAIN=../build-asan/am_train AM_REVIEW=../build-asan/am_review \
	        ../build-asan/test_am
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(MAKE) --no-print-directory EMU=build-asan-emu emu-run

setup:
	@pkgs="build-essential pkg-config libopenblas-dev libopenblas-openmp-dev libpng-dev libjpeg-dev zlib1g-dev libarchive-dev libhdf5-dev libcfitsio-dev libtiff-dev libmicrohttpd-dev check clang libclang-rt-dev slurm-wlm munge chromium chromium-driver python3-selenium"; \
	missing=""; for p in $$pkgs; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "setup: all packages present"; fi

# The main job on built-in data: procedural galaxy cutouts with rare anomalies,
# FixMatch training on the CPU, the pool ranked, metrics and plots printed.
DEMO_ITERS ?= 100
demo: status $(BINS)
	./am_demo --out demo --n 2000 --seed 42 --preview
	./am_train --images demo/images --labels demo/labels.csv --truth demo/truth.csv --out demo/run \
	        --iters $(DEMO_ITERS) --cycles 2 --oracle 10 --seed 42
	@echo "demo: data in demo/ (preview.png), results in demo/run/ (scores.csv, top_candidates.png, roc.png, pr.png, score_hist.png)"

# libFuzzer harnesses (tests/fuzz): `make test` builds them all where clang
# is (make setup installs it) and runs each for FUZZ_SMOKE seconds, so that
# one that stops building or finds a crash fails. make fuzz runs them (tests/fuzz/run.sh): FUZZ_SECONDS
# each, FUZZ to pick harnesses (png jpeg csv config tfile ...), FUZZ_JOBS=2 for
# two at a time. Each is compiled from the few sources it needs (no CUDA, no
# BLAS) with libFuzzer and the sanitizers.
FUZZ_SECONDS ?= 180
FUZZ_SMOKE ?= 10
FUZZ_CC  ?= clang
FUZZ_OUT ?= $(BUILD)-fuzz
HAVE_FUZZ_CC := $(shell command -v $(FUZZ_CC) 2>/dev/null)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Wall -Wextra $(WERROR) -Iinclude \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC_image  := src/data/png.c src/data/jpeg.c src/data/image.c src/data/resize.c src/core/error.c
FUZZ_SRC_csv    := src/data/dataset.c src/core/files.c src/core/error.c src/core/log.c
FUZZ_SRC_config := src/train/config.c src/core/error.c
FUZZ_SRC_tfile  := src/core/tfile.c src/train/checkpoint.c src/cpu/ssl.c src/core/error.c
FUZZ_SRC_tar    := src/data/tar.c src/core/error.c
FUZZ_SRC_labels := src/review/labelbook.c src/data/dataset.c src/core/files.c src/core/error.c src/core/log.c
FUZZ_SRC_h5     := src/data/h5.c src/data/signature.c src/core/error.c
FUZZ_SRC_tiff   := src/data/tiff.c src/data/signature.c src/core/error.c
FUZZ_SRC_fits   := src/data/fits.c src/data/inputs.c src/data/stretch.c src/data/resize.c src/data/image.c \
                   src/data/png.c src/data/jpeg.c src/data/tiff.c src/data/signature.c src/core/files.c src/core/error.c
FUZZ_BINS := $(patsubst %,$(FUZZ_OUT)/fuzz_%,image csv config tfile tar h5 labels $(if $(HAVE_TIFF),tiff,) \
             $(if $(and $(HAVE_CFITSIO),$(HAVE_TIFF)),fits,))

fuzz:
	FUZZ_OUT=$(FUZZ_OUT) tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ)

fuzz-build: $(if $(HAVE_FUZZ_CC),$(FUZZ_BINS),fuzz-no-cc)

fuzz-no-cc:
	@echo "fuzz: $(FUZZ_CC) not found: the fuzz harnesses are not built (make setup installs clang)"

.SECONDEXPANSION:
$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRC_$$*) tests/fuzz/fuzz_file.h $(wildcard include/am/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(HDF5_CFLAGS) $< $(FUZZ_SRC_$*) -o $@ -lpng -ljpeg $(IMAGE_LIBS) $(ARCHIVE_LIBS) $(HDF5_LIBS) -lz -lm -lpthread

clean:
	rm -rf build build-asan build-emu build-asan-emu $(BINS)

-include $(OBJ:.o=.d) $(TOBJ:.o=.d) $(GPU_TOBJ:.o=.d) $(EMU_OBJ:.o=.d) $(EMU_TOBJ:.o=.d) $(BENCH_OBJ:.o=.d) $(BINS:%=$(BUILD)/src/cli/%.d)

# am_bench: one main (src/cli/am_bench.c) and a file per group of benchmarks (src/cli/bench_*.c).
BENCH_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/cli/bench_*.c))
am_bench: $(BUILD)/src/cli/am_bench.o $(BENCH_OBJ) $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

am_demo: $(BUILD)/src/cli/am_demo.o $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

am_train: $(BUILD)/src/cli/am_train.o $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

am_review: $(BUILD)/src/cli/am_review.o $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

am_infer: $(BUILD)/src/cli/am_infer.o $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

bench/fmnist_export: $(BUILD)/bench/fmnist_export.o $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

bench/augment_bench: $(BUILD)/bench/augment_bench.o $(BUILD)/libam.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
