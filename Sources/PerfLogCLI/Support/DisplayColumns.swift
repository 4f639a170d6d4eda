/// How many columns of a terminal text takes, and text cut to fit a number of them.
///
/// Counted per Unicode scalar, as wcwidth(3) does, without depending on the process's
/// locale: combining marks, joiners and variation selectors take none, East Asian wide
/// and fullwidth characters and most emoji two, everything else one. Control
/// characters never reach here (``Terminal/oneLine(_:)`` makes them visible first) and
/// escape sequences are added after widths are counted.
enum DisplayColumns {
    /// The columns `text` takes on a terminal.
    static func width(_ text: String) -> Int {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text.utf8.count }
        return text.unicodeScalars.reduce(0) { $0 + width(of: $1) }
    }

    /// The columns one scalar takes: 0, 1 or 2.
    static func width(of scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v < 0x300 { return 1 }
        if zeroWidth.contains(where: { $0.contains(v) }) { return 0 }
        if wide.contains(where: { $0.contains(v) }) { return 2 }
        return 1
    }

    /// `text` cut to at most `columns` display columns: when it is wider, as much of its
    /// beginning as fits before `ellipsis`.
    static func truncate(_ text: String, to columns: Int, ellipsis: String) -> String {
        guard width(text) > columns else { return text }
        let room = columns - width(ellipsis)
        guard room > 0 else { return String(ellipsis.prefix(max(0, columns))) }
        var out = ""
        var used = 0
        for character in text {
            let w = width(String(character))
            if used + w > room { break }
            out.append(character)
            used += w
        }
        return out + ellipsis
    }

    /// Combining marks, zero-width spaces and joiners, variation selectors.
    private static let zeroWidth: [ClosedRange<UInt32>] = [
        0x0300...0x036F, 0x0483...0x0489, 0x0591...0x05BD, 0x0610...0x061A, 0x064B...0x065F,
        0x1AB0...0x1AFF, 0x1DC0...0x1DFF, 0x200B...0x200F, 0x20D0...0x20FF, 0xFE00...0xFE0F,
        0xFE20...0xFE2F, 0xE0100...0xE01EF,
    ]

    /// East Asian wide and fullwidth blocks and the emoji planes.
    private static let wide: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
        0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
        0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD,
    ]
}
