//! Markdown parts (CommonMark with tables and strikethrough, by pulldown-cmark), made safe: raw
//! HTML is shown as text, and a link or image may only point at `http(s)`, `mailto`, a fragment
//! or a relative path — anything else (`javascript:`, `data:`…) keeps its text and loses its
//! target.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

/// `text` as HTML.
pub fn html(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        e => e,
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

/// The URL if it is safe to follow, else an empty one.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme_end = lower.find([':', '/', '?', '#']);
    let has_scheme = scheme_end.is_some_and(|i| lower.as_bytes()[i] == b':');
    let ok = !has_scheme
        || lower.starts_with("http:")
        || lower.starts_with("https:")
        || lower.starts_with("mailto:");
    if ok { url } else { CowStr::Borrowed("") }
}

#[cfg(test)]
mod tests {
    use super::html;

    #[test]
    fn markdown_renders_and_stays_inert() {
        let out = html("# Title\n\n*a* | b\n--|--\n1 | 2\n");
        assert!(out.contains("<h1>Title</h1>"), "{out}");
        assert!(out.contains("<table>"), "{out}");
        let out = html("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        let out = html("[x](javascript:alert(1)) [y](JavaScript:alert(1)) [z](https://e.com/a)");
        assert!(!out.to_lowercase().contains("javascript"), "{out}");
        assert!(out.contains(r#"href="https://e.com/a""#), "{out}");
        let out = html("![i](data:text/html,<b>) [r](../x#y)");
        assert!(!out.contains("data:"), "{out}");
        assert!(out.contains(r#"href="../x#y""#), "{out}");
    }
}
