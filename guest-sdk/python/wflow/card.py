"""Cards: a report a step writes for people — markdown, tables, images and charts — shown by
``wflow ui`` on the task's page and written as one HTML file by ``wflow card get TASK``::

    from wflow import Chart, Image, Markdown, Table, current

    current.card.append(Markdown("# Squares"))
    current.card.append(Table([[1, 1], [2, 4]], headers=["n", "square"]))
    current.card.append(Chart({"mark": "bar", "data": {"values": rows},
                               "encoding": {"x": {"field": "n", "type": "ordinal"},
                                            "y": {"field": "sq", "type": "quantitative"}}}))
    current.card["diagnostics"].append(Image(png_bytes))

Parts are collected while the step runs and kept when it returns (a failed step keeps none), each
card as the artifact ``card:ID`` with the codec ``wflow.card`` — the format the Rust and
JavaScript SDKs write, described in docs/store.md with the Vega-Lite subset that charts may use.
"""

from .cbor import encode

CODEC = "wflow.card"
_VERSION = 1


class Markdown:
    """Markdown text (CommonMark with tables); raw HTML in it is shown as text."""

    def __init__(self, text):
        self.part = {"markdown": str(text)}


class Table:
    """A table: ``rows`` (a list of lists of str, int, float, bool or None) and optional
    ``headers`` (the column names)."""

    def __init__(self, rows, headers=None):
        try:
            rows = [list(r) for r in rows]
        except TypeError:
            raise TypeError("Table rows are a list of lists (one list of values per row)") from None
        self.part = {"table": {"columns": [str(h) for h in headers or []], "rows": rows}}


class Image:
    """An image: PNG, JPEG, GIF, WebP or SVG bytes (the type is read from the bytes)."""

    def __init__(self, data, alt=""):
        if isinstance(data, str):
            data = data.encode()
        self.part = {"image": {"bytes": bytes(data), "alt": str(alt)}}


class Chart:
    """A chart: a Vega-Lite spec (a dict) with its data inline in ``data.values``."""

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise TypeError(f"a Chart is a Vega-Lite spec (a dict), not {type(spec).__name__}")
        self.part = {"chart": spec}


VegaChart = Chart


class Card:
    """One card of the running task: ``append`` parts to it; ``title`` names it on the page."""

    def __init__(self, id):
        self.id = id
        self.title = None
        self.parts = []

    def append(self, part):
        """Adds a part: :class:`Markdown`, :class:`Table`, :class:`Image` or :class:`Chart` (a
        ``str`` is markdown)."""
        if isinstance(part, str):
            part = Markdown(part)
        if not isinstance(part, (Markdown, Table, Image, Chart)):
            raise TypeError(f"a card part is Markdown, Table, Image or Chart, not {type(part).__name__}")
        self.parts.append(part.part)
        return self

    def extend(self, parts):
        for p in parts:
            self.append(p)
        return self


class Cards:
    """The cards of the running task: ``current.card`` is the default card, and
    ``current.card["id"]`` another one."""

    def __init__(self):
        self._cards = {}

    def __getitem__(self, id):
        id = str(id)
        if id not in self._cards:
            self._cards[id] = Card(id)
        return self._cards[id]

    def append(self, part):
        """Adds a part to the default card."""
        return self["default"].append(part)

    def extend(self, parts):
        return self["default"].extend(parts)

    @property
    def title(self):
        return self["default"].title

    @title.setter
    def title(self, text):
        self["default"].title = str(text)

    def _clear(self):
        self._cards = {}

    def _save(self, task, put):
        """Puts every card as ``card:ID``: ``put(name, codec, bytes)``. ``task()`` gives the
        task's pathspec; it is asked for only when there is a card, since asking makes the task
        one that the cache can never serve."""
        cards, self._cards = self._cards, {}
        for id, card in cards.items():
            doc = {"version": _VERSION, "id": id, "task": task()}
            if card.title is not None:
                doc["title"] = card.title
            doc["parts"] = card.parts
            put(f"card:{id}", CODEC, encode(doc))


cards = Cards()
