//! Keymaps: which keys do what, per context, loaded from TOML.
//!
//! A keymap file has one table per context (`[global]`, `[bridges]`, `[traffic]`, `[tap]`,
//! `[collectives]`, `[ping]`, `[help]`) and one entry per action:
//! `quit = { keys = ["q", "ctrl-c"], description = "Quit" }`. A key is a character (`q`, `?`,
//! `G`), a name (`enter`, `esc`, `tab`, `backtab`, `space`, `up`, `pagedown`, `f1`…) or
//! `ctrl-`/`alt-` + key; a sequence is keys separated by spaces (`g g`).
//!
//! Every problem in a file — unknown context, action or key name, a key bound twice, or a key
//! that is the prefix of another sequence — is reported with the file and line, all of them at
//! once, before the terminal is touched. There is no silent fallback to the defaults.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The contexts a binding can live in; `global` applies in every pane (not in help).
pub const CONTEXTS: [&str; 8] = [
    "global",
    "bridges",
    "traffic",
    "tap",
    "collectives",
    "ping",
    "connections",
    "help",
];

pub use super::action::Action;

/// One key press, normalised (shift folded into the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn from_event(e: &KeyEvent) -> Key {
        Key {
            code: e.code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
            alt: e.modifiers.contains(KeyModifiers::ALT),
        }
    }

    pub fn parse(s: &str) -> Option<Key> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-").filter(|r| !r.is_empty()) {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-").filter(|r| !r.is_empty()) {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            "insert" => KeyCode::Insert,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            f if f.len() > 1
                && f.starts_with('f')
                && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
            {
                KeyCode::F(f[1..].parse().ok()?)
            }
            c if c.chars().count() == 1 => {
                let ch = c.chars().next()?;
                if ch.is_whitespace() || ch.is_control() {
                    return None;
                }
                KeyCode::Char(if ctrl { ch.to_ascii_lowercase() } else { ch })
            }
            _ => return None,
        };
        Some(Key { code, ctrl, alt })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("backtab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Insert => f.write_str("insert"),
            KeyCode::Up => f.write_str("up"),
            KeyCode::Down => f.write_str("down"),
            KeyCode::Left => f.write_str("left"),
            KeyCode::Right => f.write_str("right"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pageup"),
            KeyCode::PageDown => f.write_str("pagedown"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

pub type KeySeq = Vec<Key>;

pub fn seq_text(seq: &[Key]) -> String {
    seq.iter().map(Key::to_string).collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Clone)]
pub struct Binding {
    pub action: Action,
    pub keys: Vec<KeySeq>,
    pub description: String,
}

/// A validated keymap: context → bindings in file order.
#[derive(Debug, Clone)]
pub struct Keymap {
    pub name: String,
    pub contexts: BTreeMap<String, Vec<Binding>>,
}

/// One problem in a keymap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeymapError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for KeymapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    keys: Vec<toml::Spanned<String>>,
    description: String,
}

type RawFile = BTreeMap<String, toml::Spanned<BTreeMap<String, toml::Spanned<RawBinding>>>>;

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The shipped keymaps, compiled in.
pub const BUILTIN: [(&str, &str); 3] = [
    ("default", include_str!("../../keymaps/default.toml")),
    ("vim", include_str!("../../keymaps/vim.toml")),
    ("emacs", include_str!("../../keymaps/emacs.toml")),
];

impl Keymap {
    /// Parses and validates; every problem found is returned, not just the first.
    pub fn parse(text: &str, file: &str) -> Result<Keymap, Vec<KeymapError>> {
        let err = |line: usize, message: String| KeymapError {
            file: file.to_string(),
            line,
            message,
        };
        let raw: RawFile = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
                return Err(vec![err(line, e.message().to_string())]);
            }
        };
        let mut errors = Vec::new();
        let mut contexts: BTreeMap<String, Vec<Binding>> = BTreeMap::new();
        // (context, sequence) → (action, line), to find duplicates and prefixes.
        let mut seen: Vec<(String, KeySeq, String, usize)> = Vec::new();
        for (context, table) in &raw {
            let ctx_line = line_of(text, table.span().start);
            if !CONTEXTS.contains(&context.as_str()) {
                errors.push(err(
                    ctx_line,
                    format!(
                        "unknown context [{context}] (known: {})",
                        CONTEXTS.join(", ")
                    ),
                ));
                continue;
            }
            let mut bindings = Vec::new();
            for (action, b) in table.get_ref() {
                let line = line_of(text, b.span().start);
                let typed = match Action::from_name(action) {
                    None => {
                        errors.push(err(
                            line,
                            format!("unknown action \"{action}\" in [{context}]"),
                        ));
                        continue;
                    }
                    Some(a) if !a.contexts().contains(&context.as_str()) => {
                        errors.push(err(
                            line,
                            format!("action \"{action}\" does not belong in [{context}] (it goes in [{}])", a.contexts().join("], [")),
                        ));
                        continue;
                    }
                    Some(a) => a,
                };
                let mut keys = Vec::new();
                for k in &b.get_ref().keys {
                    let kline = line_of(text, k.span().start);
                    let parsed: Option<KeySeq> = k
                        .get_ref()
                        .split(' ')
                        .filter(|p| !p.is_empty())
                        .map(Key::parse)
                        .collect();
                    match parsed {
                        Some(seq) if !seq.is_empty() => {
                            seen.push((context.clone(), seq.clone(), action.clone(), kline));
                            keys.push(seq);
                        }
                        _ => errors.push(err(
                            kline,
                            format!(
                                "unknown key \"{}\" for {action} in [{context}]",
                                k.get_ref()
                            ),
                        )),
                    }
                }
                bindings.push((
                    line,
                    Binding {
                        action: typed,
                        keys,
                        description: b.get_ref().description.clone(),
                    },
                ));
            }
            // File order (the help overlay lists them as the author wrote them).
            bindings.sort_by_key(|(line, _)| *line);
            contexts.insert(
                context.clone(),
                bindings.into_iter().map(|(_, b)| b).collect(),
            );
        }
        seen.sort_by_key(|(_, _, _, line)| *line);
        // Conflicts: within a context, and between a pane context and [global] (which is active
        // in every pane). [help] is modal and stands alone.
        for (i, (ca, sa, aa, la)) in seen.iter().enumerate() {
            for (cb, sb, ab, _) in seen.iter().take(i) {
                let related = ca == cb
                    || (ca != "help" && cb != "help" && (ca == "global" || cb == "global"));
                if !related {
                    continue;
                }
                let (ta, tb) = (seq_text(sa), seq_text(sb));
                if sa == sb {
                    errors.push(err(
                        *la,
                        format!(
                            "key \"{ta}\" for {aa} in [{ca}] is already bound to {ab} in [{cb}]"
                        ),
                    ));
                } else if sa.starts_with(sb) || sb.starts_with(sa) {
                    errors.push(err(*la, format!("key \"{ta}\" for {aa} in [{ca}] conflicts with \"{tb}\" ({ab} in [{cb}]): one is a prefix of the other")));
                }
            }
        }
        if !contexts.contains_key("global") && errors.is_empty() {
            errors.push(err(1, "no [global] context: nothing would quit".into()));
        }
        if contexts.get("global").is_some_and(|g| {
            !g.iter()
                .any(|b| b.action == Action::Quit && !b.keys.is_empty())
        }) {
            errors.push(err(1, "[global] has no key for quit".into()));
        }
        if errors.is_empty() {
            Ok(Keymap {
                name: file.to_string(),
                contexts,
            })
        } else {
            errors.sort_by_key(|e| e.line);
            Err(errors)
        }
    }

    pub fn builtin(name: &str) -> Option<Keymap> {
        BUILTIN.iter().find(|(n, _)| *n == name).map(|(n, text)| {
            Keymap::parse(text, &format!("keymaps/{n}.toml")).expect("shipped keymaps are valid")
        })
    }

    /// `NAME` of a built-in keymap, or a file path.
    pub fn load(name_or_path: &str) -> Result<Keymap, Vec<KeymapError>> {
        if let Some(k) = Keymap::builtin(name_or_path) {
            return Ok(k);
        }
        Keymap::load_file(Path::new(name_or_path))
    }

    pub fn load_file(path: &Path) -> Result<Keymap, Vec<KeymapError>> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Keymap::parse(&text, &file),
            Err(e) => Err(vec![KeymapError {
                file,
                line: 0,
                message: format!("cannot read: {e}"),
            }]),
        }
    }

    /// The bindings active in `context` (its own, then global's; help stands alone).
    pub fn active(&self, context: &str) -> Vec<&Binding> {
        let mut out: Vec<&Binding> = self.contexts.get(context).into_iter().flatten().collect();
        if context != "help" && context != "global" {
            out.extend(self.contexts.get("global").into_iter().flatten());
        }
        out
    }

    /// The keys shown for an action in `context`, e.g. `q/ctrl-c`.
    pub fn keys_for(&self, context: &str, action: Action) -> Option<String> {
        self.active(context)
            .into_iter()
            .find(|b| b.action == action && !b.keys.is_empty())
            .map(|b| {
                b.keys
                    .iter()
                    .map(|s| seq_text(s))
                    .collect::<Vec<_>>()
                    .join("/")
            })
    }
}

/// What a key press (possibly part of a sequence) resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Action(Action),
    /// A prefix of a longer sequence: wait for the next key.
    Pending,
    None,
}

/// Matches key presses against the active bindings, remembering a pending sequence.
#[derive(Debug, Default)]
pub struct KeyMatcher {
    pending: KeySeq,
}

impl KeyMatcher {
    pub fn press(&mut self, keymap: &Keymap, context: &str, key: Key) -> Resolved {
        self.pending.push(key);
        let mut prefix = false;
        for b in keymap.active(context) {
            for seq in &b.keys {
                if *seq == self.pending {
                    self.pending.clear();
                    return Resolved::Action(b.action);
                }
                if seq.starts_with(&self.pending) {
                    prefix = true;
                }
            }
        }
        if prefix {
            return Resolved::Pending;
        }
        let retry = self.pending.len() > 1;
        self.pending.clear();
        if retry {
            // A broken sequence: the last key may start something on its own.
            return self.press(keymap, context, key);
        }
        Resolved::None
    }

    pub fn pending(&self) -> String {
        seq_text(&self.pending)
    }
}

#[cfg(test)]
#[path = "keymap_tests.rs"]
mod tests;
