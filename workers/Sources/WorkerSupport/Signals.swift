#if canImport(Glibc)
import Glibc
#endif

/// Signal dispositions a worker process needs, called first thing in `run()`:
/// - SIGPIPE ignored: a command that exits without reading its input must not kill the worker (the
///   write fails with EPIPE instead, and the command's exit status tells what happened);
/// - SIGTERM and SIGINT unblocked: a process inherits its parent's blocked signals, and a supervisor
///   or test harness that blocks them would otherwise be unable to stop the worker.
public func prepareWorkerSignals() {
    signal(SIGPIPE, SIG_IGN)
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGTERM)
    sigaddset(&unblock, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
}
