//! SQL `LIKE` in time linear in the text, compiled once when the selector is parsed.
//!
//! The glob matcher this replaces backtracked to the last `%` on every mismatch: a 7 000
//! character `'%aaaa…b'` against 16 000-character header values took 7.3 s of the engine's lock
//! per message, and every other user waited. A pattern is a run of *parts* separated by `%`;
//! the first must match at the start (unless the pattern opens with `%`), the last at the end
//! (unless it closes with one), and each part between is taken at its leftmost occurrence
//! after the one before — leftmost is always safe, because what follows is free to start
//! anywhere after it. Finding a part is linear: `str::find` (two-way) when it has no `_`, a
//! bit-parallel shift-and (one bit per pattern character, `⌈len/64⌉` words per text
//! character) when it has. No crate matches SQL LIKE with its escape character, and a
//! regular-expression translation's DFA grows with such patterns; this is the small case
//! written by hand.

use std::collections::HashMap;

/// One character position of a part.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Item {
    /// `_`: exactly one character.
    One,
    Lit(char),
}

/// A maximal run of the pattern between `%`s.
#[derive(Debug, Clone, PartialEq)]
struct Part {
    items: Vec<Item>,
    /// The part as text when it has no `_` (searched with `str::find`).
    literal: Option<String>,
    /// Shift-and masks: for each character of the part, the positions it may stand at; any
    /// other character fits only the `_` positions (`wild`).
    masks: HashMap<char, Vec<u64>>,
    wild: Vec<u64>,
}

impl Part {
    fn new(items: Vec<Item>) -> Part {
        let words = items.len().div_ceil(64);
        let literal = items
            .iter()
            .map(|i| match i {
                Item::Lit(c) => Some(*c),
                Item::One => None,
            })
            .collect::<Option<String>>();
        let mut wild = vec![0u64; words];
        let mut masks: HashMap<char, Vec<u64>> = HashMap::new();
        if literal.is_none() {
            for (pos, item) in items.iter().enumerate() {
                if *item == Item::One {
                    wild[pos / 64] |= 1 << (pos % 64);
                }
            }
            for (pos, item) in items.iter().enumerate() {
                if let Item::Lit(c) = item {
                    masks.entry(*c).or_insert_with(|| wild.clone())[pos / 64] |= 1 << (pos % 64);
                }
            }
        }
        Part {
            items,
            literal,
            masks,
            wild,
        }
    }

    /// Whether `chars` (exactly as many as the part has items) match it.
    fn fits(&self, mut chars: impl Iterator<Item = char>) -> bool {
        self.items.iter().all(|i| {
            chars
                .next()
                .is_some_and(|c| *i == Item::One || *i == Item::Lit(c))
        })
    }

    /// The byte offset just after the leftmost occurrence of the part in `text`.
    fn find_end(&self, text: &str) -> Option<usize> {
        if let Some(lit) = &self.literal {
            return text.find(lit.as_str()).map(|at| at + lit.len());
        }
        let n = self.items.len();
        let (last_word, last_bit) = ((n - 1) / 64, 1u64 << ((n - 1) % 64));
        let mut state = vec![0u64; self.wild.len()];
        for (at, c) in text.char_indices() {
            let mask = self.masks.get(&c).unwrap_or(&self.wild);
            // state = ((state << 1) | 1) & mask, across the words.
            let mut carry = 1u64;
            for (w, m) in state.iter_mut().zip(mask) {
                let next_carry = *w >> 63;
                *w = ((*w << 1) | carry) & m;
                carry = next_carry;
            }
            if state[last_word] & last_bit != 0 {
                return Some(at + c.len_utf8());
            }
        }
        None
    }
}

/// A compiled `LIKE` pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Like {
    parts: Vec<Part>,
    /// The pattern opens / closes with `%`.
    open_start: bool,
    open_end: bool,
}

impl Like {
    /// `%` any run, `_` one character, `escape` makes the next character literal.
    pub(crate) fn compile(pattern: &str, escape: Option<char>) -> Like {
        let mut parts = Vec::new();
        let mut items = Vec::new();
        let (mut open_start, mut open_end) = (false, false);
        let mut it = pattern.chars();
        while let Some(c) = it.next() {
            if Some(c) == escape {
                if let Some(n) = it.next() {
                    items.push(Item::Lit(n));
                    open_end = false;
                }
            } else if c == '%' {
                if parts.is_empty() && items.is_empty() {
                    open_start = true;
                }
                if !items.is_empty() {
                    parts.push(Part::new(std::mem::take(&mut items)));
                }
                open_end = true;
            } else {
                items.push(if c == '_' { Item::One } else { Item::Lit(c) });
                open_end = false;
            }
        }
        if !items.is_empty() {
            parts.push(Part::new(items));
        }
        Like {
            parts,
            open_start,
            open_end,
        }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        let mut parts = &self.parts[..];
        let (mut from, mut to) = (0, text.len());
        if !self.open_start {
            let Some((first, rest)) = parts.split_first() else {
                return text.is_empty(); // the empty pattern
            };
            let Some(end) = prefix_end(text, first.items.len()) else {
                return false;
            };
            if !first.fits(text[..end].chars()) {
                return false;
            }
            if rest.is_empty() && !self.open_end {
                return end == text.len(); // no `%` at all
            }
            from = end;
            parts = rest;
        }
        if !self.open_end {
            let Some((last, rest)) = parts.split_last() else {
                return true; // `abc%`: the prefix matched
            };
            let Some(start) = suffix_start(&text[from..], last.items.len()) else {
                return false;
            };
            if !last.fits(text[from + start..].chars()) {
                return false;
            }
            to = from + start;
            parts = rest;
        }
        for part in parts {
            match part.find_end(&text[from..to]) {
                Some(end) => from += end,
                None => return false,
            }
        }
        true
    }
}

/// The byte offset after the first `n` characters of `text`, if it has that many.
fn prefix_end(text: &str, n: usize) -> Option<usize> {
    if n == 0 {
        return Some(0);
    }
    text.char_indices()
        .nth(n - 1)
        .map(|(at, c)| at + c.len_utf8())
}

/// The byte offset where the last `n` characters of `text` start, if it has that many.
fn suffix_start(text: &str, n: usize) -> Option<usize> {
    if n == 0 {
        return Some(text.len());
    }
    text.char_indices().rev().nth(n - 1).map(|(at, _)| at)
}
