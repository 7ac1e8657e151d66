import Foundation
import Testing
@testable import XLChatAgent

/// Issue 14, item 10: the answer cache and the conversations are bounded in count and age.
@Suite struct SessionStoreLimitsTests {
    func store(_ limits: SessionStore.Limits) throws -> SessionStore {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-sessions-\(UUID())")
        return try SessionStore(dataDirectory: dir, limits: limits)
    }

    static let answer = CachedAnswer(answer: "42", citations: [], ungrounded: [], steps: [])

    @Test func answerCacheKeepsTheNewestWithinItsCap() throws {
        var limits = SessionStore.Limits()
        limits.maxCachedAnswers = 5
        let s = try store(limits)
        for i in 0..<20 { s.store("k\(i)", Self.answer) }
        let kept = (0..<20).filter { s.cached("k\($0)") != nil }
        #expect(kept.count == 5)
        #expect(kept.contains(19) && !kept.contains(0))
    }

    @Test func expiredAnswersAreNotServed() throws {
        var limits = SessionStore.Limits()
        limits.cachedAnswerLifetime = -1  // everything is already too old
        let s = try store(limits)
        s.store("k", Self.answer)
        #expect(s.cached("k") == nil)
    }

    @Test func conversationsAreCappedInTurnsAndCount() throws {
        var limits = SessionStore.Limits()
        limits.maxMessagesPerSession = 6
        limits.maxSessions = 3
        let s = try store(limits)
        for i in 0..<10 { try s.appendTurn("a", question: "q\(i)", answer: "a\(i)", citations: [], ungrounded: []) }
        let a = try s.history("a")
        #expect(a.count == 6)
        #expect(a.last?.content == "a9")
        for name in ["b", "c", "d", "e"] { try s.appendTurn(name, question: "q", answer: "x", citations: [], ungrounded: []) }
        #expect(try s.history("a").isEmpty && s.history("b").isEmpty)  // the least recently used went
        #expect(try !s.history("e").isEmpty)
    }
}
