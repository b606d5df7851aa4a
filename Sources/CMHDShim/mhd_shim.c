#include "mhd_shim.h"

struct MHD_Daemon *gw_start_daemon(unsigned int flags, uint16_t port,
                                   MHD_AccessHandlerCallback handler, void *handler_cls,
                                   struct MHD_OptionItem *options) {
    return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_cls,
                            MHD_OPTION_ARRAY, options, MHD_OPTION_END);
}

int gw_daemon_epoll_fd(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
    return info == NULL ? -1 : info->epoll_fd;
}

long long gw_daemon_timeout(struct MHD_Daemon *daemon) {
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(daemon, &ms) != MHD_YES) return -1;
    return ms > 0x7fffffffLL ? 0x7fffffffLL : (long long) ms;
}
