/// Constants of the Linux kernel's ABI that Glibc's Swift module does not carry (its
/// headers declare them only with `_GNU_SOURCE`).
enum LinuxABI {
    #if os(Linux)
    /// `F_OFD_SETLK`: take or release an open-file-description lock, never waiting.
    static let ofdSetLock: Int32 = 37
    /// `F_OFD_SETLKW`: the same, waiting until it is granted.
    static let ofdSetLockWait: Int32 = 38
    /// `F_SETPIPE_SZ`: set a pipe's capacity in bytes.
    static let setPipeSize: Int32 = 1031
    #else
    #error("perflog needs open-file-description locks (F_OFD_SETLK, Linux 3.15 and later)")
    #endif
}
