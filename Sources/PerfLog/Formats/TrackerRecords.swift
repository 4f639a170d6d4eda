/// Turns one element of the old tracker's flat array into a measure.
enum FlatRecordFields {
    static func event(_ value: JSONValue, at location: String) throws(PerfLogError) -> Event {
        func fail(_ field: String, _ rule: String) -> PerfLogError { .invalidInput(field: "\(location): \(field)", rule: rule) }
        guard case .object(let pairs) = value else {
            throw PerfLogError.invalidInput(field: location, rule: "must be an object (got \(value.typeName))")
        }
        var agent: String?, cli: String?, durationNs: UInt64?, time: Int64?, success = true
        var seen = Set<String>()
        for (key, value) in pairs {
            guard seen.insert(key).inserted else { throw fail(key, "appears twice") }
            switch key {
            case "agent", "cli":
                guard case .string(let s) = value else { throw fail(key, "must be a string (got \(value.typeName))") }
                do { try StreamName.validate(s, field: key) } catch { throw fail(key, rule(of: error)) }
                if key == "agent" { agent = s } else { cli = s }
            case "duration":
                guard case .number(let n) = value else { throw fail(key, "must be a number of milliseconds (got \(value.typeName))") }
                durationNs = try nanoseconds(fromMilliseconds: n) { rule throws(PerfLogError) in throw fail(key, rule) }
            case "timestamp":
                switch value {
                case .string(let s):
                    guard let t = ISO8601.parse(s, allowOffset: true) else {
                        throw fail(key, "must be an ISO 8601 time such as \"2026-01-19T20:50:24.123Z\" or epoch milliseconds")
                    }
                    time = t
                case .number(let n):
                    guard let t = n.scaled(byPowerOfTen: 6), let signed = t.int64 else {
                        throw fail(key, "is out of range (epoch milliseconds from 1677 to 2262)")
                    }
                    time = signed
                default:
                    throw fail(key, "must be an ISO 8601 string or a number of epoch milliseconds (got \(value.typeName))")
                }
            case "success":
                switch value {
                case .bool(let b): success = b
                case .null: success = true
                default: throw fail(key, "must be true or false (got \(value.typeName))")
                }
            default:
                continue
            }
        }
        guard let agent else { throw fail("agent", "is missing") }
        guard let cli else { throw fail("cli", "is missing") }
        guard let durationNs else { throw fail("duration", "is missing") }
        guard let time else { throw fail("timestamp", "is missing") }
        let stream = StreamName(unchecked: agent, cli: cli)
        let id = ImportedEvents.derivedInvocation(stream: stream, wallTimeNs: time, durationNs: durationNs)
        return .measure(stream, invocation: id, durationNs: durationNs, outcome: success ? .ok : .failed,
                        wallTimeNs: time, pid: 0)
    }
}
