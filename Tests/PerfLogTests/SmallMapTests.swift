import Testing
@testable import PerfLog

@Suite("SmallMap")
struct SmallMapTests {
    @Test("agrees with a Dictionary through inserts, updates and removals, below and past the list's limit",
          arguments: [1, SmallMap<Int, Int>.linearLimit, SmallMap<Int, Int>.linearLimit + 1, 100])
    func agreesWithDictionary(count: Int) {
        var map = SmallMap<Int, Int>()
        var reference: [Int: Int] = [:]
        #expect(map.isEmpty)
        for k in 0..<count { map[k * 7] = k; reference[k * 7] = k }
        for k in stride(from: 0, to: count, by: 3) { map[k * 7] = -k; reference[k * 7] = -k }
        for k in stride(from: 1, to: count, by: 4) { map[k * 7] = nil; reference[k * 7] = nil }
        map[-1] = nil
        for k in -1..<(count * 7 + 1) { #expect(map[k] == reference[k]) }
        #expect(map.entries.count == reference.count)
        #expect(map.isEmpty == reference.isEmpty)
    }

    @Test("update takes every entry of the other map, replacing those with the same key")
    func update() {
        var a = SmallMap<String, Int>(), b = SmallMap<String, Int>()
        a["planner"] = 1
        b["planner"] = 2
        for i in 0..<20 { b["coder-\(i)"] = i }
        a.update(with: b)
        #expect(a["planner"] == 2)
        #expect(a["coder-19"] == 19)
        #expect(a.entries.count == 21)
    }
}
