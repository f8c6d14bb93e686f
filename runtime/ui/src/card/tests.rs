use ciborium::Value;

use super::{Rendered, document, render};

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (text(k), v)).collect())
}

fn card(parts: Vec<Value>) -> Vec<u8> {
    let v = map(vec![
        ("version", Value::Integer(1.into())),
        ("id", text("default")),
        ("task", text("F/1/start/1")),
        ("parts", Value::Array(parts)),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&v, &mut out).unwrap();
    out
}

fn json(v: serde_json::Value) -> Value {
    Value::serialized(&v).unwrap()
}

fn one(part: Value) -> Rendered {
    render("card:default", &card(vec![part]))
}

#[test]
fn every_part_kind_renders() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let r = render(
        "card:default",
        &card(vec![
            map(vec![("markdown", text("# Squares\n\nsome *text*"))]),
            map(vec![(
                "table",
                json(serde_json::json!({"columns": ["n", "square"], "rows": [[1, 1], [2, 4]]})),
            )]),
            map(vec![(
                "image",
                map(vec![
                    ("type", text("image/png")),
                    ("bytes", Value::Bytes(png)),
                ]),
            )]),
            map(vec![(
                "chart",
                json(serde_json::json!({
                    "mark": "bar",
                    "data": {"values": [{"n": "a", "v": 1}, {"n": "b", "v": 3}]},
                    "encoding": {"x": {"field": "n", "type": "nominal"},
                                 "y": {"field": "v", "type": "quantitative"}}
                })),
            )]),
        ]),
    );
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.task.as_deref(), Some("F/1/start/1"));
    assert!(r.body.contains("<h1>Squares</h1>"), "{}", r.body);
    assert!(r.body.contains(r#"<td class="n">4</td>"#), "{}", r.body);
    assert!(
        r.body.contains("src=\"data:image/png;base64,"),
        "{}",
        r.body
    );
    assert_eq!(
        r.body.matches(r#"<rect class="mark""#).count(),
        2,
        "{}",
        r.body
    );
    let doc = document("x", &[r]);
    assert!(doc.starts_with("<!DOCTYPE html>") && !doc.contains("<script"));
}

#[test]
fn bad_parts_show_their_problem_and_the_rest_still_renders() {
    let r = render(
        "card:default",
        &card(vec![
            map(vec![("markdown", text("before"))]),
            map(vec![(
                "chart",
                json(serde_json::json!({"mark": "pie", "data": {"values": []},
                    "encoding": {"x": {"field": "a"}, "y": {"field": "b"}}})),
            )]),
            map(vec![(
                "chart",
                json(
                    serde_json::json!({"mark": "line", "data": {"values": [{"a": 1, "b": 2}]},
                    "encoding": {"x": {"field": "a", "type": "quantitative"},
                                 "y": {"field": "nope", "type": "quantitative"}}}),
                ),
            )]),
            map(vec![(
                "chart",
                json(serde_json::json!({"layer": [], "data": {"values": []}})),
            )]),
            map(vec![(
                "image",
                map(vec![("bytes", Value::Bytes(b"<html>".to_vec()))]),
            )]),
            map(vec![("video", text("x"))]),
            map(vec![("markdown", text("after"))]),
        ]),
    );
    assert_eq!(r.problems.len(), 5, "{:?}", r.problems);
    assert!(r.problems[0].contains("part 2") && r.problems[0].contains("mark `pie`"));
    assert!(r.problems[1].contains("field `nope`"), "{}", r.problems[1]);
    assert!(r.problems[2].contains("`layer` is not supported"));
    assert!(r.problems[3].contains("not PNG, JPEG, GIF, WebP or SVG"));
    assert!(r.problems[4].contains("unknown part `video`"));
    assert!(r.body.contains("before") && r.body.contains("after"));
    assert_eq!(r.body.matches(r#"class="problem""#).count(), 5);
}

#[test]
fn not_a_card_is_a_message_not_a_blank_page() {
    let r = render("card:x", b"\xff\xff");
    assert_eq!(r.problems.len(), 1);
    assert!(r.body.contains("not valid CBOR"), "{}", r.body);
    let mut bytes = Vec::new();
    ciborium::into_writer(&text("hello"), &mut bytes).unwrap();
    let r = render("card:x", &bytes);
    assert!(r.problems[0].contains("not a map"), "{:?}", r.problems);
}

#[test]
fn hostile_content_is_inert() {
    let evil = r#"</title><script>alert(1)</script><img src=x onerror=alert(2)>"#;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(3)</script></svg>"#;
    let r = render(
        "card:default",
        &card(vec![
            map(vec![("markdown", text(evil))]),
            map(vec![(
                "table",
                json(serde_json::json!({"columns": [evil], "rows": [[evil]]})),
            )]),
            map(vec![(
                "image",
                map(vec![
                    ("bytes", Value::Bytes(svg.to_vec())),
                    ("alt", text(evil)),
                ]),
            )]),
            map(vec![(
                "chart",
                json(serde_json::json!({"title": evil, "mark": "point",
                    "data": {"values": [{"a": evil, "b": 1}]},
                    "encoding": {"x": {"field": "a", "type": "nominal", "title": evil},
                                 "y": {"field": "b", "type": "quantitative"},
                                 "color": {"field": "a"}}})),
            )]),
        ]),
    );
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let doc = document(evil, &[r]);
    assert!(!doc.contains("<script"), "{doc}");
    assert!(!doc.contains("<img src=x"), "{doc}");
    // The SVG is a data: URL of an <img>, where its script cannot run.
    assert!(doc.contains("data:image/svg+xml;base64,"), "{doc}");
}

#[test]
fn charts_of_each_mark_aggregate_and_time() {
    let rows = serde_json::json!([
        {"day": "2026-11-01", "k": "a", "v": 1}, {"day": "2026-11-02", "k": "a", "v": 3},
        {"day": "2026-11-01", "k": "b", "v": 2}, {"day": "2026-11-02", "k": "b", "v": 5}]);
    for mark in ["line", "area", "point", "circle"] {
        let r = one(map(vec![(
            "chart",
            json(
                serde_json::json!({"mark": {"type": mark}, "data": {"values": rows},
                "encoding": {"x": {"field": "day", "type": "temporal"},
                             "y": {"field": "v", "type": "quantitative"},
                             "color": {"field": "k", "type": "nominal"}}}),
            ),
        )]));
        assert!(r.problems.is_empty(), "{mark}: {:?}", r.problems);
        assert!(r.body.contains("11-02 00:00"), "{mark}: {}", r.body);
    }
    let r = one(map(vec![(
        "chart",
        json(serde_json::json!({"mark": "bar", "data": {"values": rows},
            "encoding": {"y": {"field": "k", "type": "nominal"},
                         "x": {"field": "v", "aggregate": "sum"}}})),
    )]));
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    // Two bars: a = 4, b = 7.
    assert_eq!(r.body.matches(r#"<rect class="mark""#).count(), 2);
    assert!(
        r.body.contains("a · 4") || r.body.contains("4 · a"),
        "{}",
        r.body
    );
    let r = one(map(vec![(
        "chart",
        json(
            serde_json::json!({"mark": "line", "data": {"values": [{"x": 1, "y": "ten"}]},
            "encoding": {"x": {"field": "x", "type": "quantitative"},
                         "y": {"field": "y", "type": "quantitative"}}}),
        ),
    )]));
    assert!(r.problems[0].contains("row 1") && r.problems[0].contains("not a number"));
}
