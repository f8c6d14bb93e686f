//! Cards end to end: a Rust flow writes them with `wflow::card`, `wflow card get` writes them
//! as one self-contained HTML file.

use crate::util::{Env, guest, stderr};

fn run_cards(env: &Env) -> String {
    let out = env.run_ok(&guest("test-program-cards"), &[]);
    out["run_id"].as_str().unwrap().to_string()
}

#[test]
fn card_get_writes_a_self_contained_html_file_of_a_tasks_cards() {
    let env = Env::new();
    let run = run_cards(&env);
    let file = env.store().with_file_name("start.html");
    let start = format!("Cards/{run}/start/1");
    let out = env.wflow(&["card", "get", &start, "-o", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("wrote 3 cards of"), "{err}");
    // The broken chart is named on stderr and shown in the card.
    assert!(err.contains("mark `pie` is not supported"), "{err}");
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Self-contained and inert: no script, nothing loaded from elsewhere.
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("src=\"http"), "{html}");
    assert!(!html.to_lowercase().contains("javascript:"), "{html}");
    assert!(html.contains("default-src 'none'"));
    // The default card first: markdown, table, bar chart of five bars, the PNG.
    let default = html.find(r#"data-card="default""#).unwrap();
    assert!(default < html.find(r#"data-card="broken""#).unwrap());
    assert!(html.contains("<h1>Squares of 1 to 5</h1>"), "{html}");
    assert!(html.contains(r#"<td class="n">25</td>"#), "{html}");
    assert_eq!(html.matches(r#"<rect class="mark""#).count(), 5);
    assert!(html.contains("data:image/png;base64,iVBORw0KGgo"), "{html}");
    // The hostile card's text is there, escaped; its SVG is an inert <img>.
    assert!(html.contains("&lt;script&gt;window.parent"), "{html}");
    assert!(html.contains("data:image/svg+xml;base64,"), "{html}");
    // The broken card shows its problem between the parts that rendered.
    let broken = &html[html.find(r#"data-card="broken""#).unwrap()..];
    let (before, problem, after) = (
        broken.find("before the broken chart").unwrap(),
        broken.find("mark `pie` is not supported").unwrap(),
        broken.find("after the broken chart").unwrap(),
    );
    assert!(before < problem && problem < after);

    // One card by its artifact name, to stdout; `--json` describes what was written.
    let out = env.wflow(&["card", "get", &format!("Cards/{run}/end/3/card:summary")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.contains(r#"<polyline class="mark""#), "{html}");
    let out = env.wflow(&[
        "card",
        "get",
        &format!("Cards/{run}/end"),
        "--json",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cards"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["cards"][0]["id"], "summary");
    assert_eq!(v["cards"][0]["task"], format!("Cards/{run}/end/3"));
}

#[test]
fn card_get_says_where_the_cards_are_when_a_task_has_none_of_its_own() {
    let env = Env::new();
    let run = run_cards(&env);
    // `middle` wrote none: it inherited start's.
    let out = env.wflow(&["card", "get", &format!("Cards/{run}/middle/2")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("wrote no card of its own"), "{err}");
    assert!(err.contains(&format!("from Cards/{run}/start/1")), "{err}");
    assert!(out.stdout.is_empty());
    // Not a card; a run; a misspelt card (nearest name).
    let out = env.wflow(&["card", "get", &format!("Cards/{run}/start/1/n")]);
    assert!(
        stderr(&out).contains("is not a card: its codec is `cbor`"),
        "{}",
        stderr(&out)
    );
    let out = env.wflow(&["card", "get", &format!("Cards/{run}")]);
    assert!(
        stderr(&out).contains("cards belong to tasks"),
        "{}",
        stderr(&out)
    );
    let out = env.wflow(&["card", "get", &format!("Cards/{run}/start/1/card:defualt")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("card:default"), "{}", stderr(&out));
}

#[test]
fn show_html_links_the_cards_it_writes_beside_the_page() {
    let env = Env::new();
    let run = run_cards(&env);
    let page = env.store().with_file_name("my report.html");
    let out = env.wflow(&[
        "show",
        &format!("Cards/{run}"),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    // One link per task that wrote cards, to its cards written beside the page.
    assert_eq!(html.matches("<li><a href=").count(), 2, "{html}");
    assert!(
        html.contains(r#"<li><a href="my%20report.cards/start-1.html">start/1: Squares"#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="my%20report.cards/end-3.html""#),
        "{html}"
    );
    let dir = page.with_file_name("my report.cards");
    let start = std::fs::read_to_string(dir.join("start-1.html")).unwrap();
    assert!(start.contains(r#"data-card="default""#) && start.contains(r#"data-card="broken""#));
    assert!(!start.contains("<script"), "{start}");
    let end = std::fs::read_to_string(dir.join("end-3.html")).unwrap();
    assert!(end.contains(r#"data-card="summary""#), "{end}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
}
