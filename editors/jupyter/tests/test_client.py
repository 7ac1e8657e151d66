"""The Python client and the IPython extension against the real `xlchat serve`."""
import threading
from pathlib import Path
import time

import pytest

from xlchat import Client, Rows, XLChat, XLChatError, find_binary
from xlchat.render import citations_html


def kind_of(excinfo):
    return excinfo.value.kind


def test_find_binary(binary, tmp_path, monkeypatch):
    assert find_binary(binary) == binary
    with pytest.raises(FileNotFoundError, match=r"not found at .*nope.*apt install \./xlchat_"):
        find_binary(str(tmp_path / "nope"))
    plain = tmp_path / "xlchat"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    with pytest.raises(FileNotFoundError, match=r"not an executable file; fix it with: chmod \+x"):
        find_binary(str(plain))
    # Not given, not on PATH: the installed locations (/usr/bin/xlchat from the .deb), else how to install.
    monkeypatch.delenv("XLCHAT_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_binary(installed=(str(tmp_path / "none"), binary)) == binary
    with pytest.raises(FileNotFoundError, match=r"not on PATH, not in .*none\).*apt install"):
        find_binary(installed=(str(tmp_path / "none"),))


def test_initialize_and_methods(binary, data_env):
    with Client(binary, env=data_env) as c:
        assert c.init_result["serverInfo"]["name"] == "xlchat"
        assert c.has_method("workbook/query")
        assert c.request("server/ping") == {}


def test_query_returns_rows(binary, data_env, sales_csv):
    wb = XLChat(sales_csv, binary=binary, env=data_env)
    try:
        assert wb.sheets == ["sales"] or len(wb.sheets) == 1
        table = wb.tables()[wb.sheets[0]]
        res = wb.query(f'SELECT region, SUM(units) AS units FROM "{table}" GROUP BY region ORDER BY region')
        try:
            import pandas  # noqa: F401
            assert list(res.columns) == ["region", "units"]
            assert res.values.tolist() == [["East", 7], ["North", 15], ["South", 20]]
        except ImportError:
            assert isinstance(res, Rows)
            assert res.columns == ["region", "units"]
            assert list(res) == [("East", 7), ("North", 15), ("South", 20)]
        assert wb.read(range="A2:B2") == [["North", "Apples"]]
    finally:
        wb.close()


def test_query_without_pandas(binary, data_env, sales_csv, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas → ImportError
    with XLChat(sales_csv, binary=binary, env=data_env) as wb:
        res = wb.query('SELECT product, price FROM "sales" WHERE units > 9 ORDER BY units')
        assert isinstance(res, Rows)
        assert res.columns == ["product", "price"]
        assert list(res) == [("Apples", 1.5), ("Pears", 2.25)]
        assert res.truncated is False


def test_text_buffer(binary, data_env):
    with XLChat(text="a;b\n1;2\n3;4\n", format="csv", name="buffer.csv", binary=binary, env=data_env) as wb:
        rows = wb.read()
        assert rows[-1] == [3, 4]


def test_bad_inputs_give_error_kinds(binary, data_env, sales_csv, tmp_path):
    with Client(binary, env=data_env) as c:
        with pytest.raises(XLChatError) as e:
            XLChat(tmp_path / "missing.xlsx", client=c)
        assert kind_of(e) == "fileNotFound"
        junk = tmp_path / "junk.xlsx"
        junk.write_bytes(b"PK\x03\x04" + b"\x07" * 64)  # a zip signature, then garbage
        with pytest.raises(XLChatError) as e:
            XLChat(junk, client=c)
        assert kind_of(e) == "corruptWorkbook"
        wb = XLChat(sales_csv, client=c)
        with pytest.raises(XLChatError) as e:
            wb.read("NoSuchSheet")
        assert kind_of(e) == "unknownSheet"
        with pytest.raises(XLChatError) as e:
            wb.read(range="ZZZ")
        assert kind_of(e) == "invalidRange"
        with pytest.raises(XLChatError) as e:
            wb.query("DROP TABLE x")
        assert kind_of(e) == "invalidQuery"
        wb.close()
        with pytest.raises(XLChatError) as e:
            wb.read("sales")
        assert kind_of(e) == "unknownWorkbook"


def test_index_progress_and_search(binary, data_env, sales_csv):
    with XLChat(sales_csv, binary=binary, env=data_env) as wb:
        seen = []
        res = wb.build_index(on_progress=seen.append)
        assert res["chunks"] > 0
        assert seen[0]["kind"] == "begin" and seen[-1]["kind"] == "end"
        hits = wb.search("Plums")
        assert any("Plums" in h["text"] for h in hits)


def test_corpus_xlsx(binary, data_env, corpus):
    with XLChat(corpus / "csvkit__dummy.xlsx", binary=binary, env=data_env) as wb:
        assert wb.outline["format"] == "xlsx"
        assert len(wb.read(limit=2)) >= 1


def test_trace_a_cell_and_a_citation(binary, data_env):
    from xlchat.client import first_cell
    assert [first_cell(r) for r in ["C3:C4", "$F$20", "a:a", "3:5"]] == ["C3", "F20", "A1", "A3"]
    d = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "files"
    assert d.is_dir(), f"the corpus is missing: {d}"
    with XLChat(d / "xlcalculator__use_case_01.xlsm", binary=binary, env=data_env) as wb:
        t = wb.trace({"sheet": "Tenth", "range": "C3:C4"})  # a citation: its first cell
        assert t["cell"]["formula"] == "SUM(A3,Hundred)"
        lines = str(t).split("\n")
        assert lines[0] == "Tenth!C3  =SUM(A3,Hundred)  → 102"
        assert any("Hundred (name) = Eighth!B1" in l for l in lines), lines
        assert any(l.endswith("└─ Eighth!B1  → 100") for l in lines), lines
        assert "<pre>" in t._repr_html_()
        dep = wb.trace("Eighth!B1", depth=1)
        assert str(dep).startswith("Eighth!B1  → 100\nUsed by:\n") and "Tenth!C3" in str(dep)
        with pytest.raises(XLChatError) as e:
            wb.trace("Nope!A1")
        assert "no sheet named 'Nope'" in str(e.value)


def test_citations_html_escapes():
    html = citations_html([{"sheet": "<b>Q1</b>", "range": "A1:B2"}])
    assert "&lt;b&gt;Q1&lt;/b&gt;" in html and "<td>A1:B2</td>" in html


def test_ipython_magics(binary, data_env, sales_csv, monkeypatch, capsys):
    from IPython.testing.globalipapp import get_ipython
    monkeypatch.setenv("XLCHAT_BIN", binary)
    for k, v in data_env.items():
        monkeypatch.setenv(k, v)
    ip = get_ipython()
    ip.run_line_magic("load_ext", "xlchat")
    try:
        ip.run_line_magic("xlchat", f"open {sales_csv}")
        out = capsys.readouterr().out
        assert "A1:D5" in out
        res = ip.run_line_magic("xlchat", 'query SELECT COUNT(*) AS n FROM "sales"')
        assert list(res.columns) == ["n"]
        ip.run_line_magic("xlchat", "read sales NoSuchRange")
        assert "invalidRange" in capsys.readouterr().err
    finally:
        ip.run_line_magic("unload_ext", "xlchat")


def _need_chat(c):
    if not c.has_method("chat/ask"):
        pytest.skip("server has no chat/ask yet (capabilities.methods lacks it)")


def test_ask_streams(binary, chat_env, sales_csv):
    with Client(binary, env=chat_env) as c:
        _need_chat(c)
        wb = XLChat(sales_csv, client=c)
        deltas = []
        ans = wb.ask("Which region sold most?", on_delta=deltas.append)
        assert len(deltas) > 1 and "".join(deltas) == str(ans)
        assert "iris flowers" in ans
        assert ans.citations and ans.citations[0]["workbookId"] == wb.workbook_id
        assert isinstance(ans.ungrounded, list)
        assert wb.session_id
        assert "xlchat-answer" in ans._repr_html_()


def test_ask_cancel(binary, chat_env, sales_csv):
    with Client(binary, env=chat_env) as c:
        _need_chat(c)
        wb = XLChat(sales_csv, client=c)
        first = threading.Event()
        rid, pending = c.start("chat/ask", {"workbookId": wb.workbook_id, "question": "answer slowly please"},
                               on_notification=lambda m, p: first.set())
        assert first.wait(10), "no chat/delta before cancelling"
        t0 = time.time()
        c.cancel(rid)
        with pytest.raises(XLChatError) as e:
            c.wait(pending, timeout=5)
        assert e.value.code == -32800
        assert time.time() - t0 < 5
        assert c.request("server/ping", timeout=5) == {}


def test_ask_timeout_cancels(binary, chat_env, sales_csv):
    with Client(binary, env=chat_env) as c:
        _need_chat(c)
        wb = XLChat(sales_csv, client=c)
        with pytest.raises(TimeoutError):
            wb.ask("answer slowly please", timeout=2)
        # ask() sent $/cancelRequest: the server is free again at once.
        assert c.request("server/ping", timeout=5) == {}


def test_cell_magic_streams(binary, chat_env, sales_csv, monkeypatch, capsys):
    from IPython.testing.globalipapp import get_ipython
    monkeypatch.setenv("XLCHAT_BIN", binary)
    for k, v in chat_env.items():
        monkeypatch.setenv(k, v)
    ip = get_ipython()
    ip.run_line_magic("load_ext", "xlchat")
    try:
        ip.run_line_magic("xlchat", f"open {sales_csv}")
        from xlchat.magics import _current
        _need_chat(_current["wb"].client)
        import xlchat.magics as magics
        shown = []
        monkeypatch.setattr(magics, "display", shown.append)
        capsys.readouterr()
        ip.run_cell_magic("xlchat", "", "Which region sold most?")
        out = capsys.readouterr().out
        assert "iris flowers" in out  # streamed into the cell's output
        html = shown[-1].data
        assert "<table class=\"xlchat-citations\">" in html and "<td>A1:B3</td>" in html
    finally:
        ip.run_line_magic("unload_ext", "xlchat")


def test_workspace_joins_files_and_follows_changes(binary, data_env, tmp_path):
    from xlchat import Workspace
    folder = tmp_path / "exports"
    (folder / "2024").mkdir(parents=True)
    (folder / "customers.csv").write_text("customer_id,segment\nc1,Retail\nc2,Trade\n")
    (folder / "2024" / "orders_01.csv").write_text("order_id,customer_id,amount\n1,c1,10.5\n2,c2,20\n")
    (folder / "2024" / "orders_02.csv").write_text("order_id,customer_id,amount\n3,c1,4.5\n")
    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 not a zip")
    (folder / "~$orders_01.csv").write_text("owner file")
    with Workspace(folder, binary=binary, env=data_env) as ws:
        assert set(ws.tables()) == {"customers", "orders_01", "orders_02"}
        assert ws.unions() == {"orders": ["orders_01", "orders_02"]}
        assert list(ws.errors()) == ["broken.xlsx"]
        assert ws.errors()["broken.xlsx"].startswith("corruptWorkbook")
        res = ws.query("SELECT c.segment, SUM(o.amount) FROM orders o JOIN customers c USING (customer_id) GROUP BY 1 ORDER BY 1")
        assert [list(r) for r in (res.values.tolist() if hasattr(res, "values") else res)] == [["Retail", 15], ["Trade", 20]]
        (folder / "2024" / "orders_02.csv").write_text("order_id,customer_id,amount\n3,c1,4.5\n4,c2,100\n")
        deadline = time.time() + 20
        while not ws.changes and time.time() < deadline:
            time.sleep(0.05)
        assert ws.changes and ws.changes[0]["changed"] == ["2024/orders_02.csv"]
        total = ws.query("SELECT SUM(amount) AS total FROM orders")
        assert (total.values.tolist() if hasattr(total, "values") else list(total)) in ([[135]], [(135,)], [[135.0]], [(135.0,)])


def test_workspace_ask_cites_files(binary, chat_env, tmp_path):
    from xlchat import Workspace
    folder = tmp_path / "books"
    (folder / "2023").mkdir(parents=True)
    (folder / "2023" / "sales.csv").write_text("region,amount\nNorth,10\nSouth,20\n")
    (folder / "targets.csv").write_text("region,target\nNorth,15\nSouth,25\n")
    with Client(binary, env=chat_env) as c:
        _need_chat(c)
        with Workspace(folder, client=c) as ws:
            deltas = []
            ans = ws.ask("How do sales compare with targets?", on_delta=deltas.append)
            assert "".join(deltas) == str(ans) and "iris flowers" in ans
            assert ans.citations and all(cit.get("file") for cit in ans.citations)
            assert {cit["file"] for cit in ans.citations} <= {"2023/sales.csv", "targets.csv"}
            assert ans.citations[0]["range"] == "A1:B3" and ans.stale is None
            first = ws.session_id
            again = ws.ask("And the South?")
            assert ws.session_id == first and again.session_id == first
            from xlchat.render import answer_html
            html = answer_html(ans)
            assert "<th>file</th>" in html and ans.citations[0]["file"] in html


def test_workspace_magic(binary, data_env, tmp_path, monkeypatch, capsys):
    from xlchat import magics
    monkeypatch.setenv("XLCHAT_BIN", binary)
    for k, v in data_env.items():
        monkeypatch.setenv(k, v)
    folder = tmp_path / "w"
    folder.mkdir()
    # Two months of one export: a union view (unrelated names with the same columns are not).
    (folder / "sales_2024_01.csv").write_text("x,y\n1,2\n")
    (folder / "sales_2024_02.csv").write_text("x,y\n3,4\n")
    m = magics.XLChatMagics(None)
    try:
        m.xlchat(f"workspace {folder}")
        out = capsys.readouterr().out
        assert "sales_2024_01: sales_2024_01.csv › sales_2024_01" in out and "union of 2 tables" in out
        (union,) = magics._current["ws"].unions()
        res = m.xlchat(f"query SELECT SUM(y) AS s FROM {union}")
        assert (res.values.tolist() if hasattr(res, "values") else list(res)) in ([[6]], [(6,)])
    finally:
        magics.close_current()
