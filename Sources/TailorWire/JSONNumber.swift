import Foundation

extension NSNumber {
    /// Whether JSONSerialization read this from JSON true/false (a boolean NSNumber, type code
    /// "c"): `is Bool` also holds for the numbers 0 and 1, so it cannot tell a wrong type. Used
    /// by every JSON reader of client input (tailord's HTTP endpoint, the editor bridge).
    public var isJSONBoolean: Bool { String(cString: objCType) == "c" }
}
