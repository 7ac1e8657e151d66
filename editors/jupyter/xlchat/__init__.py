"""xlchat for Python and Jupyter.

    from xlchat import XLChat
    wb = XLChat("sales.xlsx")
    wb.query('SELECT region, SUM(units) FROM "sales" GROUP BY region')
    print(wb.ask("Which region sold most?"))

In IPython / Jupyter: `%load_ext xlchat`, `%xlchat open FILE`, then a `%%xlchat` cell holding
the question.
"""
from .client import Answer, Client, Rows, ServerGone, XLChat, XLChatError, find_binary

__all__ = ["XLChat", "Client", "Answer", "Rows", "XLChatError", "ServerGone", "find_binary",
           "load_ipython_extension", "unload_ipython_extension"]
__version__ = "0.1.0"


def load_ipython_extension(ipython):
    from .magics import XLChatMagics
    ipython.register_magics(XLChatMagics(ipython))


def unload_ipython_extension(ipython):
    from .magics import close_current
    close_current()
