import Foundation
import Testing

/// Waits until `done` holds, checking it again every `interval` seconds: for a state that
/// another thread or process reaches without telling the test (a counter, a file, a
/// commit seen through another process).
///
/// `seconds` is a generous bound against a hang, not a synchronisation device: when it
/// passes first, an issue naming `what` is recorded at the caller and the test goes on.
/// - Returns: whether `done` held in time.
/// - Throws: whatever `done` throws.
@discardableResult
public func eventually(
    _ what: String, within seconds: Double = 60, pollingEvery interval: Double = 0.000_2,
    sourceLocation: SourceLocation = #_sourceLocation, _ done: () throws -> Bool
) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while try !done() {
        if Date() > deadline {
            Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
            return false
        }
        usleep(useconds_t(interval * 1_000_000))
    }
    return true
}
