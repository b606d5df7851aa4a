import ArgumentParser
import Foundation
import WorkerSupport

/// `mailer`: delivers the outbox (workspaces.notifications, e.g. the e-mail a build's requester gets
/// when it finishes) through the gateway. Claims unsent mail in batches (each leased 60 s), hands every message
/// to the delivery command on its standard input (`sendmail -t` in production), acknowledges what was
/// delivered in one call, and reports failures (the mail is retried after a backoff). At least once: a
/// mailer that dies before acknowledging leaves its mail to be claimed again when the lease ends.
/// Idle, it waits for NOTIFY notifications on --listen-uri and polls as a backstop. Its token must name
/// it (`gateway token --role worker --mailer <--name>`): only a mailer reads mail, and only the mail it
/// claimed may it acknowledge or fail.
@main
struct Mailer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailer",
        abstract: "Deliver the platform's outbox e-mails through a command, via the gateway."
    )

    @OptionGroup var worker: WorkerOptions

    @Option(help: "This mailer's name: the `mailer` claim of its token (gateway token --role worker --mailer NAME), recorded on the mail it claims and in the logs.")
    var name: String = ProcessInfo.processInfo.hostName

    @Option(help: "Delivery command, run with /bin/sh -c per message, the RFC 5322 message on its standard input (MAIL_ID, MAIL_TO, MAIL_SUBJECT in its environment); exit 0 = delivered.")
    var command: String = "/usr/sbin/sendmail -t -i"

    @Option(help: "The To address: {recipient} is replaced by the user's id.")
    var toTemplate: String = "{recipient}"

    @Option(help: "The From address.")
    var from: String = "builds@localhost"

    @Option(help: "E-mails claimed per call (1 to 1000).")
    var batch: Int = 50

    @Option(help: "Stop after this many seconds with nothing to send (0: never).")
    var idleExit: Double = 0

    func validate() throws {
        _ = try worker.client(environmentPrefix: "MAILER")
        guard (1...1000).contains(batch), idleExit >= 0 else {
            throw ValidationError("--batch must be 1 to 1000, --idle-exit >= 0")
        }
    }

    func run() throws {
        prepareWorkerSignals()
        let client = try worker.client(environmentPrefix: "MAILER")
        let listener = worker.listener(channel: "notifications", environmentPrefix: "MAILER", log: log)
        let pollSeconds = worker.pollSeconds
        var idleSince = Date()
        while true {
            let claimed: [[String: Any]]
            do {
                claimed = try client.call("claim_notifications", ["mailer": name, "max_notifications": batch]) as? [[String: Any]] ?? []
            } catch {
                log("claim failed: \(error); retrying in \(pollSeconds) s")
                Thread.sleep(forTimeInterval: pollSeconds)
                continue
            }
            if claimed.isEmpty {
                let idle = Date().timeIntervalSince(idleSince)
                if idleExit > 0, idle >= idleExit { log("idle: exiting"); return }
                let wait = idleExit > 0 ? min(pollSeconds, max(idleExit - idle, 0.01)) : pollSeconds
                _ = waitForWork(listener, seconds: wait)
                continue
            }
            var delivered: [Int] = []
            for mail in claimed {
                guard let message = Message(mail, toTemplate: toTemplate, from: from) else {
                    log("skipped a malformed outbox entry: \(mail)")
                    continue
                }
                if let failure = deliver(message) {
                    log("notification \(message.id) to \(message.to): \(failure)")
                    _ = try? client.call("fail_notification", ["id": message.id, "error": failure])
                } else {
                    delivered.append(message.id)
                }
            }
            if !delivered.isEmpty {
                // Not acknowledged (gateway down): the leases end and the mail is sent again. At least once.
                do {
                    _ = try client.call("ack_notifications", ["ids": delivered])
                    log("delivered \(delivered.count) e-mail(s)")
                } catch {
                    log("acknowledging \(delivered.count) delivered e-mail(s) failed: \(error); they will be sent again")
                }
            }
            idleSince = Date()
        }
    }

    /// Runs the command with the message on its standard input; nil when it exits 0, else why not.
    func deliver(_ message: Message) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        environment["MAIL_ID"] = String(message.id)
        environment["MAIL_TO"] = message.to
        environment["MAIL_SUBJECT"] = Message.header(message.subject)
        process.environment = environment
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch { return "cannot run the command: \(error)" }
        // A command may exit without reading (EPIPE, SIGPIPE is ignored): its exit status decides.
        try? input.fileHandleForWriting.write(contentsOf: Data(message.text.utf8))
        try? input.fileHandleForWriting.close()
        let said = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 0 { return nil }
        return "exit \(process.terminationStatus): \(String(decoding: said.suffix(1_000), as: UTF8.self))"
    }

    func log(_ line: String) {
        FileHandle.standardError.write(Data("mailer \(name): \(line)\n".utf8))
    }
}
