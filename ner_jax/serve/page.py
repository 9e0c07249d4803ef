"""The search page: a form and the ranked documents, every piece of text HTML-escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ner_jax.index import Hit

CONTEXT = 300  # characters of a document shown either side of its best mention
# The page is rendered whole on the server, so it works without JavaScript. The script only
# searches as the user types: it fetches the same page for the new query and swaps in its
# results, so the rendering (and its escaping) lives here alone.
SCRIPT = """
const form = document.querySelector("form"), box = form.elements.q;
let timer = null, latest = 0;
box.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    if (!box.value.trim()) return;
    const asked = ++latest, params = new URLSearchParams(new FormData(form));
    const response = await fetch("/?" + params);
    if (asked !== latest) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    document.getElementById("results").replaceWith(page.getElementById("results"));
    history.replaceState(null, "", "/?" + params);
  }, 250);
});
"""

STYLE = """
body { font: 16px/1.45 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
  color: #1d1d1f; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; }
form { display: flex; gap: .5rem; margin-bottom: 1rem; }
input[name=q] { flex: 1; font-size: 1rem; padding: .45rem .6rem; }
input[name=k] { width: 4.5rem; font-size: 1rem; padding: .45rem; }
button { font-size: 1rem; padding: .45rem 1rem; }
.meta { color: #6e6e73; font-size: .9rem; margin-bottom: .8rem; }
.error { color: #b00020; font-weight: 600; }
ol { padding-left: 1.6rem; }
li { margin-bottom: 1rem; }
mark { background: #ffe58a; padding: 0 .1em; border-radius: 2px; }
.score { font-variant-numeric: tabular-nums; color: #0a58ca; font-weight: 600; }
.doc { color: #6e6e73; font-size: .85rem; }
.also { color: #444; font-size: .9rem; }
"""


def render_page(
    title: str,
    query: str = "",
    k: int = 10,
    hits: Sequence[Hit] | None = None,
    millis: float | None = None,
    error: str | None = None,
) -> str:
    """The whole page: the form (holding query and k), then the error, or the hits and the
    query time, or nothing before a search."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(query + " - " if query else "")}{escape(title)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<form method="get" action="/" role="search">
<input name="q" type="search" value="{escape(query)}" aria-label="type description" autofocus
 placeholder="describe an entity type, e.g. river">
<input name="k" type="number" min="1" max="1000" value="{k}" aria-label="documents">
<button type="submit">Search</button>
</form>
{results(query, hits, millis, error)}
<script>{SCRIPT}</script>
</body></html>
"""


def results(query: str, hits: Sequence[Hit] | None, millis: float | None, error: str | None) -> str:
    """The results block (id "results", which the script swaps)."""
    if error is not None:
        return f'<div id="results"><p class="error">{escape(error)}</p></div>'
    if hits is None:
        return '<div id="results"></div>'
    took = f" in {millis:.0f} ms" if millis is not None else ""
    count = f"{len(hits)} document{'' if len(hits) == 1 else 's'}"
    items = "\n".join(hit_item(hit) for hit in hits)
    return (
        f'<div id="results"><p class="meta">{count} for <q>{escape(query)}</q>{took}</p>'
        f"<ol>\n{items}\n</ol></div>"
    )


def hit_item(hit: Hit) -> str:
    """One document: its text with the best mention marked, its score, the other mentions."""
    best = hit.mentions[0]
    lo, hi = max(0, best.start - CONTEXT), min(len(hit.text), best.end + CONTEXT)
    text = (
        ("&hellip;" if lo else "")
        + escape(hit.text[lo : best.start])
        + f"<mark>{escape(hit.text[best.start : best.end])}</mark>"
        + escape(hit.text[best.end : hi])
        + ("&hellip;" if hi < len(hit.text) else "")
    )
    others = ", ".join(
        f"{escape(m.text)} <span class=score>{m.score:.3f}</span>" for m in hit.mentions[1:]
    )
    also = f'<div class="also">also matched: {others}</div>' if others else ""
    return (
        f'<li><span class="score">{hit.score:.3f}</span> <span class="doc">{escape(hit.doc_id)}'
        f"</span><div>{text}</div>{also}</li>"
    )
