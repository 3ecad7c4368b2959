import Foundation
import TailorWire

/// Typed optional fields of a JSON object; a present value of the wrong type is a 400 naming it.
struct JSONFields {
    let json: [String: Any]
    init(_ json: [String: Any]) { self.json = json }

    private func present(_ key: String) -> Any? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        return v
    }

    func string(_ key: String) throws -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v as? String else { throw HTTPProblem(400, "field '\(key)' must be a string") }
        return s
    }

    func strings(_ key: String) throws -> [String]? {
        guard let v = present(key) else { return nil }
        guard let s = v as? [String] else { throw HTTPProblem(400, "field '\(key)' must be an array of strings") }
        return s
    }

    func number(_ key: String) throws -> NSNumber? {
        guard let v = present(key) else { return nil }
        guard let n = v as? NSNumber, !n.isJSONBoolean, n.doubleValue.isFinite else {
            throw HTTPProblem(400, "field '\(key)' must be a number")
        }
        return n
    }

    /// An integer in `range`; anything else (a fraction, a value out of range) is a 400 naming
    /// the field and the range.
    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let n = try number(key) else { return nil }
        let d = n.doubleValue
        guard d.rounded(.towardZero) == d, d >= Double(range.lowerBound), d <= Double(range.upperBound),
            let i = Int(exactly: d), range.contains(i)
        else {
            throw HTTPProblem(400, "field '\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    func float(_ key: String) throws -> Float? { try number(key).map { Float($0.doubleValue) } }

    func bool(_ key: String) throws -> Bool? {
        guard let v = present(key) else { return nil }
        guard let n = v as? NSNumber, n.isJSONBoolean else {
            throw HTTPProblem(400, "field '\(key)' must be true or false")
        }
        return n.boolValue
    }
}
