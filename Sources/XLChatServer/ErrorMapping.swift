import Foundation
import Logging
import XLChatIndex
import XLChatLLM
import XLChatProtocol
import XLChatWorkbook

/// The one place where errors become wire errors. Engine errors carry a kind that maps to the
/// contract's `data.kind`; anything unexpected is logged in full and answered as -32603.
enum ErrorMapping {
    static func responseError(for error: any Error, method: String, logger: Logger) -> ResponseError {
        switch error {
        case let e as ResponseError:
            return e
        case is CancellationError:
            return .cancelled
        case let e as WorkbookError:
            return .work(kind(e.kind), e.message)
        case let e as IndexError:
            switch e.kind {
            case .invalidQuery: return .work(.invalidQuery, e.message)
            case .queryTimeout: return .work(.invalidQuery, e.message, extra: ["timeout": .bool(true)])
            case .indexNotBuilt: return .work(.indexNotBuilt, e.message)
            case .unknownWorkbook: return .work(.unknownWorkbook, e.message)
            case .fileChanged: return .work(.fileChanged, e.message)
            case .storageFull: return .work(.storageFull, e.message)
            case .storeDenied: return .work(.storeDenied, e.message)
            case .storeUnavailable: return .work(.storeUnavailable, e.message)
            case .embedderFailed, .storage:
                logger.error("index error in \(method): \(e)")
                return .internalError("\(method) failed: \(e.message)")
            }
        case let e as LLMError:
            switch e.kind {
            case .unavailable: return .work(.llmUnavailable, e.message)
            case .modelNotFound: return .work(.modelNotFound, e.message)
            case .streamFailed, .timeout, .badResponse, .toolsUnsupported, .invalidConfiguration, .contextExceeded:
                logger.error("model server error in \(method): \(e)")
                return .internalError("the model server failed (\(e.kind.rawValue)): \(e.message)")
            }
        default:
            logger.error("internal error in \(method): \(String(reflecting: error))")
            return .internalError("internal error in \(method): \(error)")
        }
    }

    static func kind(_ k: WorkbookError.Kind) -> ErrorKind {
        switch k {
        case .fileNotFound: return .fileNotFound
        case .unsupportedFormat: return .unsupportedFormat
        case .corruptWorkbook: return .corruptWorkbook
        case .encryptedWorkbook: return .encryptedWorkbook
        case .tooLarge: return .tooLarge
        case .unknownSheet: return .unknownSheet
        case .invalidRange: return .invalidRange
        }
    }
}
