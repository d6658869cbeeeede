/* 20k open+close of one library file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;
    long opened = 0;
    for (long i = 0; i < n; i++) {
        int fd = open("/usr/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            opened++;
            close(fd);
        }
    }
    printf("%ld\n", opened);
    return 0;
}
