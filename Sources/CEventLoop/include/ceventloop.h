#ifndef CEVENTLOOP_H
#define CEVENTLOOP_H
// What Swift's Glibc module leaves out and the event loops need: epoll, eventfd, accept4.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

/// accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC) (accept4 needs _GNU_SOURCE).
int gw_accept_nonblocking(int fd, struct sockaddr *address, socklen_t *length);
#endif
