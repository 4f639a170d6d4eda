/// An `events` value: `u32 stream id (big-endian) · event record`.
enum StoredEvent {
    /// The stream id, or `nil` when the value is too short.
    static func stream(_ value: UnsafeRawBufferPointer) -> UInt32? {
        value.count > 6 ? Keys.readU32(value) : nil
    }

    /// Whether the record is a measure (flag bit 0 of the record's second byte).
    static func isMeasure(_ value: UnsafeRawBufferPointer) -> Bool {
        value.count > 6 && value[5] & 1 != 0
    }

    static func record(_ value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: value[4...])
    }

    static func encode(_ event: Event, stream: UInt32, into w: inout ByteWriter) {
        w.bytes.removeAll(keepingCapacity: true)
        w.u32be(stream)
        EventRecord.encode(event, into: &w)
    }
}
