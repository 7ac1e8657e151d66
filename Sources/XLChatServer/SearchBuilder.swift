import Foundation
import XLChatIndex

extension XLChatServer {
    /// Lets a search of a workbook whose search part is missing (the analyst's search tool)
    /// build it first, through the workbook's handle, so concurrent searches share one build.
    func installSearchBuilder(on index: WorkbookIndex) {
        index.setSearchBuilder { [weak self] hash in
            guard let self else { return }
            guard let handle = self.workbooks.handle(forHash: hash) else {
                throw IndexError(.indexNotBuilt, "the search index of \(hash) is not built and its workbook is not open")
            }
            try await handle.ensureSearchIndex(embedder: try await self.embedder())
        }
    }
}
