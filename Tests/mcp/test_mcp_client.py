"""`xlchat mcp` driven by a real MCP client: PyPI's `mcp` package over stdio.

Run through Tests/mcp/run.sh (it makes a venv with `mcp` and pytest). XLCHAT_BIN names the
built binary (default: .build/debug/xlchat under the package root).
"""
import json
import os
import pathlib
import tempfile

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("XLCHAT_BIN") or str(ROOT / ".build" / "debug" / "xlchat")
CORPUS = (ROOT / ".." / "shared" / "corpus").resolve()

ORDERS = """id,code,product,amount
1,ORD-11730,Widget,3.5
2,ORD-11731,Gadget,5
3,ORD-11732,Widget,10
4,ORD-11733,Sprocket,2.25
5,ORD-11734,Gadget,4
"""


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="xlchat-mcp-py-") as d:
        path = pathlib.Path(d)
        (path / "orders.csv").write_text(ORDERS)
        yield path


def run_session(workdir, body):
    """Starts `xlchat mcp`, initializes a ClientSession, runs `body(session)`."""
    params = StdioServerParameters(command=BIN, args=["mcp"],
                                   env={"XLCHAT_DATA_DIR": str(workdir / "data"), "PATH": os.environ.get("PATH", "")})

    async def main():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                return await body(session, init)

    return anyio.run(main)


async def call(session, tool, **arguments):
    """(isError, payload) of a tool call; the payload is the JSON of its text content."""
    result = await session.call_tool(tool, arguments)
    assert len(result.content) == 1 and result.content[0].type == "text", result
    return bool(result.is_error), json.loads(result.content[0].text)


def test_handshake_lists_the_tools(workdir):
    async def body(session, init):
        assert init.server_info.name == "xlchat"
        assert init.protocol_version in ("2025-03-26", "2024-11-05")
        assert init.capabilities.tools is not None
        tools = (await session.list_tools()).tools
        assert [t.name for t in tools] == ["open_workbook", "outline", "read_range", "query", "search",
                                           "open_workspace", "query_workspace", "search_workspace"]
        for t in tools:
            assert t.input_schema["type"] == "object"
            assert t.description
        await session.send_ping()

    run_session(workdir, body)


def test_tools_answer_about_a_workbook(workdir):
    async def body(session, init):
        failed, outline = await call(session, "open_workbook", path=str(workdir / "orders.csv"))
        assert not failed, outline
        wb = outline["workbookId"]
        sheet = outline["sheets"][0]
        assert sheet["range"] == "A1:D6"
        assert [c["name"] for c in sheet["table"]["columns"]] == ["id", "code", "product", "amount"]
        table = sheet["table"]["name"]

        failed, again = await call(session, "outline", workbookId=wb)
        assert not failed and again == outline

        failed, read = await call(session, "read_range", workbookId=wb, sheet=sheet["name"], range="B2:D3")
        assert not failed
        assert read["rows"] == [["ORD-11730", "Widget", 3.5], ["ORD-11731", "Gadget", 5]]
        failed, limited = await call(session, "read_range", workbookId=wb, sheet=sheet["name"], limit=3)
        assert len(limited["rows"]) == 3 and limited["truncated"] is True

        # search first: the index is not built yet, the tool builds it.
        failed, found = await call(session, "search", workbookId=wb, query="ORD-11734")
        assert not failed, found
        assert any("ORD-11734" in hit["text"] for hit in found["results"])

        failed, q = await call(session, "query", workbookId=wb,
                               sql=f'SELECT product, SUM(amount) AS total FROM "{table}" GROUP BY product ORDER BY total DESC')
        assert not failed, q
        assert q["columns"] == ["product", "total"]
        assert q["rows"][0] == ["Widget", 13.5]
        assert len(q["ranges"]) == len(q["rows"])

    run_session(workdir, body)


def test_workspace_tools_join_two_files_and_search_them(workdir):
    folder = workdir / "folder"
    folder.mkdir()
    (folder / "orders.csv").write_text(ORDERS)
    (folder / "products.csv").write_text("product,category\nWidget,Tools\nGadget,Toys\nSprocket,Tools\n")
    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04not a zip")

    async def body(session, init):
        failed, ws = await call(session, "open_workspace", path=str(folder))
        assert not failed, ws
        status = {b["path"]: b for b in ws["workbooks"]}
        assert status["orders.csv"]["status"] == "ready"
        assert status["broken.xlsx"]["errorKind"] == "corruptWorkbook"
        failed, q = await call(session, "query_workspace", workspaceId=ws["workspaceId"],
                               sql="SELECT p.category, sum(o.amount) FROM orders o JOIN products p "
                                   "ON o.product = p.product GROUP BY 1 ORDER BY 1")
        assert not failed, q
        assert q["rows"] == [["Tools", 15.75], ["Toys", 9]]
        failed, found = await call(session, "search_workspace", workspaceId=ws["workspaceId"], query="ORD-11733", limit=3)
        assert not failed, found
        assert found["results"][0]["file"] == "orders.csv" and "ORD-11733" in found["results"][0]["text"]
        failed, err = await call(session, "query_workspace", workspaceId="ws-nope", sql="SELECT 1")
        assert failed and err["error"]["kind"] == "unknownWorkbook"

    run_session(workdir, body)


def test_bad_inputs_are_tool_errors_with_kinds(workdir):
    (workdir / "broken.xlsx").write_bytes(b"PK\x03\x04" + b"A" * 300)

    async def body(session, init):
        _, outline = await call(session, "open_workbook", path=str(workdir / "orders.csv"))
        wb, sheet = outline["workbookId"], outline["sheets"][0]["name"]
        cases = [
            ("open_workbook", {"path": str(workdir / "missing.xlsx")}, "fileNotFound"),
            ("open_workbook", {"path": str(workdir)}, "unsupportedFormat"),
            ("open_workbook", {"path": str(workdir / "broken.xlsx")}, "corruptWorkbook"),
            ("open_workbook", {}, "invalidParams"),
            ("outline", {"workbookId": "wb-0000000000000000"}, "unknownWorkbook"),
            ("read_range", {"workbookId": wb, "sheet": "Nope"}, "unknownSheet"),
            ("read_range", {"workbookId": wb, "sheet": sheet, "range": "ZZZZ1:A"}, "invalidRange"),
            ("query", {"workbookId": wb, "sql": "DROP TABLE x"}, "invalidQuery"),
            ("query", {"workbookId": wb, "sql": "SELECT * FROM no_such_table"}, "invalidQuery"),
            ("search", {"workbookId": "wb-0000000000000000", "query": "x"}, "unknownWorkbook"),
        ]
        password = CORPUS / "files" / "calamine__password.xls"
        if password.exists():
            cases.append(("open_workbook", {"path": str(password)}, "encryptedWorkbook"))
        for tool, args, kind in cases:
            failed, payload = await call(session, tool, **args)
            assert failed, (tool, args, payload)
            assert payload["error"]["kind"] == kind, (tool, args, payload)
            assert payload["error"]["message"]
        with pytest.raises(MCPError) as info:
            await session.call_tool("drop_everything", {})
        assert info.value.error.code == -32602

    run_session(workdir, body)


@pytest.mark.skipif(not (CORPUS / "expected").is_dir(), reason=f"corpus absent at {CORPUS}")
def test_corpus_sheet_names_match_calamine(workdir):
    files = sorted(p for p in (CORPUS / "files").iterdir() if p.suffix in (".xlsx", ".xlsm", ".xls"))
    expected = {}
    for f in files:
        e = json.loads((CORPUS / "expected" / (f.name + ".json")).read_text())
        expected[f] = e["calamine"]

    async def body(session, init):
        compared = 0
        for f, cal in expected.items():
            failed, payload = await call(session, "open_workbook", path=str(f))
            if "error" in cal:
                continue  # calamine could not read it either; the kind is checked above
            if failed:
                # A file calamine reads must open, unless ours names a real reason (BIFF2-4 etc.).
                assert payload["error"]["kind"] in ("unsupportedFormat", "corruptWorkbook", "encryptedWorkbook"), (f, payload)
                continue
            names = [s["name"] for s in payload["sheets"]]
            assert names == cal["sheet_names"], (f.name, names, cal["sheet_names"])
            compared += 1
        assert compared >= 50, compared

    run_session(workdir, body)
