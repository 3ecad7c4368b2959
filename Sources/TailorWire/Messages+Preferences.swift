import CProtobufC
import TailorWireC

/// The messages of `tailor.v1.Preferences` (Proto/tailor/v1/preferences.proto), as plain Swift
/// values. They live in this namespace because the store has its own `HistoryItem` and friends,
/// and a module importing both must be able to tell the wire form from the stored one.
public enum Preferences {}

extension Preferences {
    /// Something the user wrote before: an input and their output.
    public struct HistoryItem: Sendable, Equatable {
        public var id: String
        public var task: String
        public var input: String
        public var output: String
        /// "api", "import" or "feedback"; empty means "api".
        public var source: String
        /// A JSON object, or empty.
        public var metadataJSON: String

        /// An item.
        public init(
            id: String, task: String, input: String, output: String, source: String = "", metadataJSON: String = ""
        ) {
            self.id = id
            self.task = task
            self.input = input
            self.output = output
            self.source = source
            self.metadataJSON = metadataJSON
        }

        static let kind = CMessageKind(
            name: "tailor.v1.HistoryItem", initialize: tailor__v1__history_item__init,
            size: tailor__v1__history_item__get_packed_size, packInto: tailor__v1__history_item__pack,
            unpack: tailor__v1__history_item__unpack, free: tailor__v1__history_item__free_unpacked)

        func fill(_ m: UnsafeMutablePointer<Tailor__V1__HistoryItem>, _ a: CMessageArena, field f: String) throws {
            m.pointee.id = try a.cString(id, field: f + ".id")
            m.pointee.task = try a.cString(task, field: f + ".task")
            m.pointee.input = try a.cString(input, field: f + ".input")
            m.pointee.output = try a.cString(output, field: f + ".output")
            m.pointee.source = try a.cString(source, field: f + ".source")
            m.pointee.metadata_json = try a.cString(metadataJSON, field: f + ".metadata_json")
        }

        init(_ m: Tailor__V1__HistoryItem, _ r: CMessageReader, field f: String) throws {
            self.init(
                id: try r.string(m.id, field: f + ".id"), task: try r.string(m.task, field: f + ".task"),
                input: try r.string(m.input, field: f + ".input"), output: try r.string(m.output, field: f + ".output"),
                source: try r.string(m.source, field: f + ".source"),
                metadataJSON: try r.string(m.metadata_json, field: f + ".metadata_json"))
        }
    }

    /// For `prompt`, the user prefers `chosen` over `rejected`.
    public struct Pair: Sendable, Equatable {
        public var id: String
        public var task: String
        public var prompt: String
        public var chosen: String
        public var rejected: String
        /// "explicit", "synthetic" or "feedback"; empty means "explicit".
        public var source: String

        /// A pair.
        public init(id: String, task: String, prompt: String, chosen: String, rejected: String, source: String = "") {
            self.id = id
            self.task = task
            self.prompt = prompt
            self.chosen = chosen
            self.rejected = rejected
            self.source = source
        }

        static let kind = CMessageKind(
            name: "tailor.v1.PreferencePair", initialize: tailor__v1__preference_pair__init,
            size: tailor__v1__preference_pair__get_packed_size, packInto: tailor__v1__preference_pair__pack,
            unpack: tailor__v1__preference_pair__unpack, free: tailor__v1__preference_pair__free_unpacked)

        func fill(_ m: UnsafeMutablePointer<Tailor__V1__PreferencePair>, _ a: CMessageArena, field f: String) throws {
            m.pointee.id = try a.cString(id, field: f + ".id")
            m.pointee.task = try a.cString(task, field: f + ".task")
            m.pointee.prompt = try a.cString(prompt, field: f + ".prompt")
            m.pointee.chosen = try a.cString(chosen, field: f + ".chosen")
            m.pointee.rejected = try a.cString(rejected, field: f + ".rejected")
            m.pointee.source = try a.cString(source, field: f + ".source")
        }

        init(_ m: Tailor__V1__PreferencePair, _ r: CMessageReader, field f: String) throws {
            self.init(
                id: try r.string(m.id, field: f + ".id"), task: try r.string(m.task, field: f + ".task"),
                prompt: try r.string(m.prompt, field: f + ".prompt"),
                chosen: try r.string(m.chosen, field: f + ".chosen"),
                rejected: try r.string(m.rejected, field: f + ".rejected"),
                source: try r.string(m.source, field: f + ".source"))
        }
    }

    /// What an editor reports about one completion it showed.
    public struct Feedback: Sendable, Equatable {
        public var requestID: String
        public var task: String
        public var prompt: String
        public var shown: String
        public var kept: String
        /// "accepted", "edited" or "rejected".
        public var outcome: String
        public var adapters: String
        public var mode: String

        /// An event.
        public init(
            requestID: String, task: String, prompt: String, shown: String, kept: String = "", outcome: String,
            adapters: String = "", mode: String = ""
        ) {
            self.requestID = requestID
            self.task = task
            self.prompt = prompt
            self.shown = shown
            self.kept = kept
            self.outcome = outcome
            self.adapters = adapters
            self.mode = mode
        }

        static let kind = CMessageKind(
            name: "tailor.v1.FeedbackEvent", initialize: tailor__v1__feedback_event__init,
            size: tailor__v1__feedback_event__get_packed_size, packInto: tailor__v1__feedback_event__pack,
            unpack: tailor__v1__feedback_event__unpack, free: tailor__v1__feedback_event__free_unpacked)

        func fill(_ m: UnsafeMutablePointer<Tailor__V1__FeedbackEvent>, _ a: CMessageArena, field f: String) throws {
            m.pointee.request_id = try a.cString(requestID, field: f + ".request_id")
            m.pointee.task = try a.cString(task, field: f + ".task")
            m.pointee.prompt = try a.cString(prompt, field: f + ".prompt")
            m.pointee.shown = try a.cString(shown, field: f + ".shown")
            m.pointee.kept = try a.cString(kept, field: f + ".kept")
            m.pointee.outcome = try a.cString(outcome, field: f + ".outcome")
            m.pointee.adapters = try a.cString(adapters, field: f + ".adapters")
            m.pointee.mode = try a.cString(mode, field: f + ".mode")
        }

        init(_ m: Tailor__V1__FeedbackEvent, _ r: CMessageReader, field f: String) throws {
            self.init(
                requestID: try r.string(m.request_id, field: f + ".request_id"),
                task: try r.string(m.task, field: f + ".task"),
                prompt: try r.string(m.prompt, field: f + ".prompt"), shown: try r.string(m.shown, field: f + ".shown"),
                kept: try r.string(m.kept, field: f + ".kept"), outcome: try r.string(m.outcome, field: f + ".outcome"),
                adapters: try r.string(m.adapters, field: f + ".adapters"),
                mode: try r.string(m.mode, field: f + ".mode"))
        }
    }

    /// How many records a write added, and how many it skipped because their id existed.
    public struct WriteResult: Sendable, Equatable {
        public var history: UInt64
        public var pairs: UInt64
        public var feedback: UInt64
        public var skipped: UInt64

        /// A result.
        public init(history: UInt64 = 0, pairs: UInt64 = 0, feedback: UInt64 = 0, skipped: UInt64 = 0) {
            self.history = history
            self.pairs = pairs
            self.feedback = feedback
            self.skipped = skipped
        }

        static let kind = CMessageKind(
            name: "tailor.v1.WriteDataResponse", initialize: tailor__v1__write_data_response__init,
            size: tailor__v1__write_data_response__get_packed_size, packInto: tailor__v1__write_data_response__pack,
            unpack: tailor__v1__write_data_response__unpack, free: tailor__v1__write_data_response__free_unpacked)

        /// Serialized `tailor.v1.WriteDataResponse`.
        public func serialized() throws -> [UInt8] {
            try Self.kind.pack { m, _ in
                m.pointee.history = history
                m.pointee.pairs = pairs
                m.pointee.feedback = feedback
                m.pointee.skipped = skipped
            }
        }

        /// Parses a serialized `tailor.v1.WriteDataResponse`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, _ in
                WriteResult(history: m.history, pairs: m.pairs, feedback: m.feedback, skipped: m.skipped)
            }
        }
    }
}

extension Preferences {
    /// AddHistory's request: a batch written in one transaction.
    public struct AddHistoryRequest: Sendable, Equatable {
        public var user: String
        /// 0: the caller's own uid.
        public var ownerUID: UInt32
        public var items: [HistoryItem]

        /// A batch.
        public init(user: String, ownerUID: UInt32 = 0, items: [HistoryItem]) {
            self.user = user
            self.ownerUID = ownerUID
            self.items = items
        }

        static let kind = CMessageKind(
            name: "tailor.v1.AddHistoryRequest", initialize: tailor__v1__add_history_request__init,
            size: tailor__v1__add_history_request__get_packed_size, packInto: tailor__v1__add_history_request__pack,
            unpack: tailor__v1__add_history_request__unpack, free: tailor__v1__add_history_request__free_unpacked)

        /// Serialized `tailor.v1.AddHistoryRequest`.
        public func serialized() throws -> [UInt8] {
            try Self.kind.pack { m, a in
                m.pointee.user = try a.cString(user, field: "user")
                m.pointee.owner_uid = ownerUID
                var i = 0
                (m.pointee.n_items, m.pointee.items) = try a.list(items, HistoryItem.kind) { v, e in
                    defer { i += 1 }
                    try v.fill(e, a, field: "items[\(i)]")
                }
            }
        }

        /// Parses a serialized `tailor.v1.AddHistoryRequest`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, r in
                var i = 0
                return AddHistoryRequest(
                    user: try r.string(m.user, field: "user"), ownerUID: m.owner_uid,
                    items: try r.list(m.items, count: m.n_items, field: "items") { e in
                        defer { i += 1 }
                        return try HistoryItem(e, r, field: "items[\(i)]")
                    })
            }
        }
    }

    /// AddPair's request: a batch of pairs written in one transaction.
    public struct AddPairsRequest: Sendable, Equatable {
        public var user: String
        public var ownerUID: UInt32
        public var pairs: [Pair]

        /// A batch.
        public init(user: String, ownerUID: UInt32 = 0, pairs: [Pair]) {
            self.user = user
            self.ownerUID = ownerUID
            self.pairs = pairs
        }

        static let kind = CMessageKind(
            name: "tailor.v1.AddPairsRequest", initialize: tailor__v1__add_pairs_request__init,
            size: tailor__v1__add_pairs_request__get_packed_size, packInto: tailor__v1__add_pairs_request__pack,
            unpack: tailor__v1__add_pairs_request__unpack, free: tailor__v1__add_pairs_request__free_unpacked)

        /// Serialized `tailor.v1.AddPairsRequest`.
        public func serialized() throws -> [UInt8] {
            try Self.kind.pack { m, a in
                m.pointee.user = try a.cString(user, field: "user")
                m.pointee.owner_uid = ownerUID
                var i = 0
                (m.pointee.n_pairs, m.pointee.pairs) = try a.list(pairs, Pair.kind) { v, e in
                    defer { i += 1 }
                    try v.fill(e, a, field: "pairs[\(i)]")
                }
            }
        }

        /// Parses a serialized `tailor.v1.AddPairsRequest`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, r in
                var i = 0
                return AddPairsRequest(
                    user: try r.string(m.user, field: "user"), ownerUID: m.owner_uid,
                    pairs: try r.list(m.pairs, count: m.n_pairs, field: "pairs") { e in
                        defer { i += 1 }
                        return try Pair(e, r, field: "pairs[\(i)]")
                    })
            }
        }
    }

    /// RecordFeedback's request.
    public struct RecordFeedbackRequest: Sendable, Equatable {
        public var user: String
        public var ownerUID: UInt32
        public var event: Feedback

        /// A request.
        public init(user: String, ownerUID: UInt32 = 0, event: Feedback) {
            self.user = user
            self.ownerUID = ownerUID
            self.event = event
        }

        static let kind = CMessageKind(
            name: "tailor.v1.RecordFeedbackRequest", initialize: tailor__v1__record_feedback_request__init,
            size: tailor__v1__record_feedback_request__get_packed_size,
            packInto: tailor__v1__record_feedback_request__pack,
            unpack: tailor__v1__record_feedback_request__unpack,
            free: tailor__v1__record_feedback_request__free_unpacked)

        /// Serialized `tailor.v1.RecordFeedbackRequest`.
        public func serialized() throws -> [UInt8] {
            try Self.kind.pack { m, a in
                m.pointee.user = try a.cString(user, field: "user")
                m.pointee.owner_uid = ownerUID
                let e = Feedback.kind.make(in: a)
                try event.fill(e, a, field: "event")
                m.pointee.event = e
            }
        }

        /// Parses a serialized `tailor.v1.RecordFeedbackRequest`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, r in
                guard let e = m.event else { throw WireError.missingField(field: "event") }
                return RecordFeedbackRequest(
                    user: try r.string(m.user, field: "user"), ownerUID: m.owner_uid,
                    event: try Feedback(e.pointee, r, field: "event"))
            }
        }
    }
}
