/// A queue served round-robin across keys (callers), FIFO within each key.
///
/// One editor sending a burst of completions must not make another client wait for the whole
/// burst: each pop takes from the next key in turn.
struct FairQueue<Key: Hashable, Element> {
    private var lanes: [Key: [Element]] = [:]
    private var turn: [Key] = []  // keys with waiting elements, next to serve first

    /// Elements waiting, over all keys.
    private(set) var count = 0

    /// Whether nothing waits.
    var isEmpty: Bool { count == 0 }

    /// Appends `element` to `key`'s lane.
    mutating func push(_ element: Element, key: Key) {
        if lanes[key, default: []].isEmpty { turn.append(key) }
        lanes[key, default: []].append(element)
        count += 1
    }

    /// Puts `element` back at the front of `key`'s lane, with `key` first in turn: an element
    /// popped but not servable yet keeps its place.
    mutating func pushFront(_ element: Element, key: Key) {
        turn.removeAll { $0 == key }
        turn.insert(key, at: 0)
        lanes[key, default: []].insert(element, at: 0)
        count += 1
    }

    /// The first element of the next key in turn; that key then goes to the back.
    mutating func pop() -> Element? {
        guard !turn.isEmpty else { return nil }
        let key = turn.removeFirst()
        var lane = lanes[key]!
        let e = lane.removeFirst()
        count -= 1
        if lane.isEmpty { lanes[key] = nil } else { lanes[key] = lane; turn.append(key) }
        return e
    }

    /// How many waiting elements match `predicate`.
    func count(where predicate: (Element) -> Bool) -> Int {
        lanes.values.reduce(0) { $0 + $1.count(where: predicate) }
    }

    /// Removes every element matching `predicate` and returns them.
    mutating func removeAll(where predicate: (Element) -> Bool) -> [Element] {
        var removed: [Element] = []
        for key in Array(lanes.keys) {
            var lane = lanes[key]!
            let before = lane.count
            removed += lane.filter(predicate)
            lane.removeAll(where: predicate)
            count -= before - lane.count
            if lane.isEmpty { lanes[key] = nil; turn.removeAll { $0 == key } } else { lanes[key] = lane }
        }
        return removed
    }
}
