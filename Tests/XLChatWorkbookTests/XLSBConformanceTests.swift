import Foundation
import Testing
@testable import XLChatWorkbook

@Suite("XLSB conformance with the corpus")
struct XLSBConformanceTests {
    @Test("every xlsb in the corpus reads as calamine reads it, or differs as explained")
    func corpus() throws {
        guard let r = FormatsConformance.run(extensions: ["xlsb"], allowed: [:], rules: xlsxExplainedRules,
                                             open: { try Workbooks.open(path: $0) }) else {
            Issue.record("XLSBConformanceTests: corpus not found beside the package: this test needs the corpus")
            return
        }
        print("XLSBConformanceTests: \(r.files) files, \(r.cells) cells compared, \(r.explained) explained differences, \(r.unexplained.count) unexplained")
        for d in r.unexplained { print("  " + String(d.prefix(240))) }
        #expect(r.unexplained.isEmpty, "\(r.unexplained.count) unexplained differences from calamine")
        #expect(r.files >= 4)
        #expect(r.cells > 20)
    }

    @Test("the corpus xlsb opens as xlsb through Workbooks.open, the password one is encryptedWorkbook")
    func dispatch() throws {
        guard let dir = xlsxCorpusDirectory() else { Issue.record("XLSBConformanceTests: corpus absent: this test needs the corpus"); return }
        let base = try Workbooks.open(path: dir.appendingPathComponent("files/calamine__base.xlsb").path, evaluateFormulas: false)
        #expect(base is XLSBReader && base.format == .xlsb)
        let kind = xlsxErrorKind { _ = try Workbooks.open(path: dir.appendingPathComponent("files/calamine__password.xlsb").path) }
        #expect(kind == .encryptedWorkbook)
    }
}
