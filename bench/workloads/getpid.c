/* 50k getpid through syscall(2), which libc does not cache: a syscall the
 * jail lets run without a stop. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 50000;
    long same = 0;
    long pid = syscall(SYS_getpid);
    for (long i = 0; i < n; i++) same += syscall(SYS_getpid) == pid;
    printf("%ld\n", same);
    return 0;
}
