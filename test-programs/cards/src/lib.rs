//! A flow whose steps write cards: `start` a report with every kind of part, a hostile card and
//! a broken one; `middle` none (it inherits `start`'s); `end` a card named `summary`.

use serde_json::json;
use wflow::{Result, card};

/// An 8×8 red PNG.
const PNG: [u8; 74] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 8, 0, 0, 0, 8, 8, 2, 0,
    0, 0, 75, 109, 41, 220, 0, 0, 0, 17, 73, 68, 65, 84, 120, 156, 99, 56, 97, 99, 131, 21, 49, 12,
    45, 9, 0, 101, 153, 80, 1, 82, 15, 175, 83, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

const EVIL: &str = r#"</title></iframe><script>window.parent.document.title='pwned'</script><img src=x onerror="document.title='pwned'">"#;

/// Writes cards.
#[wflow::flow]
pub struct Cards {
    n: wflow::Artifact<i64>,
}

#[wflow::steps]
impl Cards {
    /// A report with markdown, a table, an image and a chart; a hostile card; a broken card.
    #[step(next = "middle")]
    fn start(&mut self) -> Result<()> {
        self.n.set(5);
        let rows: Vec<_> = (1..=5).map(|i| json!({"n": i, "square": i * i})).collect();
        card::title("Squares");
        card::markdown("# Squares of 1 to 5\n\nThe **bar chart** below shows each square.");
        card::table(
            ["n", "square"],
            &(1..=5).map(|i| [i, i * i]).collect::<Vec<_>>(),
        )?;
        card::chart(&json!({
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "title": "Squares",
            "mark": "bar",
            "data": {"values": rows},
            "encoding": {"x": {"field": "n", "type": "ordinal"},
                         "y": {"field": "square", "type": "quantitative"}}
        }))?;
        card::image(PNG.to_vec());
        let hostile = card::named("hostile");
        hostile.markdown(format!("{EVIL}\n\n[click](javascript:alert(1))"));
        hostile.table([EVIL], &[[EVIL]])?;
        hostile.image(
            br#"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><script>alert(1)</script><circle r="9" cx="10" cy="10" fill="blue"/></svg>"#.to_vec(),
        );
        hostile.chart(&json!({"title": EVIL, "mark": "point",
            "data": {"values": [{"a": EVIL, "b": 1}]},
            "encoding": {"x": {"field": "a", "type": "nominal"}, "y": {"field": "b", "type": "quantitative"}}}))?;
        let broken = card::named("broken");
        broken.markdown("before the broken chart");
        broken.chart(&json!({"mark": "pie", "data": {"values": []},
            "encoding": {"theta": {"field": "x"}}}))?;
        broken.markdown("after the broken chart");
        Ok(())
    }

    /// Writes no card: inherits `start`'s.
    #[step(next = "end")]
    fn middle(&mut self) -> Result<()> {
        self.n.set(*self.n.get()? + 1);
        Ok(())
    }

    /// A line chart in a card named `summary`.
    #[step]
    fn end(&mut self) -> Result<()> {
        let n = *self.n.get()?;
        let values: Vec<_> = (0..=n)
            .flat_map(|i| {
                [
                    json!({"x": i, "y": i * i, "s": "square"}),
                    json!({"x": i, "y": i * 3, "s": "triple"}),
                ]
            })
            .collect();
        card::named("summary").chart(&json!({"mark": "line", "data": {"values": values},
            "encoding": {"x": {"field": "x", "type": "quantitative"},
                         "y": {"field": "y", "type": "quantitative"},
                         "color": {"field": "s", "type": "nominal"}}}))?;
        Ok(())
    }
}
