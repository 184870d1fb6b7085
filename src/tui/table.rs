//! A table's view state, shared by every pane: selection, sort column and order, and the `/`
//! filter (a regex; a leading `!` inverts it). Rows are plain data; this decides which are
//! shown and in what order.

use regex::Regex;
use std::cmp::Ordering;

/// One cell: what is shown, what it sorts by, and how it is coloured.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub key: SortKey,
    pub tone: Tone,
}

/// A cell's colour, decided from typed state where the row is built (never from its text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Plain,
    Good,
    Warn,
    Bad,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Num(f64),
    Text(String),
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        let text = s.into();
        Cell {
            key: SortKey::Text(text.to_lowercase()),
            text,
            tone: Tone::Plain,
        }
    }

    pub fn num(text: impl Into<String>, n: f64) -> Cell {
        Cell {
            text: text.into(),
            key: SortKey::Num(n),
            tone: Tone::Plain,
        }
    }

    pub fn tone(mut self, tone: Tone) -> Cell {
        self.tone = tone;
        self
    }
}

fn cmp_keys(a: &SortKey, b: &SortKey) -> Ordering {
    match (a, b) {
        (SortKey::Num(x), SortKey::Num(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (SortKey::Text(x), SortKey::Text(y)) => x.cmp(y),
        (SortKey::Num(_), SortKey::Text(_)) => Ordering::Less,
        (SortKey::Text(_), SortKey::Num(_)) => Ordering::Greater,
    }
}

/// A row with the id it is selected by (stays selected across refreshes and re-sorts).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Default, Clone)]
pub struct TableView {
    /// Id of the selected row.
    pub selected: Option<String>,
    pub sort_col: usize,
    pub reverse: bool,
    pub filter_text: String,
    filter: Option<(Regex, bool)>,
    pub filter_error: Option<String>,
}

impl TableView {
    pub fn sorted_by(col: usize, reverse: bool) -> TableView {
        TableView {
            sort_col: col,
            reverse,
            ..TableView::default()
        }
    }

    /// Sets the filter from what the user typed: a regex, `!regex` to invert, empty to clear.
    pub fn set_filter(&mut self, text: &str) {
        self.filter_text = text.to_string();
        self.filter_error = None;
        let (invert, pattern) = match text.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, text),
        };
        self.filter = if pattern.is_empty() {
            None
        } else {
            match Regex::new(&format!("(?i){pattern}")) {
                Ok(r) => Some((r, invert)),
                Err(e) => {
                    self.filter_error =
                        Some(e.to_string().lines().last().unwrap_or("").to_string());
                    None
                }
            }
        };
    }

    /// The rows to show: filtered, sorted (ties broken by id, so the order is stable).
    pub fn apply(&self, mut rows: Vec<Row>) -> Vec<Row> {
        if let Some((re, invert)) = &self.filter {
            rows.retain(|r| {
                let hit = r.cells.iter().any(|c| re.is_match(&c.text));
                hit != *invert
            });
        }
        let col = self.sort_col;
        rows.sort_by(|a, b| {
            let o = match (a.cells.get(col), b.cells.get(col)) {
                (Some(x), Some(y)) => cmp_keys(&x.key, &y.key),
                _ => Ordering::Equal,
            };
            let o = if self.reverse { o.reverse() } else { o };
            o.then_with(|| a.id.cmp(&b.id))
        });
        rows
    }

    /// Index of the selected row in `rows` (the first row if the selection went away).
    pub fn index_in(&self, rows: &[Row]) -> Option<usize> {
        if rows.is_empty() {
            return None;
        }
        Some(
            self.selected
                .as_ref()
                .and_then(|id| rows.iter().position(|r| &r.id == id))
                .unwrap_or(0),
        )
    }

    /// Moves the selection by `delta` rows (clamped), or to an end.
    pub fn move_by(&mut self, rows: &[Row], delta: isize) {
        let Some(i) = self.index_in(rows) else { return };
        let j = (i as isize + delta).clamp(0, rows.len() as isize - 1) as usize;
        self.selected = Some(rows[j].id.clone());
    }

    pub fn next_sort(&mut self, columns: usize) {
        if columns > 0 {
            self.sort_col = (self.sort_col + 1) % columns;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        [("a", "alpha", 3.0), ("b", "beta", 1.0), ("c", "gamma", 2.0)]
            .into_iter()
            .map(|(id, name, n)| Row {
                id: id.into(),
                cells: vec![Cell::text(name), Cell::num(n.to_string(), n)],
            })
            .collect()
    }

    fn ids(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn sorts_filters_and_keeps_the_selection() {
        let mut t = TableView::default();
        assert_eq!(ids(&t.apply(rows())), ["a", "b", "c"]);
        t.next_sort(2);
        assert_eq!(ids(&t.apply(rows())), ["b", "c", "a"]);
        t.reverse = true;
        assert_eq!(ids(&t.apply(rows())), ["a", "c", "b"]);
        t.set_filter("ETA");
        assert_eq!(ids(&t.apply(rows())), ["b"]);
        t.set_filter("!eta");
        assert_eq!(ids(&t.apply(rows())), ["a", "c"]);
        t.set_filter("(");
        assert!(t.filter_error.is_some());
        assert_eq!(t.apply(rows()).len(), 3);
        t.set_filter("");
        let shown = t.apply(rows());
        t.move_by(&shown, 1);
        assert_eq!(t.selected.as_deref(), Some("c"));
        t.move_by(&shown, 100);
        assert_eq!(t.selected.as_deref(), Some("b"));
        t.move_by(&shown, -100);
        assert_eq!(t.selected.as_deref(), Some("a"));
        assert_eq!(t.index_in(&[]), None);
    }
}
