import Foundation

/// A fresh directory under the system temporary directory, removed with everything in it
/// when released.
public final class TemporaryDirectory: Sendable {
    /// The directory's absolute path.
    public let path: String

    /// Creates `NSTemporaryDirectory()/prefix-UUID`.
    /// - Parameter prefix: the start of the directory's name; the serve tests pass a short
    ///   one so that socket paths inside it fit in `sun_path` (108 bytes on Linux).
    /// - Throws: the file system's error when the directory cannot be created.
    public init(prefix: String = "perflog-tests") throws {
        path = NSTemporaryDirectory() + prefix + "-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// `path/name`.
    public func file(_ name: String) -> String { path + "/" + name }
}
