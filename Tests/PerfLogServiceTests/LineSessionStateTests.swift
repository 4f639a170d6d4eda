@testable import PerfLogService
import Testing

@Suite("A socket connection's state")
struct LineSessionStateTests {
    @Test("batches in flight fill the window: reads are held until answers bring it under")
    func window() {
        var s = LineSessionState(window: 10)
        do {
            let got = s.read(writable: true, overTotalWindow: false)
            #expect(got == .read)
        }
        _ = s.nextLine()
        do {
            let got = s.submit(events: 10)
            #expect(got == 1)
        }
        do {
            let got = s.read(writable: true, overTotalWindow: false)
            #expect(got == .hold)
        }
        do {
            let got = s.resume(writable: true, overTotalWindow: false)
            #expect(got == .hold, "still full")
        }
        do {
            let got = s.answered(events: 10)
            #expect(got == .write)
        }
        do {
            let got = s.resume(writable: true, overTotalWindow: false)
            #expect(got == .read)
        }
        do {
            let got = s.resume(writable: true, overTotalWindow: false)
            #expect(got == nil, "no read is held any more")
        }
    }

    @Test("a client not reading its replies holds reads; over the total window, the service is asked once to tell when there is room")
    func heldReads() {
        var s = LineSessionState(window: 10)
        do {
            let got = s.read(writable: false, overTotalWindow: false)
            #expect(got == .hold)
        }
        do {
            let got = s.resume(writable: true, overTotalWindow: true)
            #expect(got == .holdAndWaitForRoom)
        }
        do {
            let got = s.resume(writable: true, overTotalWindow: true)
            #expect(got == .hold, "asked already")
        }
        s.roomCame()
        do {
            let got = s.resume(writable: true, overTotalWindow: true)
            #expect(got == .holdAndWaitForRoom, "room went again: asked again")
        }
        s.roomCame()
        do {
            let got = s.resume(writable: true, overTotalWindow: false)
            #expect(got == .read)
        }
    }

    @Test("a batch is due when it holds something or blank lines were counted; each acknowledges the lines up to its last")
    func dueBatches() {
        var s = LineSessionState(window: 10)
        #expect(!s.isDue(true))
        #expect(s.isDue(false))
        _ = s.nextLine()
        _ = s.nextLine()
        #expect(s.isDue(true))
        do {
            let got = s.submit(events: 0)
            #expect(got == 2)
        }
        #expect(!s.isDue(true))
    }

    @Test("the input closing stops taking lines; the last answer closes the connection, none is written after")
    func inputClosed() {
        var s = LineSessionState(window: 10)
        _ = s.nextLine()
        do {
            let got = s.submit(events: 1)
            #expect(got == 1)
        }
        s.inputClosed()
        #expect(!s.takesLines)
        do {
            let got = s.read(writable: true, overTotalWindow: false)
            #expect(got == .hold)
        }
        do {
            let got = s.closeIfSettled()
            #expect(!got, "an answer is still due")
        }
        do {
            let got = s.answered(events: 1)
            #expect(got == .writeAndClose)
        }
        #expect(s.phase == .closing)
        do {
            let got = s.submit(events: 1)
            #expect(got == nil)
        }
        do {
            let got = s.close()
            #expect(!got, "closing already")
        }
    }

    @Test("a stopping service still takes what was read, and closes once nothing is in flight")
    func draining() {
        var s = LineSessionState(window: 10)
        s.drain()
        #expect(s.takesLines)
        do {
            let got = s.read(writable: true, overTotalWindow: false)
            #expect(got == .hold)
        }
        do {
            let got = s.closeIfSettled()
            #expect(got)
        }
        do {
            let got = s.answered(events: 0)
            #expect(got == .drop, "a late answer is not written to a closing connection")
        }
    }

    @Test("a line timeout applies to the line still incomplete, only while open")
    func lineTimeout() {
        var s = LineSessionState(window: 10)
        _ = s.nextLine()
        do {
            let got = s.lineTimedOut(1)
            #expect(!got, "line 1 is complete")
        }
        do {
            let got = s.lineTimedOut(2)
            #expect(got)
        }
        #expect(!s.takesLines)
        do {
            let got = s.lineTimedOut(2)
            #expect(!got, "once")
        }
        #expect(s.nextLine() == 2)
        do {
            let got = s.submit(events: 0)
            #expect(got == 2)
        }
        do {
            let got = s.answered(events: 0)
            #expect(got == .writeAndClose)
        }
    }
}
