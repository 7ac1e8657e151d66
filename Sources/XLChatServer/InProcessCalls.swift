import Foundation
import JSONRPC
import XLChatProtocol

/// Calls that in-process front ends (`xlchat mcp`) make besides the requests of the core.
extension Session {
    /// The outline of a workbook this session opened (what `workbook/open` answered), re-read
    /// when the file changed since.
    /// - Throws: `ResponseError`: `unknownWorkbook` when this session did not open `workbookId`,
    ///   the reading errors of `workbook/open` when the changed file cannot be read.
    public func outline(workbookId: String) async throws(ResponseError) -> WorkbookOpenResult {
        do {
            let (handle, outline) = try await sessionWorkbook(workbookId)
            return WireFormat.openResult(outline: outline, workbookId: handle.id, path: handle.path)
        } catch {
            throw responseError(for: error, method: "outline")
        }
    }
}
