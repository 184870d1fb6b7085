//! The ping pane's form and results: what the operator typed, the request it becomes, the
//! replies as they stream in.

use super::app::Effect;
use super::keymap::Key;
use crate::collective::filter::{FactFilter, Filter};
use crate::collective::ping::{PingOutcome, PingReply};
use crossterm::event::KeyCode;
use std::time::{Duration, Instant};

/// A ping as the TUI asks the runtime for it.
#[derive(Debug, Clone, PartialEq)]
pub struct PingRequest {
    pub collective: String,
    pub filter: Filter,
    pub timeout: Duration,
}

pub const FIELDS: [&str; 6] = [
    "collective (-T)",
    "identity (-I)",
    "fact (-F)",
    "class (-C)",
    "agent (-A)",
    "timeout s",
];

#[derive(Debug, Clone)]
pub struct PingForm {
    pub collective: String,
    pub identity: String,
    pub fact: String,
    pub class: String,
    pub agent: String,
    pub timeout: String,
}

impl Default for PingForm {
    fn default() -> PingForm {
        PingForm {
            collective: "mcollective".into(),
            identity: String::new(),
            fact: String::new(),
            class: String::new(),
            agent: String::new(),
            timeout: "3".into(),
        }
    }
}

impl PingForm {
    pub fn field(&self, i: usize) -> &str {
        [
            &self.collective,
            &self.identity,
            &self.fact,
            &self.class,
            &self.agent,
            &self.timeout,
        ][i]
    }

    fn field_mut(&mut self, i: usize) -> &mut String {
        match i {
            0 => &mut self.collective,
            1 => &mut self.identity,
            2 => &mut self.fact,
            3 => &mut self.class,
            4 => &mut self.agent,
            _ => &mut self.timeout,
        }
    }

    /// The request, or what is wrong with the form. Fields take space-separated values.
    pub fn request(&self) -> Result<PingRequest, String> {
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let collective = self.collective.trim();
        if collective.is_empty() {
            return Err("collective is empty".into());
        }
        let facts = self
            .fact
            .split_whitespace()
            .map(|f| {
                FactFilter::parse(f).ok_or_else(|| {
                    format!("fact filter {f:?}: expected fact=value, fact=/re/, fact>N")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timeout: f64 = self
            .timeout
            .trim()
            .parse()
            .map_err(|_| format!("timeout {:?} is not a number of seconds", self.timeout))?;
        if !(0.1..=60.0).contains(&timeout) {
            return Err("timeout must be between 0.1 and 60 s".into());
        }
        Ok(PingRequest {
            collective: collective.to_string(),
            filter: Filter {
                facts,
                classes: words(&self.class),
                agents: words(&self.agent),
                identities: words(&self.identity),
                compound: Vec::new(),
            },
            timeout: Duration::from_secs_f64(timeout),
        })
    }
}

#[derive(Debug, Default)]
pub struct PingView {
    pub form: PingForm,
    /// The field being edited.
    pub field: usize,
    pub running: bool,
    pub started: Option<Instant>,
    pub replies: Vec<PingReply>,
    pub outcome: Option<PingOutcome>,
    pub error: Option<String>,
}

impl PingView {
    /// Starts a ping (unless one is running or the form is wrong).
    pub fn start(&mut self) -> Vec<Effect> {
        if self.running {
            return Vec::new();
        }
        match self.form.request() {
            Ok(r) => {
                self.running = true;
                self.started = Some(Instant::now());
                self.replies.clear();
                self.outcome = None;
                self.error = None;
                vec![Effect::Ping(r)]
            }
            Err(e) => {
                self.error = Some(e);
                Vec::new()
            }
        }
    }

    /// A key while editing the form: (stay in the form, effects).
    pub fn edit_key(&mut self, key: Key) -> (bool, Vec<Effect>) {
        let n = FIELDS.len();
        match key.code {
            KeyCode::Esc => return (false, Vec::new()),
            KeyCode::Enter => return (false, self.start()),
            KeyCode::Tab | KeyCode::Down => self.field = (self.field + 1) % n,
            KeyCode::BackTab | KeyCode::Up => self.field = (self.field + n - 1) % n,
            KeyCode::Backspace => {
                self.form.field_mut(self.field).pop();
            }
            KeyCode::Char('u') if key.ctrl => self.form.field_mut(self.field).clear(),
            KeyCode::Char(c) if !key.ctrl && !key.alt => self.form.field_mut(self.field).push(c),
            _ => {}
        }
        (true, Vec::new())
    }
}
