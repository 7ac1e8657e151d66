import Foundation
import JSONRPC
import Synchronization
import XLChatProtocol

/// Requests run in-process on a session, for front ends that speak another protocol over the
/// same engines (`xlchat mcp`). Each call goes through the same dispatch, limits and
/// `ErrorMapping` as a request on the wire, so both front ends fail and truncate alike.
extension Session {
    private static let nextInternalID = Atomic<Int64>(1)

    /// Runs `method` with `params` as if it had arrived on the connection; the result as JSON,
    /// or the wire error (`code`, `message`, `data.kind`) it would have been answered with.
    public func perform(method: String, params: JSONValue?) async throws(ResponseError) -> JSONValue {
        let id = RequestID.string("in-process-\(Self.nextInternalID.add(1, ordering: .relaxed).oldValue)")
        let request = IncomingRequest(id: id, method: method, params: params)
        let context = RequestContext(id: id, method: method, connection: connection)
        let result: any Encodable & Sendable
        do {
            result = try await handle(request: request, context: context)
        } catch let e as ResponseError {
            throw e
        } catch {
            throw responseError(for: error, method: method)
        }
        return try Self.json(result, method: method)
    }

    /// The outline of a workbook this session opened (what `workbook/open` answered), re-read
    /// when the file changed since.
    public func outline(workbookId: String) async throws(ResponseError) -> JSONValue {
        do {
            let entry = try await sessionEntry(workbookId)
            return try Self.json(WireFormat.openResult(entry), method: "outline")
        } catch let e as ResponseError {
            throw e
        } catch {
            throw responseError(for: error, method: "outline")
        }
    }

    private static func json(_ value: any Encodable, method: String) throws(ResponseError) -> JSONValue {
        do {
            let data = try JSONRPCCoding.encoder().encode(value)
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw .internalError("internal error in \(method): cannot encode the result: \(error)")
        }
    }
}
