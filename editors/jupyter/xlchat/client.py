"""A JSON-RPC 2.0 client for `xlchat serve`, on the standard library alone."""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
from typing import Any, Callable, Dict, List, Optional


class XLChatError(Exception):
    """An error reply. `code` is the JSON-RPC code; `kind` the engine's error kind for -32001."""

    def __init__(self, error: Dict[str, Any]):
        super().__init__(error.get("message", "xlchat error"))
        self.code = error.get("code")
        self.data = error.get("data")
        self.kind = (self.data or {}).get("kind") if isinstance(self.data, dict) else None


class ServerGone(XLChatError):
    pass


#: Where the .deb installs the binary, and where the README says to put a downloaded one; looked
#: at after PATH (a notebook server started from a desktop may have a short PATH).
INSTALLED_PATHS = ("/usr/bin/xlchat", "/usr/local/bin/xlchat")
INSTALL_HINT = ("Install xlchat: on Debian/Ubuntu `sudo apt install ./xlchat_<version>_<arch>.deb`, or put the "
                "`xlchat` binary on PATH; see \"Install\" in the xlchat README.")


def find_binary(explicit: Optional[str] = None, installed=INSTALLED_PATHS) -> str:
    """The xlchat binary: `explicit`, else $XLCHAT_BIN, else `xlchat` on PATH, else the first of
    `installed` that is executable. Raises FileNotFoundError saying what is wrong and how to fix
    it (a path that does not exist or is not executable, or no binary anywhere)."""
    for cand, where in ((explicit, "binary="), (os.environ.get("XLCHAT_BIN"), "$XLCHAT_BIN")):
        if cand:
            if not os.path.exists(cand):
                raise FileNotFoundError(f"xlchat binary not found at {cand} ({where}). {INSTALL_HINT}")
            if os.path.isdir(cand) or not os.access(cand, os.X_OK):
                raise FileNotFoundError(f"xlchat binary at {cand} ({where}) is not an executable file; "
                                        f"fix it with: chmod +x '{cand}'")
            return os.path.abspath(cand)
    found = shutil.which("xlchat")
    if found:
        return found
    for cand in installed:
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise FileNotFoundError(f"xlchat binary not found (not on PATH, not in {' or '.join(installed)}). {INSTALL_HINT} "
                            "Or pass binary=... or set XLCHAT_BIN.")


class _Pending:
    __slots__ = ("event", "result", "error", "on_notification")

    def __init__(self):
        self.event = threading.Event()
        self.result = None
        self.error = None
        self.on_notification = None


class Client:
    """One `xlchat serve` subprocess. Thread-safe: a reader thread dispatches replies and
    notifications; `request` blocks until its reply arrives."""

    def __init__(self, binary: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                 args: Optional[List[str]] = None):
        self.binary = find_binary(binary)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([self.binary] + (args or ["serve"]), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pending: Dict[Any, _Pending] = {}
        self._listeners: List[Callable[[str, Any], None]] = []
        self.stderr_lines: List[str] = []
        self._closed = False
        threading.Thread(target=self._read_loop, daemon=True).start()
        threading.Thread(target=self._stderr_loop, daemon=True).start()
        self.init_result = self.request("initialize", {"processId": os.getpid(),
                                                       "clientInfo": {"name": "xlchat-python", "version": "0.1.0"}})
        self.notify("initialized", {})

    # framing ---------------------------------------------------------------
    def _send(self, obj: Dict[str, Any]) -> None:
        body = json.dumps(obj).encode("utf-8")
        with self._write_lock:
            if self._closed:
                raise ServerGone({"code": -32099, "message": "xlchat is not running"})
            try:
                self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                raise ServerGone({"code": -32099, "message": "xlchat is not running"})

    def _read_loop(self) -> None:
        out = self.proc.stdout
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        if length is not None:
                            break
                        continue
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = out.read(length)
                if len(body) < length:
                    return
                try:
                    msg = json.loads(body)
                except ValueError:
                    continue
                for m in msg if isinstance(msg, list) else [msg]:
                    self._dispatch(m)
        finally:
            self._fail_all()

    def _stderr_loop(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace"))
            del self.stderr_lines[:-200]

    def _fail_all(self) -> None:
        with self._lock:
            self._closed = True
            pending = list(self._pending.values())
            self._pending.clear()
        for p in pending:
            p.error = {"code": -32099, "message": "xlchat exited: " + "".join(self.stderr_lines[-5:]).strip()}
            p.event.set()

    def _dispatch(self, msg: Dict[str, Any]) -> None:
        if "method" in msg:
            if "id" in msg:
                self._send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "unsupported"}})
                return
            method, params = msg["method"], msg.get("params")
            rid = params.get("requestId") if isinstance(params, dict) else None
            with self._lock:
                target = self._pending.get(rid) if rid is not None else None
                listeners = list(self._listeners)
            if target and target.on_notification:
                target.on_notification(method, params)
            for fn in listeners:
                fn(method, params)
            return
        with self._lock:
            p = self._pending.pop(msg.get("id"), None)
        if p:
            p.result, p.error = msg.get("result"), msg.get("error")
            p.event.set()

    # requests ---------------------------------------------------------------
    def add_listener(self, fn: Callable[[str, Any], None]) -> None:
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[str, Any], None]) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def notify(self, method: str, params: Any = None) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params if params is not None else {}})

    def start(self, method: str, params: Any = None,
              on_notification: Optional[Callable[[str, Any], None]] = None):
        """Sends a request without waiting; returns (id, pending). Notifications whose
        `requestId` is this id go to on_notification."""
        rid = next(self._ids)
        p = _Pending()
        p.on_notification = on_notification
        with self._lock:
            if self._closed:
                raise ServerGone({"code": -32099, "message": "xlchat is not running"})
            self._pending[rid] = p
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params if params is not None else {}})
        return rid, p

    def wait(self, p: _Pending, timeout: Optional[float] = None) -> Any:
        if not p.event.wait(timeout):
            raise TimeoutError("no reply from xlchat")
        if p.error is not None:
            raise (ServerGone if p.error.get("code") == -32099 else XLChatError)(p.error)
        return p.result

    def request(self, method: str, params: Any = None, timeout: Optional[float] = None) -> Any:
        _, p = self.start(method, params)
        return self.wait(p, timeout)

    def cancel(self, rid: int) -> None:
        self.notify("$/cancelRequest", {"id": rid})

    def has_method(self, name: str) -> bool:
        return name in ((self.init_result or {}).get("capabilities") or {}).get("methods", [])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request("shutdown", timeout=5)
                self.notify("exit")
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except Exception:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def first_cell(range_text: str) -> str:
    """The first cell of an A1 range: `B2:D9` -> `B2`, `A:A` -> `A1`, `3:5` -> `A3`."""
    first = range_text.split(":")[0].replace("$", "").upper()
    if first.isalpha():
        return first + "1"
    if first.isdigit():
        return "A" + first
    return first


def _trace_value(v: Any) -> str:
    if v is None:
        return "(empty)"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, dict):
        return v.get("error") or str(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def trace_line(e: Dict[str, Any]) -> str:
    """One workbook/trace entry as a line (the shape `xlchat trace` prints)."""
    if e.get("kind") == "name":
        s = f"{e.get('name') or ''} (name)" + (f" = {e['ref']}" if e.get("ref") else "")
    elif e.get("kind") == "range":
        s = e["ref"]
    else:
        s = e["ref"]
        if e.get("formula"):
            s += "  =" + e["formula"]
        if "value" in e:
            s += "  → " + _trace_value(e["value"]) + ("  (computed: no value saved in the file)" if e.get("computed") else "")
    if e.get("dynamic"):
        s += "  [uses " + ", ".join(e["dynamic"]) + "]"
    if e.get("truncated"):
        s += "  …"
    return s


class Trace(dict):
    """A workbook/trace result; `str()` is the tree of precedents, then the dependents."""

    def lines(self) -> List[str]:
        out: List[str] = []

        def walk(e, prefix, last, root):
            out.append(trace_line(e) if root else prefix + ("└─ " if last else "├─ ") + trace_line(e))
            child = "" if root else prefix + ("   " if last else "│  ")
            ps = e.get("precedents") or []
            for i, p in enumerate(ps):
                walk(p, child, i == len(ps) - 1, False)

        walk(self["cell"], "", True, True)
        if self.get("dependents"):
            out.append("Used by:")
            out.extend("  " + trace_line(d) for d in self["dependents"])
            if self.get("dependentsTruncated"):
                out.append("  …")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        import html
        return "<pre>" + html.escape(str(self)) + "</pre>"


class Answer(str):
    """The answer text, with the rest of the chat/ask result as attributes."""

    citations: List[Dict[str, Any]]
    session_id: Optional[str]
    model: Optional[str]
    ungrounded: List[str]  # numbers in the answer found in no cell the model saw
    stale: Optional[str]  # a workspace being re-indexed: the answer is from the last complete state
    raw: Dict[str, Any]

    def _repr_html_(self) -> str:
        from .render import answer_html
        return answer_html(self)


def _ask(client: "Client", target: Dict[str, Any], question: str, session_id: Optional[str],
         on_delta: Optional[Callable[[str], None]], on_step: Optional[Callable[[Dict[str, Any]], None]],
         model: Optional[str], timeout: Optional[float]) -> Answer:
    """chat/ask about `target` ({"workbookId": ...} or {"workspaceId": ...}): deltas to
    on_delta, steps to on_step; a KeyboardInterrupt or timeout cancels it on the server."""
    if not client.has_method("chat/ask"):
        raise XLChatError({"code": -32601, "message": "this xlchat server has no chat/ask"})
    params: Dict[str, Any] = dict(target, question=question)
    if session_id:
        params["sessionId"] = session_id
    if model:
        params["model"] = model

    def route(method, p):
        if method == "chat/delta" and on_delta:
            on_delta(p.get("text", ""))
        elif method == "chat/step" and on_step:
            on_step(p)

    rid, pending = client.start("chat/ask", params, on_notification=route)
    try:
        res = client.wait(pending, timeout)
    except (KeyboardInterrupt, TimeoutError):
        client.cancel(rid)
        raise
    ans = Answer(res.get("answer", ""))
    ans.citations = res.get("citations") or []
    ans.session_id = res.get("sessionId")
    ans.model = res.get("model")
    ans.ungrounded = list(res.get("ungrounded") or [])
    ans.stale = res.get("stale")
    ans.raw = res
    return ans


class XLChat:
    """A workbook and a server to ask about it: `XLChat("sales.xlsx").ask("...")`.

    `path` may also be given as `text=` with `format="csv"|"tsv"` for data in memory."""

    def __init__(self, path: Optional[str] = None, *, text: Optional[str] = None, format: Optional[str] = None,
                 name: Optional[str] = None, binary: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                 client: Optional[Client] = None):
        self._own = client is None
        self.client = client or Client(binary=binary, env=env)
        if path is not None:
            params: Dict[str, Any] = {"path": os.path.abspath(os.fspath(path))}
        elif text is not None:
            params = {"text": text, "format": format or "csv", "name": name or "untitled." + (format or "csv")}
        else:
            raise ValueError("give a path or text=")
        self.outline = self.client.request("workbook/open", params)
        self.workbook_id = self.outline["workbookId"]
        self.session_id: Optional[str] = None

    @property
    def sheets(self) -> List[str]:
        return [s["name"] for s in self.outline["sheets"]]

    def tables(self) -> Dict[str, str]:
        """sheet name → the SQL table name `query` uses."""
        return {s["name"]: s["table"]["name"] for s in self.outline["sheets"] if s.get("table")}

    def read(self, sheet: Optional[str] = None, range: Optional[str] = None, limit: Optional[int] = None):
        params: Dict[str, Any] = {"workbookId": self.workbook_id, "sheet": sheet or self.sheets[0]}
        if range:
            params["range"] = range
        if limit:
            params["limit"] = limit
        return self.client.request("workbook/read", params)["rows"]

    def query(self, sql: str, limit: Optional[int] = None):
        """Read-only SQL. A pandas DataFrame when pandas is installed, else a list of rows
        (tuples); either way `.columns` names them (an attribute on the list)."""
        params: Dict[str, Any] = {"workbookId": self.workbook_id, "sql": sql}
        if limit:
            params["limit"] = limit
        return _frame(self.client.request("workbook/query", params))

    def build_index(self, on_progress: Optional[Callable[[Dict[str, Any]], None]] = None, force: bool = False):
        token = f"xlchat-py-{id(self)}-{next(_tokens)}"

        def listener(method, params):
            if method == "$/progress" and params.get("token") == token and on_progress:
                on_progress(params.get("value") or {})

        self.client.add_listener(listener)
        try:
            params: Dict[str, Any] = {"workbookId": self.workbook_id, "workDoneToken": token}
            if force:
                params["force"] = True
            return self.client.request("index/build", params)
        finally:
            self.client.remove_listener(listener)

    def trace(self, cell: Any, sheet: Optional[str] = None, depth: Optional[int] = None) -> "Trace":
        """How a cell is computed (workbook/trace): `wb.trace("Sheet1!F20")`, `wb.trace("F20")`
        (the first sheet), or a citation dict from an answer (`wb.trace(answer.citations[0])`,
        its first cell). The result is the trace dict; `str()` / the notebook show the tree."""
        if isinstance(cell, dict):
            sheet, cell = cell.get("sheet"), cell.get("range")
        text = str(cell)
        if "!" in text and sheet is None:
            sheet, text = text.rsplit("!", 1)
            if sheet.startswith("'") and sheet.endswith("'"):
                sheet = sheet[1:-1].replace("''", "'")
        params: Dict[str, Any] = {"workbookId": self.workbook_id, "sheet": sheet or self.sheets[0],
                                  "cell": first_cell(text)}
        if depth:
            params["depth"] = depth
        return Trace(self.client.request("workbook/trace", params))

    def search(self, query: str, limit: Optional[int] = None):
        params: Dict[str, Any] = {"workbookId": self.workbook_id, "query": query}
        if limit:
            params["limit"] = limit
        return self.client.request("index/search", params)["results"]

    def ask(self, question: str, on_delta: Optional[Callable[[str], None]] = None,
            on_step: Optional[Callable[[Dict[str, Any]], None]] = None, model: Optional[str] = None,
            new_session: bool = False, timeout: Optional[float] = None) -> Answer:
        """Asks a question (the session continues across calls). Streams each chat/delta to
        on_delta. A KeyboardInterrupt cancels the request on the server."""
        ans = _ask(self.client, {"workbookId": self.workbook_id}, question, None if new_session else self.session_id,
                   on_delta, on_step, model, timeout)
        self.session_id = ans.session_id
        return ans

    def close(self) -> None:
        try:
            self.client.request("workbook/close", {"workbookId": self.workbook_id})
        except XLChatError:
            pass
        if self._own:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_tokens = itertools.count(1)


def _frame(res):
    try:
        import pandas  # type: ignore
    except ImportError:
        return Rows((tuple(r) for r in res["rows"]), res["columns"], res.get("truncated", False))
    return pandas.DataFrame(res["rows"], columns=res["columns"])


class Workspace:
    """A folder of workbooks in one SQL namespace: `Workspace("exports/").query("SELECT ...")`.

    Every supported file under the folder is opened and indexed (only files changed since the
    last time are read); `tables()` names each table by file and table (`sales_2024__orders`),
    `unions()` the views over same-shaped files (with a `_file` column); joins across files work.
    Files that could not be read are in `errors()`. `changes` collects the server's
    `workspace/didChange` notifications as files change on disk."""

    def __init__(self, path, *, include: Optional[List[str]] = None, exclude: Optional[List[str]] = None,
                 binary: Optional[str] = None, env: Optional[Dict[str, str]] = None, client: Optional[Client] = None):
        self._own = client is None
        self.client = client or Client(binary=binary, env=env)
        params: Dict[str, Any] = {"path": os.path.abspath(os.fspath(path))}
        if include:
            params["include"] = list(include)
        if exclude:
            params["exclude"] = list(exclude)
        self.changes: List[Dict[str, Any]] = []

        def listener(method, p):
            if method == "workspace/didChange" and p.get("workspaceId") == getattr(self, "workspace_id", None):
                self.changes.append(p)
                self.result["workbooks"], self.result["tables"], self.result["unions"] = p["workbooks"], p["tables"], p["unions"]

        self._listener = listener
        self.client.add_listener(listener)
        self.result = self.client.request("workspace/open", params)
        self.workspace_id = self.result["workspaceId"]

    def tables(self) -> Dict[str, str]:
        """SQL name → "file › sheet"."""
        return {t["name"]: f"{t['file']} › {t['sheet']}" for t in self.result["tables"]}

    def unions(self) -> Dict[str, List[str]]:
        return {u["name"]: list(u["members"]) for u in self.result["unions"]}

    def errors(self) -> Dict[str, str]:
        """file → why it could not be read."""
        return {w["path"]: f"{w.get('errorKind')}: {w.get('error')}" for w in self.result["workbooks"] if w["status"] == "error"}

    def query(self, sql: str, limit: Optional[int] = None):
        """Read-only SQL over every file's tables; a DataFrame (or `Rows`). Warnings (join
        fan-out) and a stale answer during a re-index are in `.attrs` (DataFrame) or
        `.warnings` / `.stale` (Rows)."""
        params: Dict[str, Any] = {"workspaceId": self.workspace_id, "sql": sql}
        if limit:
            params["limit"] = limit
        res = self.client.request("workspace/query", params)
        out = _frame(res)
        warnings, stale = res.get("warnings") or [], res.get("stale")
        if isinstance(out, Rows):
            out.warnings, out.stale = warnings, stale
        else:
            out.attrs["warnings"], out.attrs["stale"] = warnings, stale
            out.attrs["citations"] = res.get("citations")
        return out

    def ask(self, question: str, on_delta: Optional[Callable[[str], None]] = None,
            on_step: Optional[Callable[[Dict[str, Any]], None]] = None, model: Optional[str] = None,
            new_session: bool = False, timeout: Optional[float] = None) -> Answer:
        """Asks the analyst about the whole folder (the session continues across calls): it
        joins and unions files with SQL, and each citation names its file
        (`{"file", "sheet", "range"}`). Streams each chat/delta to on_delta; a
        KeyboardInterrupt cancels the request on the server. `.stale` is set when files were
        being re-indexed (the answer is from the last complete state)."""
        ans = _ask(self.client, {"workspaceId": self.workspace_id}, question,
                   None if new_session else getattr(self, "session_id", None), on_delta, on_step, model, timeout)
        self.session_id = ans.session_id
        return ans

    def close(self) -> None:
        self.client.remove_listener(self._listener)
        try:
            self.client.request("workspace/close", {"workspaceId": self.workspace_id})
        except XLChatError:
            pass
        if self._own:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Rows(list):
    """Query rows without pandas: a list of tuples with `.columns` and `.truncated`."""

    def __init__(self, rows, columns, truncated=False):
        super().__init__(rows)
        self.columns = list(columns)
        self.truncated = truncated
