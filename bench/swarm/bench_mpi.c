/* bench_mpi.c — the collectives SwarmX uses, over whatever transport mpirun
** picked (shared memory, or TCP with --mca btl tcp,self): MPI_Bcast of the
** weights and wafer's rank-order gradient chain (swarm/swarm.c's pattern:
** rank 0 -> 1 -> ... -> N-1 -> 0, each adding), per message size.
** Prints one JSON line per size on rank 0: latency (s) and bandwidth (B/s).
** usage: mpirun -np N bench_mpi [max_bytes] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double chain(float *buf, float *mine, int n, int rank, int size) {
    double t0 = MPI_Wtime();
    if (rank == 0) {
        MPI_Request rq;
        MPI_Isend(mine, n, MPI_FLOAT, 1, 1, MPI_COMM_WORLD, &rq);
        MPI_Recv(buf, n, MPI_FLOAT, size - 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Wait(&rq, MPI_STATUS_IGNORE);
    } else {
        MPI_Recv(buf, n, MPI_FLOAT, rank - 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        for (int i = 0; i < n; i++) buf[i] = buf[i] + mine[i];
        MPI_Send(buf, n, MPI_FLOAT, rank == size - 1 ? 0 : rank + 1, 1, MPI_COMM_WORLD);
    }
    return MPI_Wtime() - t0;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long max = argc > 1 ? atol(argv[1]) : 256L << 20;
    float *a = malloc((size_t)max), *b = malloc((size_t)max);
    if (!a || !b || size < 2) {
        if (rank == 0) fprintf(stderr, "bench_mpi: needs 2+ ranks and %ld bytes\n", max);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(a, 0, (size_t)max), memset(b, 0, (size_t)max);
    for (long bytes = 4096; bytes <= max; bytes *= 4) {
        int n = (int)(bytes / 4), reps = bytes < (1 << 20) ? 50 : bytes < (16 << 20) ? 10 : 3;
        double tb = 1e30, tc = 1e30;
        for (int r = 0; r < reps; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Bcast(a, n, MPI_FLOAT, 0, MPI_COMM_WORLD);
            double t = MPI_Wtime() - t0;
            MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (t < tb) tb = t;
            MPI_Barrier(MPI_COMM_WORLD);
            t = chain(b, a, n, rank, size);
            MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (t < tc) tc = t;
        }
        if (rank == 0)
            printf("{\"ranks\": %d, \"bytes\": %ld, \"bcast_s\": %.3e, \"bcast_Bps\": %.3e, \"chain_s\": %.3e, "
                   "\"chain_Bps\": %.3e}\n", size, bytes, tb, bytes / tb, tc, bytes / tc);
    }
    free(a), free(b);
    MPI_Finalize();
    return 0;
}
