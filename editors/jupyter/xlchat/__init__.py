"""xlchat for Python and Jupyter.

    from xlchat import XLChat
    wb = XLChat("sales.xlsx")
    wb.query('SELECT region, SUM(units) FROM "sales" GROUP BY region')
    print(wb.ask("Which region sold most?"))

A folder of workbooks in one SQL namespace (joins across files, union views):

    from xlchat import Workspace
    ws = Workspace("exports/")
    ws.query("SELECT c.segment, SUM(o.amount) FROM orders o JOIN customers c USING (customer_id) GROUP BY 1")

In IPython / Jupyter: `%load_ext xlchat`, `%xlchat open FILE` (or `%xlchat workspace DIR`), then
a `%%xlchat` cell holding the question.
"""
from .client import Answer, Client, Rows, ServerGone, Workspace, XLChat, XLChatError, find_binary

__all__ = ["XLChat", "Workspace", "Client", "Answer", "Rows", "XLChatError", "ServerGone", "find_binary",
           "load_ipython_extension", "unload_ipython_extension"]
__version__ = "0.1.0"


def load_ipython_extension(ipython):
    from .magics import XLChatMagics
    ipython.register_magics(XLChatMagics(ipython))


def unload_ipython_extension(ipython):
    from .magics import close_current
    close_current()
