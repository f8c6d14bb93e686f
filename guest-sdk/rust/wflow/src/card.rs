//! Cards: a report a step writes for people — markdown, tables, images and charts — shown by
//! `wflow ui` on the task's page and written as a self-contained HTML file by
//! `wflow card get Flow/run/step/task`.
//!
//! ```
//! # fn step() -> wflow::Result<()> {
//! use wflow::card;
//!
//! card::markdown("# Squares\nOne row per item.");
//! card::table(["n", "square"], &[[1, 1], [2, 4], [3, 9]])?;
//! card::chart(&serde_json::json!({
//!     "mark": "bar",
//!     "data": {"values": [{"n": 1, "sq": 1}, {"n": 2, "sq": 4}]},
//!     "encoding": {"x": {"field": "n", "type": "ordinal"},
//!                  "y": {"field": "sq", "type": "quantitative"}}
//! }))?;
//! card::named("diagnostics").markdown("a second card");
//! # Ok(())
//! # }
//! # let _ = step;
//! ```
//!
//! Parts are collected while the step runs and kept when it returns `Ok` (a failed step keeps no
//! card), each card as the artifact `card:ID` with the codec `wflow.card` — `card:default` for the
//! functions of this module. A card is an ordinary artifact put through the contract's `put`, so
//! a later task inherits it like any other; the UI shows a task the cards it wrote itself and
//! links to inherited ones. Charts are Vega-Lite specs with their data inline (`data.values`);
//! the subset wflow draws is listed in docs/store.md. The format is in docs/store.md too.

use std::cell::RefCell;
use std::collections::BTreeMap;

use ciborium::Value as Cbor;
use serde::Serialize;

use crate::{Error, ErrorKind, Result, host};

/// The codec of a card artifact.
pub const CODEC: &str = "wflow.card";

/// The card format version written.
const VERSION: u64 = 1;

/// A card being written: its title and parts.
type Draft = (Option<String>, Vec<Cbor>);

thread_local! {
    /// The cards of the running task, by id.
    static CARDS: RefCell<BTreeMap<String, Draft>> = const { RefCell::new(BTreeMap::new()) };
}

/// A card of the running task, by id (see [`named`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    id: String,
}

/// The card `id` of the running task (`default` is the one the module's functions write to).
/// It is kept as the artifact `card:ID`.
pub fn named(id: impl Into<String>) -> Card {
    Card { id: id.into() }
}

/// The default card.
pub fn default_card() -> Card {
    named("default")
}

/// Adds markdown (CommonMark with tables) to the default card.
pub fn markdown(text: impl Into<String>) {
    default_card().markdown(text)
}

/// Adds a table to the default card: column names and rows (anything that serializes as a
/// list of lists of values).
pub fn table<C: Into<String>>(
    columns: impl IntoIterator<Item = C>,
    rows: &impl Serialize,
) -> Result<()> {
    default_card().table(columns, rows)
}

/// Adds an image (PNG, JPEG, GIF, WebP or SVG bytes) to the default card.
pub fn image(bytes: impl Into<Vec<u8>>) {
    default_card().image(bytes)
}

/// Adds a chart to the default card: a Vega-Lite spec with its data in `data.values`.
pub fn chart(spec: &impl Serialize) -> Result<()> {
    default_card().chart(spec)
}

/// Sets the default card's title.
pub fn title(text: impl Into<String>) {
    default_card().title(text)
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_string())
}

fn part(kind: &str, value: Cbor) -> Cbor {
    Cbor::Map(vec![(text(kind), value)])
}

fn to_cbor(what: &str, value: &impl Serialize) -> Result<Cbor> {
    Cbor::serialized(value)
        .map_err(|e| Error::new(ErrorKind::Codec, format_args!("card {what}: {e}")))
}

impl Card {
    fn push(&self, part: Cbor) {
        CARDS.with(|c| {
            c.borrow_mut()
                .entry(self.id.clone())
                .or_default()
                .1
                .push(part)
        });
    }

    /// Adds markdown (CommonMark with tables). Raw HTML in it is shown as text.
    pub fn markdown(&self, text: impl Into<String>) {
        self.push(part("markdown", Cbor::Text(text.into())));
    }

    /// Adds a table: column names and rows (anything that serializes as a list of lists).
    pub fn table<C: Into<String>>(
        &self,
        columns: impl IntoIterator<Item = C>,
        rows: &impl Serialize,
    ) -> Result<()> {
        let columns = columns.into_iter().map(|c| Cbor::Text(c.into())).collect();
        let rows = to_cbor("table rows", rows)?;
        if !matches!(rows, Cbor::Array(_)) {
            return Err(Error::new(
                ErrorKind::Invalid,
                "card table rows must serialize as a list of lists",
            ));
        }
        self.push(part(
            "table",
            Cbor::Map(vec![
                (text("columns"), Cbor::Array(columns)),
                (text("rows"), rows),
            ]),
        ));
        Ok(())
    }

    /// Adds an image: PNG, JPEG, GIF, WebP or SVG bytes (the type is read from the bytes).
    pub fn image(&self, bytes: impl Into<Vec<u8>>) {
        self.push(part(
            "image",
            Cbor::Map(vec![(text("bytes"), Cbor::Bytes(bytes.into()))]),
        ));
    }

    /// Adds a chart: a Vega-Lite spec (any value that serializes as a map, such as
    /// `serde_json::json!({…})`) with its data inline in `data.values`.
    pub fn chart(&self, spec: &impl Serialize) -> Result<()> {
        let spec = to_cbor("chart", spec)?;
        if !matches!(spec, Cbor::Map(_)) {
            return Err(Error::new(
                ErrorKind::Invalid,
                "a card chart is a Vega-Lite spec: it must serialize as a map",
            ));
        }
        self.push(part("chart", spec));
        Ok(())
    }

    /// Sets the card's title.
    pub fn title(&self, text: impl Into<String>) {
        CARDS.with(|c| c.borrow_mut().entry(self.id.clone()).or_default().0 = Some(text.into()));
    }
}

/// Forgets the cards collected so far (a new task starts, or the step failed).
pub(crate) fn clear() {
    CARDS.with(|c| c.borrow_mut().clear());
}

/// Puts every card collected so far as `card:ID`; called after the step returns `Ok`.
pub(crate) fn save() -> Result<()> {
    let cards = CARDS.with(|c| std::mem::take(&mut *c.borrow_mut()));
    if cards.is_empty() {
        return Ok(());
    }
    let task = format!(
        "{}/{}/{}/{}",
        host::flow_name(),
        host::run_id(),
        host::step_name(),
        host::task_id()
    );
    for (id, (title, parts)) in cards {
        let mut doc = vec![
            (text("version"), Cbor::Integer(VERSION.into())),
            (text("id"), text(&id)),
            (text("task"), text(&task)),
        ];
        if let Some(t) = title {
            doc.push((text("title"), Cbor::Text(t)));
        }
        doc.push((text("parts"), Cbor::Array(parts)));
        let mut bytes = Vec::new();
        ciborium::into_writer(&Cbor::Map(doc), &mut bytes)?;
        let name = format!("card:{id}");
        host::put(&name, CODEC, &mut bytes)
            .map_err(|e| Error::from(e).context(format_args!("putting card `{name}`")))?;
    }
    Ok(())
}
