"""IPython magics: `%xlchat open FILE`, `%xlchat workspace DIR`, `%xlchat query SQL` (on what was
opened last), `%xlchat read SHEET [RANGE]`, `%xlchat close`, and the `%%xlchat` cell magic that
asks the cell's text."""
import shlex
import sys

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import HTML, display

from .client import Workspace, XLChat, XLChatError
from .render import answer_html, cells_html

_current = {"wb": None, "ws": None, "last": None}


def close_current():
    for key in ("wb", "ws"):
        obj = _current[key]
        _current[key] = None
        if obj is not None:
            try:
                obj.client.close()
            except Exception:
                pass
    _current["last"] = None


def _open(path):
    old = _current["wb"]
    if old is not None:
        # Reuse the running server for the next workbook.
        wb = XLChat(path, client=old.client)
        wb._own = True
    else:
        wb = XLChat(path)
    _current["wb"] = wb
    _current["last"] = "wb"
    return wb


def _open_workspace(path):
    old = _current["ws"]
    if old is not None:
        old.close()
    _current["ws"] = Workspace(path)
    _current["last"] = "ws"
    return _current["ws"]


@magics_class
class XLChatMagics(Magics):
    @line_cell_magic
    def xlchat(self, line, cell=None):
        try:
            if cell is not None:
                return self._ask(cell.strip() or line.strip())
            return self._line(line)
        except XLChatError as e:
            kind = f" ({e.kind})" if e.kind else ""
            print(f"xlchat error{kind}: {e}", file=sys.stderr)
            return None

    def _need(self):
        wb = _current["wb"]
        if wb is None:
            raise XLChatError({"message": "no workbook open: run %xlchat open FILE first"})
        return wb

    def _line(self, line):
        parts = shlex.split(line)
        if not parts:
            print("usage: %xlchat open FILE | workspace DIR | query SQL | read SHEET [RANGE] | close; %%xlchat for questions")
            return None
        cmd, args = parts[0], parts[1:]
        if cmd == "open":
            if len(args) != 1:
                raise XLChatError({"message": "usage: %xlchat open FILE"})
            wb = _open(args[0])
            for s in wb.outline["sheets"]:
                table = f"  table \"{s['table']['name']}\"" if s.get("table") else ""
                print(f"{s['name']}: {s.get('range') or 'empty'}{table}")
            return None
        if cmd == "workspace":
            if len(args) != 1:
                raise XLChatError({"message": "usage: %xlchat workspace DIR"})
            ws = _open_workspace(args[0])
            for name, where in ws.tables().items():
                print(f"{name}: {where}")
            for name, members in ws.unions().items():
                print(f"{name}: union of {len(members)} tables (with _file)")
            for path, why in ws.errors().items():
                print(f"not read: {path}: {why}", file=sys.stderr)
            return None
        if cmd == "query":
            sql = line.split(None, 1)[1] if len(parts) > 1 else ""
            if _current["last"] == "ws" and _current["ws"] is not None:
                return _current["ws"].query(sql)
            return self._need().query(sql)
        if cmd == "read":
            wb = self._need()
            rows = wb.read(args[0] if args else None, args[1] if len(args) > 1 else None)
            display(HTML(cells_html(rows)))
            return None
        if cmd == "close":
            close_current()
            return None
        if cmd == "ask":
            return self._ask(line.split(None, 1)[1] if len(parts) > 1 else "")
        raise XLChatError({"message": f"unknown %xlchat command {cmd!r}"})

    def _ask(self, question):
        wb = self._need()
        if not question:
            raise XLChatError({"message": "the %%xlchat cell holds the question"})

        def delta(text):
            sys.stdout.write(text)
            sys.stdout.flush()

        ans = wb.ask(question, on_delta=delta)
        sys.stdout.write("\n")
        display(HTML(answer_html(ans)))
        return None
