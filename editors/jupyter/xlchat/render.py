"""HTML for answers and citations in notebooks."""
from html import escape
from typing import Any, Dict, List


def citations_html(citations: List[Dict[str, Any]]) -> str:
    if not citations:
        return "<p><em>No cited cells.</em></p>"
    # Workspace answers name the file of each citation.
    files = any(c.get("file") for c in citations)
    rows = "".join("<tr>" + (f"<td>{escape(str(c.get('file', '')))}</td>" if files else "")
                   + f"<td>{escape(str(c.get('sheet', '')))}</td><td>{escape(str(c.get('range', '')))}</td></tr>"
                   for c in citations)
    head = ("<th>file</th>" if files else "") + "<th>sheet</th><th>range</th>"
    return (f"<table class=\"xlchat-citations\"><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def answer_html(answer) -> str:
    ungrounded = getattr(answer, "ungrounded", None) or []
    note = (f"<p><em>Not found in the cells the model saw: {escape(', '.join(map(str, ungrounded)))}</em></p>"
            if ungrounded else "")
    stale = getattr(answer, "stale", None)
    if stale:
        note += f"<p><em>{escape(str(stale))}</em></p>"
    return (f"<div class=\"xlchat-answer\"><p>{escape(str(answer))}</p>{note}"
            f"{citations_html(getattr(answer, 'citations', []))}</div>")


def cells_html(rows: List[List[Any]]) -> str:
    def cell(v):
        if v is None:
            return ""
        if isinstance(v, dict) and "error" in v:
            return str(v["error"])
        return str(v)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table class=\"xlchat-cells\">{body}</table>"
