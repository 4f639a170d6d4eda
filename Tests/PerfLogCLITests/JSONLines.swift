import Foundation
import Testing

/// Decodes one NDJSON line into a dictionary, recording an issue when it is not JSON.
func decodeObject(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any] {
    guard let data = line.data(using: .utf8),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else {
        Issue.record("not a JSON object: \(line)", sourceLocation: sourceLocation)
        return [:]
    }
    return object
}

/// The keys of a compact JSON object line, in the order they appear (top level only).
func keyOrder(_ line: String) -> [String] {
    var keys: [String] = []
    var depth = 0
    var inString = false
    var escaped = false
    var current = ""
    var expectingKey = false
    for ch in line {
        if inString {
            if escaped { escaped = false; current.append(ch); continue }
            if ch == "\\" { escaped = true; continue }
            if ch == "\"" {
                inString = false
                if expectingKey && depth == 1 { keys.append(current) }
                expectingKey = false
                continue
            }
            current.append(ch)
            continue
        }
        switch ch {
        case "{": depth += 1; expectingKey = true
        case "}": depth -= 1
        case ",": expectingKey = depth == 1
        case "\"": inString = true; current = ""
        default: break
        }
    }
    return keys
}
