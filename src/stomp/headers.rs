//! A frame's (and a message's) headers: names and values in wire order, stored back to back
//! in one string, in STOMP's own line form (`name:value\n`), with their boundaries beside it.
//!
//! Why not `Vec<(String, String)>`: that is two allocations per header, and a forwarded
//! message carries eight or more — on a bridge the allocator was a fifth of each broker's
//! time. Here a whole frame's headers are one allocation (the boundaries live inline for up
//! to [`INLINE`] headers). Why the wire form: when no name or value holds a byte STOMP
//! escapes (nearly always), the text *is* the encoded header block for every version, so a
//! decoded frame's headers are one copy from the socket buffer and a MESSAGE's are one copy
//! back out ([`Headers::encode_into`]). Lookups are linear scans: frames carry a handful of
//! headers, and STOMP says the first of repeated headers wins.

use super::escape::{find_special, put_header};
use super::version::Version;
use bytes::{BufMut, BytesMut};
use smallvec::SmallVec;
use std::fmt;

/// Headers whose boundaries need no allocation of their own.
pub const INLINE: usize = 10;

#[derive(Clone)]
pub struct Headers {
    /// `name₀:value₀\nname₁:value₁\n…`, unescaped.
    text: String,
    /// Per header: where its name ends (at its colon) and where its value ends (at its
    /// newline); its name starts just after the previous header's newline.
    ends: SmallVec<[(u32, u32); INLINE]>,
    /// No name or value holds `\n`, `\r`, `:` or `\`: `text` is then already the encoded
    /// header block, in every STOMP version.
    plain: bool,
}

impl Default for Headers {
    fn default() -> Self {
        Headers {
            text: String::new(),
            ends: SmallVec::new(),
            plain: true,
        }
    }
}

/// Whether `s` holds a byte some STOMP version escapes (or cannot carry).
fn special(s: &str) -> bool {
    find_special(s.as_bytes(), true).is_some()
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Room for `count` headers of `bytes` bytes in all.
    pub fn with_capacity(count: usize, bytes: usize) -> Headers {
        Headers {
            text: String::with_capacity(bytes + 2 * count),
            ends: SmallVec::with_capacity(count),
            plain: true,
        }
    }

    /// Headers from lines already in wire form: `text` is the lines, each ending in `\n`, and
    /// `lines` their (start, end) offsets in it (end at the newline). Nothing is unescaped:
    /// for lines with no escape sequences (or frames whose headers are never escaped).
    /// `Err` with the offsets of a line that has no colon. `spare`: room for headers added
    /// later.
    pub fn from_wire(
        text: &str,
        lines: &[(usize, usize)],
        spare: usize,
    ) -> Result<Headers, (usize, usize)> {
        let mut h = Headers {
            text: String::with_capacity(text.len() + spare),
            ends: SmallVec::with_capacity(lines.len() + 2),
            plain: true,
        };
        h.text.push_str(text);
        // Each line's first colon separates its name from its value. One scan finds every
        // colon (a search per line cost more than the copying); a colon that is not the
        // first of its line lies inside a value, and a value with one is not plain.
        let bytes = text.as_bytes();
        let mut colons = memchr::memchr_iter(b':', bytes).peekable();
        let mut extra = false;
        for &(s, e) in lines {
            let mut colon = None;
            while let Some(&c) = colons.peek() {
                if c < s {
                    extra = true;
                    colons.next();
                    continue;
                }
                if c < e {
                    colon = Some(c);
                    colons.next();
                }
                break;
            }
            let Some(colon) = colon else {
                return Err((s, e));
            };
            h.ends.push((colon as u32, e as u32));
        }
        extra |= colons.next().is_some();
        h.plain = !extra && memchr::memchr2(b'\\', b'\r', bytes).is_none();
        Ok(h)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Where the `i`th header's name starts.
    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1].1 as usize + 1
        }
    }

    /// Appends a header (after any of the same name: the first one still wins).
    pub fn push(&mut self, name: &str, value: &str) {
        self.plain = self.plain && !special(name) && !special(value);
        self.text.push_str(name);
        let name_end = self.text.len() as u32;
        self.text.push(':');
        self.text.push_str(value);
        self.ends.push((name_end, self.text.len() as u32));
        self.text.push('\n');
    }

    /// The `i`th header.
    pub fn at(&self, i: usize) -> (&str, &str) {
        let start = self.start(i);
        let (name_end, end) = self.ends[i];
        (
            &self.text[start..name_end as usize],
            &self.text[name_end as usize + 1..end as usize],
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
        Some(&self.text[name_end as usize + 1..end as usize])
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
            start = end as usize + 1;
        }
        None
    }

    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Bytes the names and values take (what a queue's byte limit counts besides the body).
    pub fn byte_len(&self) -> usize {
        self.text.len()
    }

    /// Whether `needle` occurs anywhere in the names or values: one search over the text, a
    /// cheap test before looking header by header.
    pub fn text_contains(&self, needle: &str) -> bool {
        memchr::memmem::find(self.text.as_bytes(), needle.as_bytes()).is_some()
    }

    /// After a value changed to `changed`: plain headers stay plain unless it is special;
    /// others may have become plain (the changed value may have been the special one).
    fn recheck_plain(&mut self, changed: &str) {
        if self.plain {
            self.plain = !special(changed);
        } else {
            self.rescan_plain();
        }
    }

    fn rescan_plain(&mut self) {
        self.plain = self.iter().all(|(k, v)| !special(k) && !special(v));
    }

    /// Shifts the boundaries of the headers after the `i`th by `delta` bytes.
    fn shift_after(&mut self, i: usize, delta: i64) {
        for e in &mut self.ends[i + 1..] {
            e.0 = (e.0 as i64 + delta) as u32;
            e.1 = (e.1 as i64 + delta) as u32;
        }
    }

    /// Gives the `i`th header the value `value`.
    pub fn set_value(&mut self, i: usize, value: &str) {
        let (name_end, end) = self.ends[i];
        let (from, to) = (name_end as usize + 1, end as usize);
        self.text.replace_range(from..to, value);
        let delta = value.len() as i64 - (to - from) as i64;
        self.ends[i].1 = (end as i64 + delta) as u32;
        self.shift_after(i, delta);
        self.recheck_plain(value);
    }

    /// Appends `suffix` to the `i`th header's value.
    pub fn append_value(&mut self, i: usize, suffix: &str) {
        let end = self.ends[i].1 as usize;
        self.text.insert_str(end, suffix);
        self.ends[i].1 += suffix.len() as u32;
        self.shift_after(i, suffix.len() as i64);
        self.plain = self.plain && !special(suffix);
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
            if keep(
                i,
                &self.text[start..name_end],
                &self.text[name_end + 1..end],
            ) {
                kept.push(((name_end - removed) as u32, (end - removed) as u32));
            } else {
                gone.push((start, end + 1));
                removed += end + 1 - start;
            }
            start = end + 1;
        }
        // Back to front, so the ranges still to go keep their offsets.
        for &(from, to) in gone.iter().rev() {
            self.text.drain(from..to);
        }
        self.ends = kept;
        if !self.plain && !gone.is_empty() {
            self.rescan_plain();
        }
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

    /// Writes the headers as `name:value` lines for `version` (escaped when `escaped`: every
    /// frame but CONNECT and CONNECTED), leaving out those named in `skip`. Plain headers
    /// are copied as they are, in runs between the skipped ones.
    pub fn encode_into(&self, out: &mut BytesMut, version: Version, escaped: bool, skip: &[&str]) {
        if !self.plain {
            for (k, v) in self.iter().filter(|(k, _)| !skip.contains(k)) {
                put_header(out, k, v, version, escaped);
            }
            return;
        }
        let text = self.text.as_bytes();
        if skip.is_empty() {
            return out.put_slice(text);
        }
        let (mut run, mut start) = (0usize, 0usize);
        for &(name_end, end) in &self.ends {
            let next = end as usize + 1;
            if skip.contains(&&self.text[start..name_end as usize]) {
                out.put_slice(&text[run..start]);
                run = next;
            }
            start = next;
        }
        out.put_slice(&text[run..]);
    }
}

/// Equal when they hold the same headers in the same order, however they were built.
impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.text == other.text && self.ends == other.ends
    }
}

impl Eq for Headers {}

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
        let item = (&text[self.start..name_end], &text[name_end + 1..end]);
        self.next += 1;
        self.start = end + 1;
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
        assert_eq!(h.text, "keep:1\né:ü\n");
        assert_eq!(h.text.capacity(), cap);
        // Same pairs, same value: equality does not depend on how it was built.
        let fresh: Headers = vec![("keep", "1"), ("é", "ü")].into();
        assert_eq!(h, fresh);
        h.remove("keep");
        assert_eq!(h.at(0), ("é", "ü"));
        h.remove("é");
        assert!(h.is_empty());
    }

    fn encoded(h: &Headers, v: Version, skip: &[&str]) -> String {
        let mut out = BytesMut::new();
        h.encode_into(&mut out, v, true, skip);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn plain_headers_are_their_own_wire_form() {
        let mut h: Headers = vec![("a", "1"), ("shoal-path", "A"), ("b", "2")].into();
        assert!(h.plain);
        assert_eq!(encoded(&h, Version::V1_2, &[]), "a:1\nshoal-path:A\nb:2\n");
        assert_eq!(encoded(&h, Version::V1_2, &["shoal-path"]), "a:1\nb:2\n");
        assert_eq!(encoded(&h, Version::V1_2, &["a", "b"]), "shoal-path:A\n");
        // A value with a colon must be escaped (1.1, 1.2) and goes raw in 1.0.
        h.push("id", "ID:x-1");
        assert!(!h.plain);
        assert_eq!(
            encoded(&h, Version::V1_2, &["shoal-path"]),
            "a:1\nb:2\nid:ID\\cx-1\n"
        );
        assert_eq!(
            encoded(&h, Version::V1_0, &["a"]),
            "shoal-path:A\nb:2\nid:ID:x-1\n"
        );
        // Plain again once the offending header goes or changes.
        let mut gone = h.clone();
        gone.remove("id");
        assert!(gone.plain);
        h.set("id", "ID-x-1");
        assert!(h.plain);
        h.append_value(1, "\\");
        assert!(!h.plain);
    }

    #[test]
    fn wire_lines_become_headers_in_one_copy() {
        let text = "destination:/queue/a\nx:1\nshoal-origin:ID-A-1-2\n";
        let h = Headers::from_wire(text, &[(0, 20), (21, 24), (25, 46)], 0).unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h.get("x"), Some("1"));
        assert_eq!(h.at(2), ("shoal-origin", "ID-A-1-2"));
        assert!(h.plain);
        assert_eq!(encoded(&h, Version::V1_2, &[]), text);
        let built: Headers = vec![
            ("destination", "/queue/a"),
            ("x", "1"),
            ("shoal-origin", "ID-A-1-2"),
        ]
        .into();
        assert_eq!(h, built);
        // A second colon in a value: not plain, so it will be escaped on the way out.
        let h = Headers::from_wire("k:v:w\n", &[(0, 5)], 0).unwrap();
        assert_eq!(h.get("k"), Some("v:w"));
        assert!(!h.plain);
        assert_eq!(encoded(&h, Version::V1_1, &[]), "k:v\\cw\n");
        assert_eq!(Headers::from_wire("novalue\n", &[(0, 7)], 0), Err((0, 7)));
    }
}
