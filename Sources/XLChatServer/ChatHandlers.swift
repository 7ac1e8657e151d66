import Foundation
import JSONRPC
import XLChatAgent
import XLChatIndex
import XLChatLLM
import XLChatProtocol
import XLChatWorkbook

/// chat/* handlers: the analyst (XLChatAgent) behind the wire. Deltas and steps go out as
/// notifications, in order, before the reply; cancelling the request cancels the agent's task,
/// which closes the model's HTTP stream.
extension Session {
    func chatAsk(_ params: ChatAskRequest, context: RequestContext) async throws -> ChatAskResult {
        let question = params.question.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty else { throw ResponseError.invalidParams("invalid params: 'question' is empty") }
        if let s = params.sessionId, s.isEmpty || s.count > 200 {
            throw ResponseError.invalidParams("invalid params: 'sessionId' must be 1 to 200 characters")
        }
        let index = try server.index()
        let embedder = try await server.embedder()
        // What the analyst works on: one workbook, or a workspace (exactly one of the two).
        let source: any AnalysisSource
        let cite: (SourceRange) -> Citation
        switch (params.workbookId, params.workspaceId) {
        case (let workbookId?, nil):
            let (handle, _) = try await sessionWorkbook(workbookId)
            // The analyst gets a workbook whose typed tables are built (what SQL needs; usually by
            // workbook/open already); the search part builds in the background, and the analyst's
            // search tool waits for it if it asks first.
            let owner = connection.id
            let outline = try await withProgress(token: params.workDoneToken, connection: context.connection,
                                                 title: "Indexing \(handle.displayName)") { progress in
                try await handle.ensureIndexed(owner: owner) { update in progress.report(fraction: update.fraction, message: update.message) }
            }
            handle.startSearchIndex(embedder: embedder)
            source = WorkbookSource(outline: outline, index: index, embedder: embedder, handle: handle)
            cite = { Citation(workbookId: handle.id, sheet: $0.sheet, range: $0.range.description) }
        case (nil, let workspaceId?):
            let workspace = try sessionWorkspace(workspaceId)
            // The last complete state: a refresh commits in one transaction, and while one
            // runs the answer says it is from the state before it.
            let stale = workspace.isChanging ? Self.staleWorkspaceNote : nil
            let builder = searchPartBuilder(workspace.index, embedder: embedder)
            let registry = server.workbooks
            source = try await Blocking.run(owner: connection.id) { _ in
                try WorkspaceSource(workspace: workspace.index, index: index, embedder: embedder, stale: stale, searchBuilder: builder,
                                    handleFor: { registry.existing(path: $0) })
            }
            cite = { Citation(workspaceId: workspace.id, file: $0.file, sheet: $0.sheet, range: $0.range.description) }
        case (nil, nil):
            throw ResponseError.invalidParams("invalid params: give 'workbookId' (a workbook from workbook/open) or 'workspaceId' (a folder from workspace/open)")
        case (_?, _?):
            throw ResponseError.invalidParams("invalid params: give either 'workbookId' or 'workspaceId', not both")
        }
        let analyst = Analyst(client: try server.modelClient(), index: index, embedder: embedder, sessions: try server.sessionStore(),
                              options: AgentOptions(queryTimeout: Double(server.configuration.queryTimeoutMs) / 1000,
                                                    contextTokens: server.configuration.contextTokens))
        let model = (params.model?.isEmpty == false ? params.model : nil) ?? server.configuration.model
        let connection = context.connection
        let requestId = context.id
        // On the engine's threads: the agent's SQL tool runs synchronous queries (up to their budget).
        let answer = try await Blocking.runAsync(owner: connection.id) { try await analyst.ask(source: source, question: question, sessionId: params.sessionId, model: model) { event in
            switch event {
            case .delta(let text):
                await connection.send(ChatDeltaNotification(requestId: requestId, text: text))
            case .step(let step):
                await connection.send(ChatStepNotification(requestId: requestId, tool: step.tool, arguments: step.arguments,
                                                           summary: step.summary, ranges: step.ranges))
            case .status(let status):
                await connection.send(ChatStatusNotification(requestId: requestId, phase: status.phase.rawValue, step: status.step,
                                                             promptTokens: status.promptTokens, contextTokens: status.contextTokens,
                                                             elapsedMs: (status.elapsedMs * 10).rounded() / 10))
            }
        } }
        return ChatAskResult(
            answer: answer.answer,
            citations: answer.citations.map(cite),
            sessionId: answer.sessionId, model: answer.model, cached: answer.cached, durationMs: answer.durationMs,
            ungrounded: answer.ungrounded,
            steps: answer.steps.map { ChatStepInfo(tool: $0.tool, arguments: $0.arguments, summary: $0.summary, ranges: $0.ranges) },
            contextWindow: answer.contextWindow.map { ChatContextWindow(tokens: $0.tokens, source: $0.source.rawValue, detail: $0.detail) },
            tokenCounting: answer.tokenCounting.isEmpty ? nil : answer.tokenCounting,
            usage: answer.usage.isEmpty ? nil : answer.usage.map {
                ChatCallUsage(promptTokens: $0.promptTokens, serverPromptTokens: $0.serverPromptTokens, replyTokens: $0.replyTokens,
                              timeToFirstTokenMs: $0.timeToFirstTokenMs, durationMs: $0.durationMs, outline: "\($0.outline)",
                              budgetActions: $0.budgetActions, outcome: $0.outcome, budgetMs: $0.budgetMs)
            },
            stale: answer.stale)
    }

    func chatHistory(_ params: ChatHistoryRequest) throws -> ChatHistoryResult {
        let messages = try server.sessionStore().history(params.sessionId)
        let iso = ISO8601DateFormatter()
        return ChatHistoryResult(messages: messages.map {
            ChatMessageInfo(role: $0.role.rawValue, content: $0.content, createdAt: iso.string(from: Date(timeIntervalSince1970: $0.createdAt)),
                            citations: $0.role == .assistant ? $0.citations : nil, ungrounded: $0.role == .assistant ? $0.ungrounded : nil)
        })
    }

    func chatReset(_ params: ChatResetRequest) throws -> VoidResponse {
        try server.sessionStore().reset(params.sessionId)
        return VoidResponse()
    }

    /// `server/health`'s view of the model server (one attempt, short timeouts).
    func llmHealth() async -> LLMHealth {
        let config = server.configuration
        let client: any ModelClient
        do {
            client = try server.modelClient(policy: HTTPPolicy(firstByteTimeout: 3, stallTimeout: 3, maxAttempts: 1))
        } catch {
            return LLMHealth(endpoint: config.provider, reachable: false, version: nil, model: config.model, modelPulled: nil,
                             problem: "\(error)")
        }
        var wanted = [config.model]
        if !config.embedModel.isEmpty { wanted.append(config.embedModel) }
        let status = await client.status(models: wanted)
        return LLMHealth(endpoint: status.endpoint, reachable: status.reachable, version: status.version, model: config.model,
                         modelPulled: status.models[config.model],
                         embedModel: config.embedModel.isEmpty ? nil : config.embedModel,
                         embedModelPulled: config.embedModel.isEmpty ? nil : status.models[config.embedModel],
                         problem: status.problem?.message)
    }
}
