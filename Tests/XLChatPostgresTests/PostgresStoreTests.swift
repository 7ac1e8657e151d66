import Testing
@testable import XLChatPostgres
