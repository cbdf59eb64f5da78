#include <cblas.h>
#include <omp.h>

#include "am/ops.h"

void am_set_threads(int n) {
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int am_get_threads(void) { return omp_get_max_threads(); }
