import CProtobufC
import TailorWireC

extension Frame {
    /// The frame serialized as a protobuf `tailor.v1.Frame` (without the length prefix).
    /// - Throws: `WireError.embeddedNUL` for a string field that holds a NUL byte.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let f = arena.make(Tailor__V1__Frame.self)
        tailor__v1__frame__init(f)
        f.pointee.stream_id = streamID
        switch kind {
        case let .request(r):
            let m = arena.make(Tailor__V1__Request.self)
            tailor__v1__request__init(m)
            m.pointee.service = try arena.cString(r.service, field: "request.service")
            m.pointee.method = try arena.cString(r.method, field: "request.method")
            m.pointee.payload = arena.binary(r.payload)
            m.pointee.timeout_ms = r.timeoutMS
            f.pointee.kind_case = TAILOR__V1__FRAME__KIND_REQUEST
            f.pointee.request = m
        case let .response(payload):
            let m = arena.make(Tailor__V1__Response.self)
            tailor__v1__response__init(m)
            m.pointee.payload = arena.binary(payload)
            f.pointee.kind_case = TAILOR__V1__FRAME__KIND_RESPONSE
            f.pointee.response = m
        case let .event(payload):
            let m = arena.make(Tailor__V1__Event.self)
            tailor__v1__event__init(m)
            m.pointee.payload = arena.binary(payload)
            f.pointee.kind_case = TAILOR__V1__FRAME__KIND_EVENT
            f.pointee.event = m
        case let .data(chunk, last):
            let m = arena.make(Tailor__V1__Data.self)
            tailor__v1__data__init(m)
            m.pointee.chunk = arena.binary(chunk)
            m.pointee.last = last ? 1 : 0
            f.pointee.kind_case = TAILOR__V1__FRAME__KIND_DATA
            f.pointee.data = m
        case let .cancel(reason):
            let m = arena.make(Tailor__V1__Cancel.self)
            tailor__v1__cancel__init(m)
            m.pointee.reason = try arena.cString(reason, field: "cancel.reason")
            f.pointee.kind_case = TAILOR__V1__FRAME__KIND_CANCEL
            f.pointee.cancel = m
        case let .status(st):
            let m = arena.make(Tailor__V1__Status.self)
            tailor__v1__status__init(m)
            m.pointee.code = st.code.rawValue
            m.pointee.message = try arena.cString(st.message, field: "status.message")
            m.pointee.field = try arena.cString(st.field, field: "status.field")
            f.pointee.kind_case = TAILOR__V1__FRAME__KIND_STATUS
            f.pointee.status = m
        }
        return CMessageReader.pack(
            UnsafePointer(f), size: tailor__v1__frame__get_packed_size,
            pack: tailor__v1__frame__pack)
    }

    /// Parses a serialized `tailor.v1.Frame` (the body after the length prefix).
    /// - Throws: `WireError` naming what is wrong: not a Frame, no kind, a string field with a
    ///   NUL or invalid UTF-8, an unknown status code.
    public init(serialized bytes: UnsafeRawBufferPointer) throws {
        self = try CMessageReader.read(
            bytes, type: "tailor.v1.Frame",
            unpack: tailor__v1__frame__unpack,
            free: tailor__v1__frame__free_unpacked
        ) { f, r in
            let id = f.pointee.stream_id
            switch f.pointee.kind_case {
            case TAILOR__V1__FRAME__KIND_REQUEST:
                let m = f.pointee.request.pointee
                return Frame(
                    streamID: id,
                    kind: .request(
                        Request(
                            service: try r.string(m.service, field: "request.service"),
                            method: try r.string(m.method, field: "request.method"),
                            payload: r.bytes(m.payload), timeoutMS: m.timeout_ms)))
            case TAILOR__V1__FRAME__KIND_RESPONSE:
                return Frame(streamID: id, kind: .response(payload: r.bytes(f.pointee.response.pointee.payload)))
            case TAILOR__V1__FRAME__KIND_EVENT:
                return Frame(streamID: id, kind: .event(payload: r.bytes(f.pointee.event.pointee.payload)))
            case TAILOR__V1__FRAME__KIND_DATA:
                let m = f.pointee.data.pointee
                return Frame(streamID: id, kind: .data(chunk: r.bytes(m.chunk), last: m.last != 0))
            case TAILOR__V1__FRAME__KIND_CANCEL:
                return Frame(
                    streamID: id,
                    kind: .cancel(reason: try r.string(f.pointee.cancel.pointee.reason, field: "cancel.reason")))
            case TAILOR__V1__FRAME__KIND_STATUS:
                let m = f.pointee.status.pointee
                guard let code = StatusCode(rawValue: m.code) else { throw WireError.unknownStatusCode(m.code) }
                return Frame(
                    streamID: id,
                    kind: .status(
                        Status(
                            code: code,
                            message: try r.string(m.message, field: "status.message"),
                            field: try r.string(m.field, field: "status.field"))))
            default:
                throw WireError.emptyFrame
            }
        }
    }

    /// Parses a serialized `tailor.v1.Frame`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try Frame(serialized: $0) }
    }
}
