import Foundation

/// The exact bytes of every file under a directory (or of one file), and the names of
/// its subdirectories, to show that a refused command or open changed nothing.
public struct Snapshot: Equatable, Sendable, CustomStringConvertible {
    /// Each file's bytes by its path relative to the root ("" for a root that is a
    /// file); a directory's entry is the bytes of `<dir>`.
    public var files: [String: Data]

    /// Reads everything under `root`; nothing when it does not exist.
    /// - Throws: when a file cannot be read.
    public init(_ root: String) throws {
        files = [:]
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else { return }
        if !isDirectory.boolValue {
            files[""] = try Data(contentsOf: URL(fileURLWithPath: root))
            return
        }
        guard let walker = FileManager.default.enumerator(atPath: root) else { return }
        while let relative = walker.nextObject() as? String {
            let full = root + "/" + relative
            var dir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: full, isDirectory: &dir)
            files[relative] = dir.boolValue ? Data("<dir>".utf8) : try Data(contentsOf: URL(fileURLWithPath: full))
        }
    }

    /// Each path and its size, for a failed expectation's message.
    public var description: String { files.keys.sorted().map { "\($0): \(files[$0]?.count ?? 0) bytes" }.joined(separator: ", ") }
}
