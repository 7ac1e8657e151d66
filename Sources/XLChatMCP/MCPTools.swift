import Foundation
import XLChatProtocol
import XLChatServer

/// One MCP tool: its name, what it does, and the JSON Schema of its arguments.
public struct MCPTool: Sendable {
    public let name: String
    public let description: String
    /// `properties` of the input schema, by name.
    public let properties: [String: JSONValue]
    public let required: [String]

    /// Names of the arguments the tool accepts.
    public var parameters: Set<String> { Set(properties.keys) }

    /// The entry of `tools/list`.
    public var descriptor: JSONValue {
        [
            "name": .string(name),
            "description": .string(description),
            "inputSchema": [
                "type": "object",
                "properties": .object(properties),
                "required": .array(required.map { .string($0) }),
                "additionalProperties": false,
            ],
            // Every tool only reads: the workbook files are never written.
            "annotations": ["readOnlyHint": true, "destructiveHint": false, "openWorldHint": false],
        ]
    }
}

/// The tools `xlchat mcp` serves. Limits are the JSON-RPC server's (protocol/README.md).
public enum MCPTools {
    static let workbookId: JSONValue = [
        "type": "string", "description": "The id open_workbook returned (like wb-0123456789abcdef).",
    ]

    public static let openWorkbook = MCPTool(
        name: "open_workbook",
        description: """
            Open a spreadsheet file (\(XLChatServer.formats.joined(separator: ", "))) and return its outline: the workbookId to use \
            with the other tools, each sheet's used range, size and tables (Excel tables, or blocks found on the \
            sheet: header, typed columns, total/subtotal rows left out of the data, SQL parts of very wide tables), \
            merged ranges, defined names and warnings.
            """,
        properties: ["path": ["type": "string", "description": "Path of the file on this machine (absolute, or relative to the server's directory)."]],
        required: ["path"])

    public static let outline = MCPTool(
        name: "outline",
        description: "The outline of an open workbook (as open_workbook returns it), re-read if the file changed since.",
        properties: ["workbookId": workbookId],
        required: ["workbookId"])

    public static let readRange = MCPTool(
        name: "read_range",
        description: """
            Read cell values from one sheet: a range in A1 notation (like B2:D20), or the sheet's used range \
            when none is given. Rows come as arrays of values (numbers, strings, booleans, ISO dates, null for \
            empty); 'truncated' says when the limit cut them short.
            """,
        properties: [
            "workbookId": workbookId,
            "sheet": ["type": "string", "description": "The sheet's name, as the outline gives it."],
            "range": ["type": "string", "description": "A1 range such as A1:F50 (default: the used range)."],
            "limit": ["type": "integer", "minimum": 1, "maximum": 100_000, "description": "Most rows to return (default 1000)."],
        ],
        required: ["workbookId", "sheet"])

    public static let query = MCPTool(
        name: "query",
        description: """
            Run one read-only SQL SELECT (SQLite dialect) over the workbook's inferred tables; the outline names \
            each table and its columns. Builds the workbook's index first if needed. Returns columns, rows, and \
            for each row the sheet range it came from.
            """,
        properties: [
            "workbookId": workbookId,
            "sql": ["type": "string", "description": "A single SELECT (or WITH ... SELECT) statement."],
            "limit": ["type": "integer", "minimum": 1, "maximum": 100_000, "description": "Most rows to return (default 500)."],
        ],
        required: ["workbookId", "sql"])

    public static let search = MCPTool(
        name: "search",
        description: """
            Search the workbook's cells and rows for text (codes, names, phrases); builds the workbook's search \
            index when it has none. Returns the best matches with their sheet, range and text.
            """,
        properties: [
            "workbookId": workbookId,
            "query": ["type": "string", "description": "What to look for."],
            "limit": ["type": "integer", "minimum": 1, "maximum": 100, "description": "Most results (default 10)."],
        ],
        required: ["workbookId", "query"])

    static let workspaceId: JSONValue = [
        "type": "string", "description": "The id open_workspace returned (like ws-0123456789abcdef).",
    ]

    public static let openWorkspace = MCPTool(
        name: "open_workspace",
        description: """
            Open every spreadsheet under a folder as one workspace: each file is indexed (unchanged files are \
            not read again), and all their tables share one SQL namespace with readable names (file__table), \
            plus union views over files with the same columns (a _file column says which). Returns the \
            workspaceId, each file's status (ready, or its error: corrupt, encrypted, too large), the tables \
            and the unions. Hidden folders and lock files are skipped; the folder is watched for changes.
            """,
        properties: [
            "path": ["type": "string", "description": "The folder on this machine (absolute, or relative to the server's directory)."],
            "include": ["type": "array", "items": ["type": "string"], "description": "Globs on the path relative to the folder to take (like *.csv, 2024/*)."],
            "exclude": ["type": "array", "items": ["type": "string"], "description": "Globs on the path relative to the folder to leave out."],
        ],
        required: ["path"])

    public static let queryWorkspace = MCPTool(
        name: "query_workspace",
        description: """
            Run one read-only SQL SELECT (SQLite dialect) over a workspace's tables and union views, as \
            open_workspace names them; joins across files work. Returns columns, rows, for each row the file, \
            sheet and range it came from, and warnings (such as a join whose key repeats, which inflates totals).
            """,
        properties: [
            "workspaceId": workspaceId,
            "sql": ["type": "string", "description": "A single SELECT (or WITH ... SELECT) statement."],
            "limit": ["type": "integer", "minimum": 1, "maximum": 100_000, "description": "Most rows to return (default 500)."],
        ],
        required: ["workspaceId", "sql"])

    public static let searchWorkspace = MCPTool(
        name: "search_workspace",
        description: """
            Search every file of a workspace for text (codes, names, phrases); builds each file's search index \
            on first use. Returns the best matches across files, each with its file, sheet, range, table and text, \
            and the files that could not be searched, with why.
            """,
        properties: [
            "workspaceId": workspaceId,
            "query": ["type": "string", "description": "What to look for."],
            "limit": ["type": "integer", "minimum": 1, "maximum": 100, "description": "Most results (default 10)."],
        ],
        required: ["workspaceId", "query"])

    public static let all = [openWorkbook, outline, readRange, query, search, openWorkspace, queryWorkspace, searchWorkspace]

    public static func named(_ name: String) -> MCPTool? { all.first { $0.name == name } }

    /// The JSON-RPC method names an engine message may mention, as this front end's tool names
    /// ("open it with workbook/open first" → "open it with open_workbook first").
    public static func toolVocabulary(_ message: String) -> String {
        var out = message
        for (method, tool) in [(WorkbookOpenRequest.method, openWorkbook.name), (WorkbookReadRequest.method, readRange.name),
                               (WorkbookQueryRequest.method, query.name), (IndexSearchRequest.method, search.name),
                               (WorkspaceOpenRequest.method, openWorkspace.name), (WorkspaceQueryRequest.method, queryWorkspace.name),
                               (WorkspaceSearchRequest.method, searchWorkspace.name)] {
            out = out.replacingOccurrences(of: method, with: tool)
        }
        return out
    }

    static let instructions = """
        xlchat reads spreadsheets locally. Call open_workbook with a file path first; its outline gives the \
        workbookId, the sheets and the inferred tables. Then read_range for cells, query for SQL over the tables, \
        search to find text. For a folder of files, open_workspace, then query_workspace (SQL across the files, \
        joins and unions) and search_workspace. Every result names the file and sheet ranges it came from.
        """
}
