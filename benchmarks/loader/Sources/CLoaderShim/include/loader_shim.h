// epoll and timerfd for the loader: Swift's Glibc module does not export <sys/epoll.h>, and
// struct epoll_event is packed on x86_64, so the loader goes through these small wrappers.
#ifndef LOADER_SHIM_H
#define LOADER_SHIM_H
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <netinet/tcp.h>

static const uint32_t LOADER_EPOLLIN = EPOLLIN;
static const uint32_t LOADER_EPOLLOUT = EPOLLOUT;
static const uint32_t LOADER_EPOLLERR = EPOLLERR | EPOLLHUP;

int loader_epoll_create(void);
/// op: EPOLL_CTL_ADD (1), EPOLL_CTL_DEL (2), EPOLL_CTL_MOD (3).
int loader_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t tag);
/// Waits like epoll_wait and copies each ready event's mask and tag into the two arrays.
int loader_epoll_wait(int epfd, uint32_t *events, uint64_t *tags, int capacity, int timeout_ms);
int loader_timerfd_create(void);
/// Arms the timer for an absolute CLOCK_MONOTONIC time in nanoseconds.
int loader_timerfd_arm(int fd, uint64_t when_ns);
#endif
