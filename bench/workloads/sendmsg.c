/* 20k sendmsg of one byte over a socket pair, each read back: the only
 * send a jail without network lines stops for (its header may carry an
 * address; see docs/design.md, "Network policy"). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0) {
        perror("socketpair");
        return 1;
    }
    long sent = 0;
    char byte = 'x', back;
    for (long i = 0; i < n; i++) {
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1};
        sent += sendmsg(pair[0], &header, 0) == 1;
        if (read(pair[1], &back, 1) != 1) return 1;
    }
    printf("%ld\n", sent);
    return 0;
}
