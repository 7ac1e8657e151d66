// XLChatAgent: the spreadsheet analyst. `Analyst.ask` builds the prompt (outline + search
// hits, in delimited data blocks), runs the tool loop (`sql`, `read_range`, `search`) against
// a `ModelClient`, streams `AgentEvent`s, and returns an `AgentAnswer` with merged citations
// (`Citations`) and grounding (`Grounding`). `SessionStore` keeps conversations and the answer
// cache in SQLite (`sessions.sqlite` under the data directory).
