//! Ruby's Marshal format 4.8, for the types MCollective messages carry.
//!
//! MCollective's psk plugin puts `Marshal.dump` of a Ruby Hash on the wire, so a node or client
//! that wants to talk to real `mco`/`mcollectived` must read and write it. Only the data types
//! occur (nil, booleans, integers, floats, strings, symbols, arrays, hashes); anything else —
//! user classes, objects, regexps — is refused with an error rather than guessed at, because a
//! message we cannot fully understand must not be answered.
//!
//! Strings keep their encoding (binary, UTF-8 via the `E: true` ivar, US-ASCII via `E: false`)
//! so that a decoded message encodes back to the same bytes; hashes keep their order.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// ASCII-8BIT: no encoding ivar (e.g. the nested `:body`, itself a Marshal dump).
    Binary,
    /// `E: true`.
    Utf8,
    /// `E: false`.
    UsAscii,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Vec<u8>, Encoding),
    Sym(String),
    Array(Vec<Value>),
    /// In insertion order, as Ruby keeps them.
    Hash(Vec<(Value, Value)>),
}

#[derive(Debug, Error, PartialEq)]
pub enum MarshalError {
    #[error("not Ruby Marshal 4.8 data")]
    BadVersion,
    #[error("Marshal data ends early")]
    Truncated,
    #[error("unsupported Marshal type {0:?} at byte {1}")]
    Unsupported(char, usize),
    #[error("bad {0} link {1}")]
    BadLink(&'static str, usize),
    #[error("integer too large for 64 bits")]
    IntTooLarge,
    #[error("bad float {0:?}")]
    BadFloat(String),
    #[error("{0} bytes left over after the value")]
    Trailing(usize),
    #[error("nested too deeply")]
    TooDeep,
    /// Object links (`@`) repeat what they point to: a few hundred bytes of links doubling
    /// at each level once decoded to gigabytes.
    #[error("decodes to more than {0} values and bytes")]
    TooLarge(usize),
}

impl Value {
    /// A UTF-8 Ruby string (what Ruby literals are).
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into().into_bytes(), Encoding::Utf8)
    }

    pub fn sym(s: &str) -> Value {
        Value::Sym(s.to_string())
    }

    /// A Hash with Symbol keys, as MCollective builds them.
    pub fn sym_hash<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Hash(pairs.into_iter().map(|(k, v)| (Value::sym(k), v)).collect())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(b, _) => std::str::from_utf8(b).ok(),
            Value::Sym(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(b, _) => Some(b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The value under a Symbol key (`:name`) of a Hash.
    pub fn get(&self, sym: &str) -> Option<&Value> {
        self.get_key(|k| matches!(k, Value::Sym(s) if s == sym))
    }

    /// The value under a String key (`"name"`) of a Hash (MCollective's filter uses these).
    pub fn get_str_key(&self, key: &str) -> Option<&Value> {
        self.get_key(|k| matches!(k, Value::Str(b, _) if b == key.as_bytes()))
    }

    fn get_key(&self, is: impl Fn(&Value) -> bool) -> Option<&Value> {
        match self {
            Value::Hash(pairs) => pairs.iter().find(|(k, _)| is(k)).map(|(_, v)| v),
            _ => None,
        }
    }
}

const MAX_DEPTH: usize = 64;

/// Decodes one complete Marshal dump.
pub fn load(data: &[u8]) -> Result<Value, MarshalError> {
    if data.len() < 2 || data[0] != 4 || data[1] != 8 {
        return Err(MarshalError::BadVersion);
    }
    let mut r = Reader {
        data,
        pos: 2,
        symbols: Vec::new(),
        objects: Vec::new(),
        weight: 0,
        max_weight: max_weight(data.len()),
    };
    let v = r.value(0)?;
    if r.pos != data.len() {
        return Err(MarshalError::Trailing(data.len() - r.pos));
    }
    Ok(v)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    symbols: Vec<String>,
    /// Objects in the order Ruby numbers them (for `@` links), with their weight; `None`
    /// while being read.
    objects: Vec<Option<(Value, usize)>>,
    /// Values and string bytes decoded so far, links counting what they repeat.
    weight: usize,
    max_weight: usize,
}

/// The most a dump of `len` bytes may decode to (values plus string bytes): a few times its
/// size, which no real MCollective message comes near (it links symbols, not objects).
fn max_weight(len: usize) -> usize {
    len.saturating_mul(8).max(1 << 20)
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, MarshalError> {
        let b = *self.data.get(self.pos).ok_or(MarshalError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], MarshalError> {
        let end = self.pos.checked_add(n).ok_or(MarshalError::Truncated)?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(MarshalError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// Marshal's packed integer ("w_long").
    fn long(&mut self) -> Result<i64, MarshalError> {
        let c = self.byte()? as i8;
        Ok(match c {
            0 => 0,
            5..=127 => i64::from(c) - 5,
            -128..=-5 => i64::from(c) + 5,
            1..=4 => {
                let mut x: i64 = 0;
                for i in 0..c {
                    x |= i64::from(self.byte()?) << (8 * i);
                }
                x
            }
            _ => {
                let n = -c;
                let mut x: i64 = -1;
                for i in 0..n {
                    x &= !(0xff << (8 * i));
                    x |= i64::from(self.byte()?) << (8 * i);
                }
                x
            }
        })
    }

    fn len(&mut self) -> Result<usize, MarshalError> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| MarshalError::Truncated)
    }

    fn symbol_body(&mut self) -> Result<String, MarshalError> {
        let n = self.len()?;
        let s = String::from_utf8_lossy(self.bytes(n)?).into_owned();
        self.symbols.push(s.clone());
        Ok(s)
    }

    /// A symbol where one is required (hash of ivars): `:` or `;`.
    fn symbol(&mut self) -> Result<String, MarshalError> {
        let at = self.pos;
        match self.byte()? {
            b':' => self.symbol_body(),
            b';' => {
                let i = self.len()?;
                self.symbols
                    .get(i)
                    .cloned()
                    .ok_or(MarshalError::BadLink("symbol", i))
            }
            c => Err(MarshalError::Unsupported(c as char, at)),
        }
    }

    fn charge(&mut self, w: usize) -> Result<(), MarshalError> {
        self.weight = self.weight.saturating_add(w);
        if self.weight > self.max_weight {
            return Err(MarshalError::TooLarge(self.max_weight));
        }
        Ok(())
    }

    /// Records the object read into `slot` since `start` (the weight before it).
    fn store(&mut self, slot: usize, v: &Value, start: usize) {
        if let Some(o) = self.objects.get_mut(slot) {
            *o = Some((v.clone(), self.weight - start));
        }
    }

    fn reserve(&mut self) -> usize {
        self.objects.push(None);
        self.objects.len() - 1
    }

    fn value(&mut self, depth: usize) -> Result<Value, MarshalError> {
        if depth > MAX_DEPTH {
            return Err(MarshalError::TooDeep);
        }
        let at = self.pos;
        let start = self.weight;
        self.charge(1)?;
        let tag = self.byte()?;
        match tag {
            b'0' => Ok(Value::Nil),
            b'T' => Ok(Value::Bool(true)),
            b'F' => Ok(Value::Bool(false)),
            b'i' => Ok(Value::Int(self.long()?)),
            b':' => Ok(Value::Sym(self.symbol_body()?)),
            b';' => {
                let i = self.len()?;
                let s = self
                    .symbols
                    .get(i)
                    .ok_or(MarshalError::BadLink("symbol", i))?;
                Ok(Value::Sym(s.clone()))
            }
            b'@' => {
                let i = self.len()?;
                let w = match self.objects.get(i) {
                    Some(Some((_, w))) => *w,
                    _ => return Err(MarshalError::BadLink("object", i)),
                };
                self.charge(w)?;
                match self.objects.get(i) {
                    Some(Some((v, _))) => Ok(v.clone()),
                    _ => Err(MarshalError::BadLink("object", i)),
                }
            }
            b'"' => {
                let slot = self.reserve();
                let n = self.len()?;
                self.charge(n)?;
                let v = Value::Str(self.bytes(n)?.to_vec(), Encoding::Binary);
                self.store(slot, &v, start);
                Ok(v)
            }
            b'l' => {
                let slot = self.reserve();
                let sign = self.byte()?;
                let shorts = self.len()?;
                let raw = self.bytes(shorts * 2)?;
                let mut x: u64 = 0;
                for (i, b) in raw.iter().enumerate() {
                    if *b != 0 && i >= 8 {
                        return Err(MarshalError::IntTooLarge);
                    }
                    if i < 8 {
                        x |= u64::from(*b) << (8 * i);
                    }
                }
                let x = i64::try_from(x).map_err(|_| MarshalError::IntTooLarge)?;
                let v = Value::Int(if sign == b'-' { -x } else { x });
                self.store(slot, &v, start);
                Ok(v)
            }
            b'f' => {
                let slot = self.reserve();
                let n = self.len()?;
                let s = String::from_utf8_lossy(self.bytes(n)?).into_owned();
                let f = match s.as_str() {
                    "nan" => f64::NAN,
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    _ => s.parse().map_err(|_| MarshalError::BadFloat(s.clone()))?,
                };
                self.store(slot, &Value::Float(f), start);
                Ok(Value::Float(f))
            }
            b'[' => {
                let slot = self.reserve();
                let n = self.len()?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                let v = Value::Array(items);
                self.store(slot, &v, start);
                Ok(v)
            }
            b'{' => {
                let slot = self.reserve();
                let n = self.len()?;
                let mut pairs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let k = self.value(depth + 1)?;
                    let v = self.value(depth + 1)?;
                    pairs.push((k, v));
                }
                let v = Value::Hash(pairs);
                self.store(slot, &v, start);
                Ok(v)
            }
            b'I' => {
                // An object with instance variables: for us, a String (or Symbol) and its
                // encoding.
                let inner_at = self.pos;
                // A String inside registers itself in this slot; its encoding comes after.
                let slot = self.objects.len();
                let inner = self.value(depth + 1)?;
                let n = self.len()?;
                let mut enc = None;
                for _ in 0..n {
                    let name = self.symbol()?;
                    let val = self.value(depth + 1)?;
                    if name == "E" {
                        enc = Some(match val {
                            Value::Bool(true) => Encoding::Utf8,
                            _ => Encoding::UsAscii,
                        });
                    } else if name == "encoding" {
                        enc = Some(Encoding::Binary);
                    }
                }
                match (inner, enc) {
                    (Value::Str(b, _), e) => {
                        let v = Value::Str(b, e.unwrap_or(Encoding::Binary));
                        self.store(slot, &v, start);
                        Ok(v)
                    }
                    (v @ Value::Sym(_), _) => Ok(v),
                    _ => Err(MarshalError::Unsupported('I', inner_at)),
                }
            }
            c => Err(MarshalError::Unsupported(c as char, at)),
        }
    }
}

/// Encodes a value as Ruby's `Marshal.dump` would (symbols linked after their first use;
/// equal strings are written out again rather than linked, which Ruby reads the same).
pub fn dump(v: &Value) -> Vec<u8> {
    let mut w = Writer {
        out: vec![4, 8],
        symbols: Vec::new(),
    };
    w.value(v);
    w.out
}

struct Writer {
    out: Vec<u8>,
    symbols: Vec<String>,
}

impl Writer {
    fn long(&mut self, x: i64) {
        match x {
            0 => self.out.push(0),
            1..=122 => self.out.push((x + 5) as u8),
            -123..=-1 => self.out.push((x - 5) as i8 as u8),
            _ => {
                let bytes = x.to_le_bytes();
                let mut n = 8;
                if x > 0 {
                    while n > 1 && bytes[n - 1] == 0 {
                        n -= 1;
                    }
                    self.out.push(n as u8);
                } else {
                    while n > 1 && bytes[n - 1] == 0xff {
                        n -= 1;
                    }
                    self.out.push((-(n as i8)) as u8);
                }
                self.out.extend_from_slice(&bytes[..n]);
            }
        }
    }

    fn symbol(&mut self, s: &str) {
        if let Some(i) = self.symbols.iter().position(|x| x == s) {
            self.out.push(b';');
            self.long(i as i64);
        } else {
            self.symbols.push(s.to_string());
            self.out.push(b':');
            self.long(s.len() as i64);
            self.out.extend_from_slice(s.as_bytes());
        }
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Nil => self.out.push(b'0'),
            Value::Bool(true) => self.out.push(b'T'),
            Value::Bool(false) => self.out.push(b'F'),
            // Ruby writes a Fixnum only for 31-bit values; larger ones as a Bignum.
            Value::Int(i) if (-(1 << 30)..(1 << 30)).contains(i) => {
                self.out.push(b'i');
                self.long(*i);
            }
            Value::Int(i) => {
                self.out.push(b'l');
                self.out.push(if *i < 0 { b'-' } else { b'+' });
                let mag = i.unsigned_abs().to_le_bytes();
                let mut n = 8;
                while n > 1 && mag[n - 1] == 0 {
                    n -= 1;
                }
                let shorts = n.div_ceil(2);
                self.long(shorts as i64);
                self.out.extend_from_slice(&mag[..n]);
                if n % 2 == 1 {
                    self.out.push(0);
                }
            }
            Value::Float(f) => {
                let s = if f.is_nan() {
                    "nan".to_string()
                } else if f.is_infinite() {
                    if *f > 0.0 { "inf" } else { "-inf" }.to_string()
                } else {
                    format!("{f}")
                };
                self.out.push(b'f');
                self.long(s.len() as i64);
                self.out.extend_from_slice(s.as_bytes());
            }
            Value::Str(b, enc) => {
                if *enc != Encoding::Binary {
                    self.out.push(b'I');
                }
                self.out.push(b'"');
                self.long(b.len() as i64);
                self.out.extend_from_slice(b);
                if *enc != Encoding::Binary {
                    self.long(1);
                    self.symbol("E");
                    self.out
                        .push(if *enc == Encoding::Utf8 { b'T' } else { b'F' });
                }
            }
            Value::Sym(s) => self.symbol(s),
            Value::Array(items) => {
                self.out.push(b'[');
                self.long(items.len() as i64);
                for i in items {
                    self.value(i);
                }
            }
            Value::Hash(pairs) => {
                self.out.push(b'{');
                self.long(pairs.len() as i64);
                for (k, v) in pairs {
                    self.value(k);
                    self.value(v);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "marshal_tests.rs"]
pub(crate) mod tests;
