"""The Python CBOR codec against the shared vectors (guest-sdk/testdata/cbor-vectors.json), which
the Rust (ciborium) and JavaScript codecs are checked against too. Runs on plain CPython:

    python3 guest-sdk/python/tests/test_cbor.py
"""

import json
import math
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from wflow.cbor import CborError, decode, encode  # noqa: E402

VECTORS = os.path.join(HERE, "..", "..", "testdata", "cbor-vectors.json")


def native(t):
    ((k, v),) = t.items()
    if k == "int":
        return int(v)
    if k == "float":
        return float(v)
    if k == "bytes":
        return bytes.fromhex(v)
    if k == "list":
        return [native(x) for x in v]
    if k == "map":
        return {native(a): native(b) for a, b in v}
    return v  # bool, null (None), text


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


class Vectors(unittest.TestCase):
    def test_encode_and_decode_every_vector(self):
        with open(VECTORS, encoding="utf-8") as f:
            vectors = json.load(f)
        self.assertGreater(len(vectors), 30)
        for v in vectors:
            with self.subTest(v["name"]):
                value = native(v["value"])
                self.assertEqual(encode(value).hex(), v["cbor"])
                self.assertTrue(same(decode(bytes.fromhex(v["cbor"])), value))


class Reading(unittest.TestCase):
    def test_indefinite_lengths_and_tags(self):
        # (_ h'01', h'02'), [_ 1, 2], {_ "a": 1}, tag 1 (epoch time) around an int, bignum tag 2.
        self.assertEqual(decode(bytes.fromhex("5f41014102ff")), b"\x01\x02")
        self.assertEqual(decode(bytes.fromhex("9f0102ff")), [1, 2])
        self.assertEqual(decode(bytes.fromhex("bf616101ff")), {"a": 1})
        self.assertEqual(decode(bytes.fromhex("c11a514b67b0")), 1363896240)
        self.assertEqual(decode(bytes.fromhex("c249010000000000000000")), 2**64)
        self.assertEqual(decode(bytes.fromhex("f7")), None)  # undefined

    def test_bad_input_is_a_clear_error(self):
        for bad, why in [("", "truncated"), ("1a0000", "truncated"), ("0000", "after the CBOR value"),
                         ("62c328", "UTF-8"), ("ff", "break")]:
            with self.subTest(bad):
                with self.assertRaises(CborError) as e:
                    decode(bytes.fromhex(bad))
                self.assertIn(why, str(e.exception))
        with self.assertRaises(CborError):
            encode({1, 2})

    def test_tuples_are_lists_and_array_keys_tuples(self):
        self.assertEqual(encode((1, 2)), encode([1, 2]))
        self.assertEqual(decode(encode({(1, 2): "x"})), {(1, 2): "x"})


if __name__ == "__main__":
    unittest.main()
