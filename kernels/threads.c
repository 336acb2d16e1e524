/* threads.c — the OpenMP thread count shared by every kernel. The count is
** process state owned by the OpenMP runtime (not a global of ours). */
#include "kernels/kernels.h"

#include <omp.h>

void wf_kernels_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
}

int wf_kernels_threads(void) { return omp_get_max_threads(); }
