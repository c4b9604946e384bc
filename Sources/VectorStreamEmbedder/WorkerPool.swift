import Foundation

/// A fixed set of dedicated threads, each with its own encoder workspace, taking jobs from one queue.
///
/// The forward pass is long, CPU-bound, synchronous work; running it on these threads instead of the Swift
/// cooperative pool keeps the pool free for I/O (the HTTP server, Kafka) while embeddings are computed.
final class WorkerPool: @unchecked Sendable {  // all mutable state is guarded by `condition`
    typealias Job = @Sendable (EncoderWorkspace) -> Void

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var head = 0
    private var stopping = false
    private var running = 0

    init(workers: Int, name: String, makeWorkspace: @escaping @Sendable () -> EncoderWorkspace) {
        for index in 0..<workers {
            let thread = Thread { [self] in
                let workspace = makeWorkspace()
                self.work(workspace)
            }
            thread.name = "\(name)-\(index)"
            thread.stackSize = 1 << 20
            running += 1
            thread.start()
        }
    }

    func submit(_ newJobs: [Job]) {
        condition.lock()
        jobs.append(contentsOf: newJobs)
        condition.broadcast()
        condition.unlock()
    }

    /// Lets the workers finish queued jobs, then end.
    func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func work(_ workspace: EncoderWorkspace) {
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            if head == jobs.count {
                running -= 1
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                // Queue drained: reset without giving back capacity (no reallocation in steady state).
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            condition.unlock()
            job(workspace)
        }
    }
}
