import Foundation
import Synchronization
import TailorWire

/// A request's id as the editor sent it: a string or an integer, echoed back unchanged.
enum BridgeID: Sendable, Hashable {
    case string(String)
    case number(Int)

    init?(_ value: Any?) {
        if let s = value as? String {
            self = .string(s)
        } else if let n = value as? NSNumber, !n.isJSONBoolean,
            let i = Int(exactly: n.doubleValue)
        {
            self = .number(i)
        } else {
            return nil
        }
    }

    var json: Any {
        switch self {
        case let .string(s): return s;
        case let .number(n): return n
        }
    }
    var key: String {
        switch self {
        case let .string(s): return s;
        case let .number(n): return "\(n)"
        }
    }
}

/// Writes the bridge's JSON lines to standard output, one whole line at a time, from any task.
final class BridgeOutput: Sendable {
    private let lock = Mutex(())

    /// Sends one message: `{"id": id, "event": event, ...fields}`.
    func send(_ id: BridgeID?, _ event: String, _ fields: [String: Any] = [:]) {
        var o = fields
        o["event"] = event
        if let id { o["id"] = id.json }
        guard
            let data = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        let line = String(decoding: data, as: UTF8.self) + "\n"
        lock.withLock { _ in Console.write(line) }
    }

    /// An error answer naming what was wrong.
    func fail(_ id: BridgeID?, code: String, _ message: String) {
        send(id, "error", ["code": code, "message": message])
    }
}
