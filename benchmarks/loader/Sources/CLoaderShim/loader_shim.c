#include "loader_shim.h"
#include <time.h>

int loader_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int loader_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t tag) {
    struct epoll_event ev = { .events = events, .data.u64 = tag };
    return epoll_ctl(epfd, op, fd, &ev);
}

int loader_epoll_wait(int epfd, uint32_t *events, uint64_t *tags, int capacity, int timeout_ms) {
    struct epoll_event ready[256];
    if (capacity > 256) capacity = 256;
    int n = epoll_wait(epfd, ready, capacity, timeout_ms);
    for (int i = 0; i < n; i++) { events[i] = ready[i].events; tags[i] = ready[i].data.u64; }
    return n;
}

int loader_timerfd_create(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int loader_timerfd_arm(int fd, uint64_t when_ns) {
    struct itimerspec spec = {0};
    spec.it_value.tv_sec = (time_t)(when_ns / 1000000000ull);
    spec.it_value.tv_nsec = (long)(when_ns % 1000000000ull);
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, 0);
}
