/* What the gcc workload compiles, links and runs. */
#include <stdio.h>

static long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

int main(void) {
    printf("fib(20) = %ld\n", fib(20));
    return 0;
}
