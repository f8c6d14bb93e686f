"""The Python card SDK (wflow/card.py): the document each card is saved as — the format the Rust
and JavaScript SDKs write (docs/store.md) — and the errors for parts that are not parts. Runs on
plain CPython:

    python3 guest-sdk/python/tests/test_card.py
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from wflow.card import CODEC, Cards, Chart, Image, Markdown, Table, VegaChart  # noqa: E402
from wflow.cbor import decode  # noqa: E402

SPEC = {"mark": "bar", "data": {"values": [{"a": 1}]}, "encoding": {"x": {"field": "a", "type": "nominal"}}}


def saved(cards):
    """What `_save` puts: {name: (codec, decoded document)}."""
    out = {}

    def put(name, codec, data):
        assert isinstance(data, bytes)
        out[name] = (codec, decode(data))

    cards._save(lambda: "F/1/end/3", put)
    return out


class CardTest(unittest.TestCase):
    def test_document(self):
        c = Cards()
        c.title = "Report"
        c.append(Markdown("# Hi"))
        c.append("plain *markdown*")
        c.append(Table([[1, "x"], (2, None)], headers=["n", "s"]))
        c.append(Image(b"\x89PNG", alt="logo"))
        c["chart"].append(VegaChart(SPEC)).append(Image("<svg/>"))
        out = saved(c)
        self.assertEqual(sorted(out), ["card:chart", "card:default"])
        codec, doc = out["card:default"]
        self.assertEqual(codec, CODEC)
        self.assertEqual(
            doc,
            {
                "version": 1,
                "id": "default",
                "task": "F/1/end/3",
                "title": "Report",
                "parts": [
                    {"markdown": "# Hi"},
                    {"markdown": "plain *markdown*"},
                    {"table": {"columns": ["n", "s"], "rows": [[1, "x"], [2, None]]}},
                    {"image": {"bytes": b"\x89PNG", "alt": "logo"}},
                ],
            },
        )
        _, doc = out["card:chart"]
        self.assertNotIn("title", doc)
        self.assertEqual(doc["parts"], [{"chart": SPEC}, {"image": {"bytes": b"<svg/>", "alt": ""}}])
        # Saving hands the cards over: a second save puts nothing.
        self.assertEqual(saved(c), {})

    def test_clear_forgets(self):
        c = Cards()
        c.append("from a failed task")
        c._clear()
        self.assertEqual(saved(c), {})

    def test_bad_parts(self):
        c = Cards()
        with self.assertRaisesRegex(TypeError, "a card part is Markdown, Table, Image or Chart, not int"):
            c.append(3)
        with self.assertRaisesRegex(TypeError, r"a Chart is a Vega-Lite spec \(a dict\), not list"):
            Chart([1])
        with self.assertRaisesRegex(TypeError, "Table rows are a list of lists"):
            Table([1, 2])


if __name__ == "__main__":
    unittest.main()
