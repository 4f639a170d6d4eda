import LMDB
import PerfLogTestSupport
import Testing

@Suite("Fault guard")
struct FaultGuardTests {
    @Test("opening environments installs no signal handler: only a program that asks gets one")
    func notInstalledByTheLibrary() throws {
        let dir = try TemporaryDirectory()
        let env = try Environment(path: dir.path + "/env")
        try env.write { txn in try txn.put(try txn.openDatabase(nil), key: [1], value: [2]) }
        #expect(!FaultGuard.isInstalled)
    }
}
