#ifndef MHD_SHIM_H
#define MHD_SHIM_H
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <microhttpd.h>

/// MHD_start_daemon is variadic and cannot be called from Swift; this passes every option as one
/// MHD_OPTION_ARRAY built in Swift (terminated by an MHD_OPTION_END item).
struct MHD_Daemon *gw_start_daemon(unsigned int flags, uint16_t port,
                                   MHD_AccessHandlerCallback handler, void *handler_cls,
                                   struct MHD_OptionItem *options);

/// The daemon's own epoll descriptor (MHD_get_daemon_info is variadic too); -1 when it has none.
int gw_daemon_epoll_fd(struct MHD_Daemon *daemon);

/// MHD's timeout until it must run again, in milliseconds; -1 when it has no deadline.
long long gw_daemon_timeout(struct MHD_Daemon *daemon);
#endif
