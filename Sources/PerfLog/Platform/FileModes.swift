#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The permissions of what perflog creates: private to the user (directories 0700,
/// files 0600) whatever the umask, unless the directory they are made in is
/// group-shared (setgid, as README's "Sharing a log between users" sets up): then the
/// group gets what the umask allows it (0770/0660 less the umask); others never.
package enum FileModes {
    /// Whether the nearest existing directory at or above `path` has the setgid bit.
    package static func isGroupShared(_ path: String) -> Bool {
        var current = path.isEmpty ? "." : path
        while true {
            var st = stat()
            if stat(current, &st) == 0 { return (st.st_mode & S_IFMT) == S_IFDIR && st.st_mode & S_ISGID != 0 }
            guard let slash = current.utf8.lastIndex(of: UInt8(ascii: "/")) else { current = "."; continue }
            if slash == current.utf8.startIndex { current = "/"; continue }
            current = String(current[..<slash])
        }
    }

    /// The mode to create a file with in `directory` (the umask still applies).
    package static func newFile(in directory: String) -> mode_t { isGroupShared(directory) ? 0o660 : 0o600 }

    /// The mode to create the directory `path` with (the umask still applies).
    package static func newDirectory(_ path: String) -> mode_t { isGroupShared(path) ? 0o2770 : 0o700 }
}

/// Where output to a path goes, by the rules every `--out` follows (projection and
/// export alike): through a symbolic link to its target; straight into a character
/// device or a FIFO (never replacing it); a regular file (or a new one) is replaced
/// atomically; a directory is refused.
package enum OutputPath {
    /// Output to a file that is replaced by renaming a temporary file over it.
    /// `existing` is the file's status when there is one (to keep its mode and group).
    case replace(target: String, existing: stat?)
    /// Output written straight into the device or FIFO at `target`.
    case direct(target: String)
    /// The path names a directory.
    case directory(target: String)

    /// What writing to `path` means.
    package static func resolve(_ path: String) -> OutputPath {
        var target = path
        // Follows links by hand, so that a link to a file not yet there is followed too.
        for _ in 0..<40 {
            var st = stat()
            guard lstat(target, &st) == 0 else { return .replace(target: target, existing: nil) }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(target, &buffer, buffer.count - 1)
                guard n > 0 else { return .replace(target: target, existing: st) }
                let link = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if link.hasPrefix("/") {
                    target = link
                } else if let slash = target.utf8.lastIndex(of: UInt8(ascii: "/")) {
                    target = String(target[...slash]) + link
                } else {
                    target = link
                }
            case S_IFDIR: return .directory(target: target)
            case S_IFREG: return .replace(target: target, existing: st)
            default: return .direct(target: target)
            }
        }
        return .replace(target: target, existing: nil)  // a loop: creating fails with ELOOP
    }

    /// Gives a new temporary file (open as `fd`) the mode and group of the file it
    /// replaces, so that a file someone made readable stays readable.
    package static func keepMode(of existing: stat?, on fd: Int32) {
        guard let existing else { return }
        _ = fchown(fd, existing.st_uid, existing.st_gid)  // as root; otherwise the group, if ours
        _ = fchown(fd, uid_t.max, existing.st_gid)
        _ = fchmod(fd, existing.st_mode & 0o7777)
    }
}
