import CProtobufC
import TailorWireC

extension Preferences {
    /// Import's request; the file follows in Data frames.
    public struct ImportRequest: Sendable, Equatable {
        public var user: String
        public var ownerUID: UInt32
        /// For records that name no task.
        public var task: String
        /// "jsonl", "per-user" or "lamp".
        public var format: String
        /// lamp: the size of the questions file, which comes first in the upload.
        public var firstFileBytes: UInt64
        /// per-user users.json: the user_id to take (empty: `user`).
        public var fileUser: String

        /// A request.
        public init(
            user: String, ownerUID: UInt32 = 0, task: String, format: String, firstFileBytes: UInt64 = 0,
            fileUser: String = ""
        ) {
            self.user = user
            self.ownerUID = ownerUID
            self.task = task
            self.format = format
            self.firstFileBytes = firstFileBytes
            self.fileUser = fileUser
        }

        static let kind = CMessageKind(
            name: "tailor.v1.ImportDataRequest", initialize: tailor__v1__import_data_request__init,
            size: tailor__v1__import_data_request__get_packed_size, packInto: tailor__v1__import_data_request__pack,
            unpack: tailor__v1__import_data_request__unpack, free: tailor__v1__import_data_request__free_unpacked)

        /// Serialized `tailor.v1.ImportDataRequest`.
        public func serialized() throws -> [UInt8] {
            try Self.kind.pack { m, a in
                m.pointee.user = try a.cString(user, field: "user")
                m.pointee.owner_uid = ownerUID
                m.pointee.task = try a.cString(task, field: "task")
                m.pointee.format = try a.cString(format, field: "format")
                m.pointee.first_file_bytes = firstFileBytes
                m.pointee.file_user = try a.cString(fileUser, field: "file_user")
            }
        }

        /// Parses a serialized `tailor.v1.ImportDataRequest`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, r in
                ImportRequest(
                    user: try r.string(m.user, field: "user"), ownerUID: m.owner_uid,
                    task: try r.string(m.task, field: "task"),
                    format: try r.string(m.format, field: "format"), firstFileBytes: m.first_file_bytes,
                    fileUser: try r.string(m.file_user, field: "file_user"))
            }
        }
    }

    /// List's request: one page of one kind of record.
    public struct ListRequest: Sendable, Equatable {
        public var user: String
        public var ownerUID: UInt32
        /// Empty: every task.
        public var task: String
        /// "history" (or empty), "pairs" or "feedback".
        public var kind: String
        public var offset: UInt64
        /// 0: 100; at most 1000.
        public var limit: UInt32

        /// A request.
        public init(
            user: String, ownerUID: UInt32 = 0, task: String = "", kind: String = "history", offset: UInt64 = 0,
            limit: UInt32 = 0
        ) {
            self.user = user
            self.ownerUID = ownerUID
            self.task = task
            self.kind = kind
            self.offset = offset
            self.limit = limit
        }

        static let message = CMessageKind(
            name: "tailor.v1.ListDataRequest", initialize: tailor__v1__list_data_request__init,
            size: tailor__v1__list_data_request__get_packed_size, packInto: tailor__v1__list_data_request__pack,
            unpack: tailor__v1__list_data_request__unpack, free: tailor__v1__list_data_request__free_unpacked)

        /// Serialized `tailor.v1.ListDataRequest`.
        public func serialized() throws -> [UInt8] {
            try Self.message.pack { m, a in
                m.pointee.user = try a.cString(user, field: "user")
                m.pointee.owner_uid = ownerUID
                m.pointee.task = try a.cString(task, field: "task")
                m.pointee.kind = try a.cString(kind, field: "kind")
                m.pointee.offset = offset
                m.pointee.limit = limit
            }
        }

        /// Parses a serialized `tailor.v1.ListDataRequest`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.message.read(bytes) { m, r in
                ListRequest(
                    user: try r.string(m.user, field: "user"), ownerUID: m.owner_uid,
                    task: try r.string(m.task, field: "task"),
                    kind: try r.string(m.kind, field: "kind"), offset: m.offset, limit: m.limit)
            }
        }
    }

    /// List's response: the page (only the requested kind is filled) and the kind's total.
    public struct ListResponse: Sendable, Equatable {
        public var history: [HistoryItem]
        public var pairs: [Pair]
        public var feedback: [Feedback]
        public var total: UInt64

        /// A page.
        public init(history: [HistoryItem] = [], pairs: [Pair] = [], feedback: [Feedback] = [], total: UInt64) {
            self.history = history
            self.pairs = pairs
            self.feedback = feedback
            self.total = total
        }

        static let kind = CMessageKind(
            name: "tailor.v1.ListDataResponse", initialize: tailor__v1__list_data_response__init,
            size: tailor__v1__list_data_response__get_packed_size, packInto: tailor__v1__list_data_response__pack,
            unpack: tailor__v1__list_data_response__unpack, free: tailor__v1__list_data_response__free_unpacked)

        /// Serialized `tailor.v1.ListDataResponse`.
        public func serialized() throws -> [UInt8] {
            try Self.kind.pack { m, a in
                (m.pointee.n_history, m.pointee.history) = try a.list(history, HistoryItem.kind) { v, e in
                    try v.fill(e, a, field: "history")
                }
                (m.pointee.n_pairs, m.pointee.pairs) = try a.list(pairs, Pair.kind) { v, e in
                    try v.fill(e, a, field: "pairs")
                }
                (m.pointee.n_feedback, m.pointee.feedback) = try a.list(feedback, Feedback.kind) { v, e in
                    try v.fill(e, a, field: "feedback")
                }
                m.pointee.total = total
            }
        }

        /// Parses a serialized `tailor.v1.ListDataResponse`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, r in
                ListResponse(
                    history: try r.list(m.history, count: m.n_history, field: "history") {
                        try HistoryItem($0, r, field: "history")
                    },
                    pairs: try r.list(m.pairs, count: m.n_pairs, field: "pairs") { try Pair($0, r, field: "pairs") },
                    feedback: try r.list(m.feedback, count: m.n_feedback, field: "feedback") {
                        try Feedback($0, r, field: "feedback")
                    },
                    total: m.total)
            }
        }
    }

    /// Names a user's data (optionally one task's): the request of Count, Export and DeleteUser.
    public struct UserScope: Sendable, Equatable {
        /// Empty (Count only): every user the caller may see.
        public var user: String
        public var ownerUID: UInt32
        /// Empty: every task. DeleteUser has no task.
        public var task: String

        /// A scope.
        public init(user: String, ownerUID: UInt32 = 0, task: String = "") {
            self.user = user
            self.ownerUID = ownerUID
            self.task = task
        }

        static let count = CMessageKind(
            name: "tailor.v1.CountDataRequest", initialize: tailor__v1__count_data_request__init,
            size: tailor__v1__count_data_request__get_packed_size, packInto: tailor__v1__count_data_request__pack,
            unpack: tailor__v1__count_data_request__unpack, free: tailor__v1__count_data_request__free_unpacked)
        static let export = CMessageKind(
            name: "tailor.v1.ExportDataRequest", initialize: tailor__v1__export_data_request__init,
            size: tailor__v1__export_data_request__get_packed_size, packInto: tailor__v1__export_data_request__pack,
            unpack: tailor__v1__export_data_request__unpack, free: tailor__v1__export_data_request__free_unpacked)
        static let delete = CMessageKind(
            name: "tailor.v1.DeleteUserRequest", initialize: tailor__v1__delete_user_request__init,
            size: tailor__v1__delete_user_request__get_packed_size, packInto: tailor__v1__delete_user_request__pack,
            unpack: tailor__v1__delete_user_request__unpack, free: tailor__v1__delete_user_request__free_unpacked)

        /// Serialized as Count's `tailor.v1.CountDataRequest`.
        public func serializedCount() throws -> [UInt8] {
            try Self.count.pack { m, a in
                m.pointee.user = try a.cString(user, field: "user")
                m.pointee.owner_uid = ownerUID
                m.pointee.task = try a.cString(task, field: "task")
            }
        }

        /// Serialized as Export's `tailor.v1.ExportDataRequest`.
        public func serializedExport() throws -> [UInt8] {
            try Self.export.pack { m, a in
                m.pointee.user = try a.cString(user, field: "user")
                m.pointee.owner_uid = ownerUID
                m.pointee.task = try a.cString(task, field: "task")
            }
        }

        /// Serialized as DeleteUser's `tailor.v1.DeleteUserRequest` (the task is not sent).
        public func serializedDelete() throws -> [UInt8] {
            try Self.delete.pack { m, a in
                m.pointee.user = try a.cString(user, field: "user")
                m.pointee.owner_uid = ownerUID
            }
        }

        /// Parses a `tailor.v1.CountDataRequest`.
        public init(count bytes: [UInt8]) throws {
            self = try Self.count.read(bytes) { m, r in
                UserScope(
                    user: try r.string(m.user, field: "user"), ownerUID: m.owner_uid,
                    task: try r.string(m.task, field: "task"))
            }
        }

        /// Parses a `tailor.v1.ExportDataRequest`.
        public init(export bytes: [UInt8]) throws {
            self = try Self.export.read(bytes) { m, r in
                UserScope(
                    user: try r.string(m.user, field: "user"), ownerUID: m.owner_uid,
                    task: try r.string(m.task, field: "task"))
            }
        }

        /// Parses a `tailor.v1.DeleteUserRequest`.
        public init(delete bytes: [UInt8]) throws {
            self = try Self.delete.read(bytes) { m, r in
                UserScope(user: try r.string(m.user, field: "user"), ownerUID: m.owner_uid)
            }
        }
    }

    /// One (user, task) row of Count's response.
    public struct Count: Sendable, Equatable {
        public var user: String
        public var ownerUID: UInt32
        public var task: String
        public var history: UInt64
        public var pairs: UInt64
        public var feedback: UInt64

        /// A row.
        public init(user: String, ownerUID: UInt32, task: String, history: UInt64, pairs: UInt64, feedback: UInt64) {
            self.user = user
            self.ownerUID = ownerUID
            self.task = task
            self.history = history
            self.pairs = pairs
            self.feedback = feedback
        }

        static let kind = CMessageKind(
            name: "tailor.v1.DataCount", initialize: tailor__v1__data_count__init,
            size: tailor__v1__data_count__get_packed_size, packInto: tailor__v1__data_count__pack,
            unpack: tailor__v1__data_count__unpack, free: tailor__v1__data_count__free_unpacked)
        static let response = CMessageKind(
            name: "tailor.v1.CountDataResponse", initialize: tailor__v1__count_data_response__init,
            size: tailor__v1__count_data_response__get_packed_size, packInto: tailor__v1__count_data_response__pack,
            unpack: tailor__v1__count_data_response__unpack, free: tailor__v1__count_data_response__free_unpacked)

        /// Serialized `tailor.v1.CountDataResponse` holding `counts`.
        public static func serialized(_ counts: [Count]) throws -> [UInt8] {
            try response.pack { m, a in
                (m.pointee.n_counts, m.pointee.counts) = try a.list(counts, kind) { c, e in
                    e.pointee.user = try a.cString(c.user, field: "counts.user")
                    e.pointee.owner_uid = c.ownerUID
                    e.pointee.task = try a.cString(c.task, field: "counts.task")
                    e.pointee.history = c.history
                    e.pointee.pairs = c.pairs
                    e.pointee.feedback = c.feedback
                }
            }
        }

        /// Parses a serialized `tailor.v1.CountDataResponse`.
        public static func parse(_ bytes: [UInt8]) throws -> [Count] {
            try response.read(bytes) { m, r in
                try r.list(m.counts, count: m.n_counts, field: "counts") { e in
                    Count(
                        user: try r.string(e.user, field: "counts.user"), ownerUID: e.owner_uid,
                        task: try r.string(e.task, field: "counts.task"),
                        history: e.history, pairs: e.pairs, feedback: e.feedback)
                }
            }
        }
    }

    /// DeleteUser's response: what was removed.
    public struct DeleteUserResult: Sendable, Equatable {
        public var history: UInt64
        public var pairs: UInt64
        public var feedback: UInt64
        /// User adapters removed, with all their versions.
        public var adapters: UInt32

        /// A result.
        public init(history: UInt64, pairs: UInt64, feedback: UInt64, adapters: UInt32) {
            self.history = history
            self.pairs = pairs
            self.feedback = feedback
            self.adapters = adapters
        }

        static let kind = CMessageKind(
            name: "tailor.v1.DeleteUserResponse", initialize: tailor__v1__delete_user_response__init,
            size: tailor__v1__delete_user_response__get_packed_size, packInto: tailor__v1__delete_user_response__pack,
            unpack: tailor__v1__delete_user_response__unpack, free: tailor__v1__delete_user_response__free_unpacked)

        /// Serialized `tailor.v1.DeleteUserResponse`.
        public func serialized() throws -> [UInt8] {
            try Self.kind.pack { m, _ in
                m.pointee.history = history
                m.pointee.pairs = pairs
                m.pointee.feedback = feedback
                m.pointee.adapters = adapters
            }
        }

        /// Parses a serialized `tailor.v1.DeleteUserResponse`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, _ in
                DeleteUserResult(history: m.history, pairs: m.pairs, feedback: m.feedback, adapters: m.adapters)
            }
        }
    }
}
