//! A frame's (and a message's) headers: names and values in wire order, stored back to back
//! in one string with their boundaries beside it.
//!
//! Why not `Vec<(String, String)>`: that is two allocations per header, and a forwarded
//! message carries eight or more — on a bridge the allocator was a fifth of each broker's
//! time. Here a whole frame's headers are one allocation (the boundaries live inline for up
//! to [`INLINE`] headers). Lookups are linear scans, as before: frames carry a handful of
//! headers, and STOMP says the first of repeated headers wins.

use smallvec::SmallVec;
use std::fmt;

/// Headers whose boundaries need no allocation of their own.
pub const INLINE: usize = 10;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// `name₀value₀name₁value₁…`, nothing between.
    text: String,
    /// Per header: where its name ends and where its value ends (its name starts where the
    /// previous value ended).
    ends: SmallVec<[(u32, u32); INLINE]>,
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Room for `count` headers of `bytes` bytes in all.
    pub fn with_capacity(count: usize, bytes: usize) -> Headers {
        Headers {
            text: String::with_capacity(bytes),
            ends: SmallVec::with_capacity(count),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Appends a header (after any of the same name: the first one still wins).
    pub fn push(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        let name_end = self.text.len() as u32;
        self.text.push_str(value);
        self.ends.push((name_end, self.text.len() as u32));
    }

    /// The `i`th header.
    pub fn at(&self, i: usize) -> (&str, &str) {
        let start = if i == 0 { 0 } else { self.ends[i - 1].1 } as usize;
        let (name_end, end) = self.ends[i];
        (
            &self.text[start..name_end as usize],
            &self.text[name_end as usize..end as usize],
        )
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            headers: self,
            next: 0,
            start: 0,
        }
    }

    /// The value of the first header named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        let i = self.position(name)?;
        let (name_end, end) = self.ends[i];
        Some(&self.text[name_end as usize..end as usize])
    }

    /// Where the first header named `name` is. Compares lengths, then bytes: every frame and
    /// message is asked for several headers by name, so this avoids building `&str`s.
    pub fn position(&self, name: &str) -> Option<usize> {
        let (text, name) = (self.text.as_bytes(), name.as_bytes());
        let mut start = 0usize;
        for (i, &(name_end, end)) in self.ends.iter().enumerate() {
            let name_end = name_end as usize;
            if name_end - start == name.len() && &text[start..name_end] == name {
                return Some(i);
            }
            start = end as usize;
        }
        None
    }

    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Gives the `i`th header the value `value`.
    pub fn set_value(&mut self, i: usize, value: &str) {
        let (name_end, end) = self.ends[i];
        let (from, to) = (name_end as usize, end as usize);
        self.text.replace_range(from..to, value);
        let delta = value.len() as i64 - (to - from) as i64;
        self.ends[i].1 = (end as i64 + delta) as u32;
        for e in &mut self.ends[i + 1..] {
            e.0 = (e.0 as i64 + delta) as u32;
            e.1 = (e.1 as i64 + delta) as u32;
        }
    }

    /// Appends `suffix` to the `i`th header's value.
    pub fn append_value(&mut self, i: usize, suffix: &str) {
        let end = self.ends[i].1 as usize;
        self.text.insert_str(end, suffix);
        let n = suffix.len() as u32;
        self.ends[i].1 += n;
        for e in &mut self.ends[i + 1..] {
            e.0 += n;
            e.1 += n;
        }
    }

    /// Sets the first header named `name` to `value`, or appends one.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.position(name) {
            Some(i) => self.set_value(i, value),
            None => self.push(name, value),
        }
    }

    /// Keeps the headers for which `keep(index, name, value)` holds, in order, compacting
    /// the text where it is (no allocation).
    pub fn retain(&mut self, mut keep: impl FnMut(usize, &str, &str) -> bool) {
        let mut start = 0usize;
        let mut gone: SmallVec<[(usize, usize); INLINE]> = SmallVec::new();
        let mut kept: SmallVec<[(u32, u32); INLINE]> = SmallVec::new();
        let mut removed = 0usize; // bytes dropped before the header at hand
        for (i, &(name_end, end)) in self.ends.iter().enumerate() {
            let (name_end, end) = (name_end as usize, end as usize);
            if keep(i, &self.text[start..name_end], &self.text[name_end..end]) {
                kept.push(((name_end - removed) as u32, (end - removed) as u32));
            } else {
                gone.push((start, end));
                removed += end - start;
            }
            start = end;
        }
        // Back to front, so the ranges still to go keep their offsets.
        for &(from, to) in gone.iter().rev() {
            self.text.drain(from..to);
        }
        self.ends = kept;
    }

    /// Removes every header named `name`.
    pub fn remove(&mut self, name: &str) {
        self.retain(|_, k, _| k != name);
    }

    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

pub struct Iter<'a> {
    headers: &'a Headers,
    next: usize,
    /// Where the next header's name starts.
    start: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let &(name_end, end) = self.headers.ends.get(self.next)?;
        let (name_end, end) = (name_end as usize, end as usize);
        let text = &self.headers.text;
        let item = (&text[self.start..name_end], &text[name_end..end]);
        self.next += 1;
        self.start = end;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.headers.len() - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Headers {
        let mut h = Headers::new();
        for (k, v) in iter {
            h.push(k.as_ref(), v.as_ref());
        }
        h
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for Headers {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.push(k.as_ref(), v.as_ref());
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> From<Vec<(K, V)>> for Headers {
    fn from(v: Vec<(K, V)>) -> Headers {
        v.into_iter().collect()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(h: &Headers) -> Vec<(String, String)> {
        h.to_vec()
    }

    #[test]
    fn keeps_order_and_first_wins() {
        let mut h = Headers::new();
        h.push("destination", "/queue/a");
        h.push("x", "1");
        h.push("x", "2");
        h.push("", "");
        h.push("ünï", "cödé:");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get("x"), Some("1"));
        assert_eq!(h.get(""), Some(""));
        assert_eq!(h.get("ünï"), Some("cödé:"));
        assert_eq!(h.get("y"), None);
        assert_eq!(h.at(1), ("x", "1"));
        assert_eq!(h.iter().len(), 5);
    }

    #[test]
    fn set_value_shifts_what_follows() {
        let mut h: Headers = vec![("a", "1"), ("path", "A"), ("c", "3")].into();
        h.set_value(1, "A,B,C");
        assert_eq!(
            pairs(&h),
            [("a", "1"), ("path", "A,B,C"), ("c", "3")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        h.set("a", "");
        h.set("new", "n");
        assert_eq!(h.get("a"), Some(""));
        assert_eq!(h.get("c"), Some("3"));
        assert_eq!(h.get("new"), Some("n"));
    }

    #[test]
    fn retain_compacts_in_place() {
        let mut h: Headers = vec![
            ("destination", "/queue/a"),
            ("keep", "1"),
            ("content-length", "5"),
            ("é", "ü"),
            ("receipt", "r"),
        ]
        .into();
        let cap = h.text.capacity();
        h.retain(|_, k, _| !matches!(k, "destination" | "content-length" | "receipt"));
        assert_eq!(h.len(), 2);
        assert_eq!(h.at(0), ("keep", "1"));
        assert_eq!(h.at(1), ("é", "ü"));
        assert_eq!(h.text, "keep1éü");
        assert_eq!(h.text.capacity(), cap);
        // Same pairs, same value: equality does not depend on how it was built.
        let fresh: Headers = vec![("keep", "1"), ("é", "ü")].into();
        assert_eq!(h, fresh);
        h.remove("keep");
        assert_eq!(h.at(0), ("é", "ü"));
        h.remove("é");
        assert!(h.is_empty());
    }
}
