//! The TUI's state and how it changes: key presses and data in, effects out. Nothing here
//! draws or touches the network — `ui` renders an `App`, the runtime (`tui::run`) feeds it
//! events and carries out its `Effect`s — so the behaviour is testable without a terminal.

use super::action::Action;
use super::history::Histories;
use super::keymap::{Key, KeyMatcher, Keymap, Resolved};
use super::ping_view::PingView;
use super::rows;
use super::table::TableView;
use crate::bridge::network::BridgeControl;
use crate::broker::subscription::ConnId;
use crate::collective::ping::{PingOutcome, PingReply};
use crate::stats::StatsReport;
use crossterm::event::KeyCode;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Bridges,
    Traffic,
    Collectives,
    Ping,
    Connections,
}

pub const PANES: [Pane; 5] = [
    Pane::Bridges,
    Pane::Traffic,
    Pane::Collectives,
    Pane::Ping,
    Pane::Connections,
];

impl Pane {
    pub fn context(self) -> &'static str {
        match self {
            Pane::Bridges => "bridges",
            Pane::Traffic => "traffic",
            Pane::Collectives => "collectives",
            Pane::Ping => "ping",
            Pane::Connections => "connections",
        }
    }

    /// The index of its table in `App::tables`.
    pub fn table(self) -> usize {
        match self {
            Pane::Bridges => 0,
            Pane::Traffic => 1,
            Pane::Collectives => 2,
            Pane::Ping => 3,
            Pane::Connections => 4,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Pane::Bridges => "Bridges",
            Pane::Traffic => "Traffic",
            Pane::Collectives => "Collectives",
            Pane::Ping => "Ping",
            Pane::Connections => "Connections",
        }
    }
}

/// What the runtime must do for the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Ping(super::ping_view::PingRequest),
    Tap(String),
    StopTap,
    Bridge(String, BridgeControl),
    /// Fetch a connection's detail (its subscriptions).
    InspectConnection(ConnId),
    CloseConnection(ConnId),
    Copy(String),
    Suspend,
    Mouse(bool),
}

/// A question before an action that changes the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub question: String,
    pub effect: Effect,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    /// Typing a `/` filter (the text so far).
    Filter(String),
    Confirm(Confirm),
    /// Editing the ping form.
    Form,
}

/// One message seen by a tap.
#[derive(Debug, Clone, PartialEq)]
pub struct TapMessage {
    pub at_ms: u64,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone, Default)]
pub struct TapView {
    pub destination: String,
    pub messages: VecDeque<TapMessage>,
    pub paused: bool,
    /// Messages that arrived while paused and were not kept.
    pub missed: u64,
    pub scroll: usize,
}

const TAP_KEEP: usize = 500;
const EVENTS_KEEP: usize = 50;

pub struct App {
    pub keymap: Keymap,
    matcher: KeyMatcher,
    pub pane: Pane,
    pub mode: Mode,
    pub report: StatsReport,
    pub frozen: bool,
    pub help_scroll: Option<usize>,
    /// Bridges, traffic, collectives' members, ping replies, connections.
    pub tables: [TableView; 5],
    pub conns: super::conn_view::ConnView,
    /// The collective of the selected member row.
    pub collective: Option<String>,
    pub bridge_detail: Option<String>,
    pub tap: Option<TapView>,
    pub ping: PingView,
    pub history: Histories,
    pub events: VecDeque<String>,
    pub readonly: bool,
    /// When the last config reload the TUI has seen happened (Unix ms).
    reload_seen: Option<u64>,
    /// Show shoal's own destinations (`shoal.stats.report`, `shoal.control`…) in traffic.
    pub show_internal: bool,
    pub mouse: bool,
    /// ASCII instead of box drawing, blocks and symbols.
    pub ascii: bool,
    pub quit: bool,
    /// Where the TUI is looking: "embedded" or the attached address.
    pub origin: String,
}

impl App {
    pub fn new(keymap: Keymap, origin: &str, readonly: bool) -> App {
        App {
            keymap,
            matcher: KeyMatcher::default(),
            pane: Pane::Bridges,
            mode: Mode::Normal,
            report: StatsReport::default(),
            frozen: false,
            help_scroll: None,
            tables: [
                TableView::sorted_by(1, false),
                TableView::sorted_by(rows::TRAFFIC_SORT_DEFAULT, true),
                TableView::default(),
                TableView::sorted_by(1, false),
                TableView::sorted_by(super::conn_view::CONNECTION_SORT_DEFAULT, true),
            ],
            conns: Default::default(),
            collective: None,
            bridge_detail: None,
            tap: None,
            ping: PingView::default(),
            history: Histories::default(),
            events: VecDeque::new(),
            readonly,
            show_internal: false,
            reload_seen: None,
            mouse: false,
            ascii: false,
            quit: false,
            origin: origin.to_string(),
        }
    }

    /// The keymap context keys are looked up in now.
    pub fn context(&self) -> &'static str {
        if self.help_scroll.is_some() {
            "help"
        } else if self.tap.is_some() && self.pane == Pane::Traffic {
            "tap"
        } else {
            self.pane.context()
        }
    }

    pub fn event(&mut self, text: impl Into<String>) {
        if self.events.len() >= EVENTS_KEEP {
            self.events.pop_front();
        }
        self.events.push_back(text.into());
    }

    /// A new report from the broker (ignored for display while frozen; history keeps going).
    pub fn on_report(&mut self, r: StatsReport) {
        for b in &r.bridges {
            let before = self
                .report
                .bridges
                .iter()
                .find(|x| x.name == b.name && x.direction == b.direction);
            if let Some(before) = before {
                if before.state.label() != b.state.label() {
                    self.event(format!(
                        "bridge {}: {} → {}",
                        b.name,
                        before.state.label(),
                        b.state.label()
                    ));
                }
            }
        }
        // A reload since the last report (not one from before the TUI looked).
        let reload = r.last_reload.as_ref().map(|n| n.at_ms);
        if self.history.latest.is_some() && reload != self.reload_seen {
            if let Some(n) = &r.last_reload {
                self.event(n.summary.clone());
            }
        }
        self.reload_seen = reload;
        self.history.record(&r);
        if !self.frozen {
            self.report = r;
        }
    }

    /// Whatever a source task reported.
    pub fn on_incoming(&mut self, m: super::source::Incoming) {
        use super::source::Incoming;
        match m {
            Incoming::Report(r) => self.on_report(*r),
            Incoming::PingReply(r) => self.on_ping_reply(r),
            Incoming::PingDone(r) => self.on_ping_done(r),
            Incoming::Tap(t) => self.on_tap(t),
            Incoming::Notice(n) => self.event(n),
            Incoming::Connections(c) => {
                if !self.frozen {
                    self.conns.on_list(*c, crate::broker::message::now_ms());
                }
            }
            Incoming::ConnectionDetail(d) => {
                if self.conns.open == Some(d.connection.id) {
                    self.conns.detail = Some(*d);
                }
            }
        }
    }

    pub fn on_tap(&mut self, m: TapMessage) {
        if let Some(t) = &mut self.tap {
            if t.paused {
                t.missed += 1;
                return;
            }
            if t.messages.len() >= TAP_KEEP {
                t.messages.pop_front();
            }
            t.messages.push_back(m);
        }
    }

    pub fn on_ping_reply(&mut self, r: PingReply) {
        self.ping.replies.push(r);
    }

    pub fn on_ping_done(&mut self, r: Result<PingOutcome, String>) {
        self.ping.running = false;
        match r {
            Ok(o) => self.ping.outcome = Some(o),
            Err(e) => {
                self.event(format!("ping failed: {e}"));
                self.ping.error = Some(e);
            }
        }
    }

    /// A key press. Returns what the runtime must do.
    pub fn on_key(&mut self, key: Key) -> Vec<Effect> {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Filter(mut text) => {
                match key.code {
                    KeyCode::Enter => {}
                    KeyCode::Esc => {
                        text.clear();
                        self.table_mut().set_filter("");
                    }
                    KeyCode::Backspace => {
                        text.pop();
                        self.mode = Mode::Filter(text.clone());
                    }
                    KeyCode::Char(c) if !key.ctrl => {
                        text.push(c);
                        self.mode = Mode::Filter(text.clone());
                    }
                    _ => self.mode = Mode::Filter(text.clone()),
                }
                let t = text.clone();
                self.table_mut().set_filter(&t);
                Vec::new()
            }
            Mode::Confirm(c) => {
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    vec![c.effect]
                } else {
                    self.event("cancelled");
                    Vec::new()
                }
            }
            Mode::Form => {
                let (stay, fx) = self.ping.edit_key(key);
                if stay {
                    self.mode = Mode::Form;
                }
                fx
            }
            Mode::Normal => match self.matcher.press(&self.keymap, self.context(), key) {
                Resolved::Action(a) => self.action(a),
                Resolved::Pending | Resolved::None => Vec::new(),
            },
        }
    }

    pub fn pending_keys(&self) -> String {
        self.matcher.pending()
    }

    fn table_index(&self) -> usize {
        self.pane.table()
    }

    pub fn table_mut(&mut self) -> &mut TableView {
        let i = self.table_index();
        &mut self.tables[i]
    }

    /// The rows of the current pane's table as shown (filtered and sorted).
    pub fn shown_rows(&self) -> Vec<super::table::Row> {
        let i = self.table_index();
        self.tables[i].apply(rows::rows_for(self, self.pane))
    }

    fn selected_id(&self) -> Option<String> {
        let rows = self.shown_rows();
        let i = self.tables[self.table_index()].index_in(&rows)?;
        Some(rows[i].id.clone())
    }

    fn ask(&mut self, question: String, effect: Effect) -> Vec<Effect> {
        if self.readonly {
            self.event("read-only: actions that change the broker are disabled (--readonly)");
            return Vec::new();
        }
        self.mode = Mode::Confirm(Confirm { question, effect });
        Vec::new()
    }

    /// The mouse wheel: moves like the arrow keys.
    pub fn on_scroll(&mut self, delta: isize) {
        self.move_selection(delta);
    }

    fn move_selection(&mut self, delta: isize) {
        if let Some(h) = &mut self.help_scroll {
            *h = (*h as isize + delta).max(0) as usize;
            return;
        }
        if self.pane == Pane::Traffic {
            if let Some(t) = &mut self.tap {
                t.scroll = (t.scroll as isize + delta).max(0) as usize;
                return;
            }
        }
        let rows = self.shown_rows();
        self.table_mut().move_by(&rows, delta);
        if self.pane == Pane::Collectives {
            self.collective = self
                .selected_id()
                .map(|id| rows::collective_of(&id).to_string());
        }
    }

    fn action(&mut self, a: Action) -> Vec<Effect> {
        let page = 10;
        match a {
            Action::Quit => self.quit = true,
            Action::Help => self.help_scroll = Some(0),
            Action::Close => self.help_scroll = None,
            Action::NextPane | Action::PrevPane => {
                let i = PANES.iter().position(|p| *p == self.pane).unwrap_or(0);
                let n = PANES.len();
                self.pane = PANES[if a == Action::NextPane {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                }];
            }
            Action::PaneBridges => self.pane = Pane::Bridges,
            Action::PaneTraffic => self.pane = Pane::Traffic,
            Action::PaneCollectives => self.pane = Pane::Collectives,
            Action::PanePing => self.pane = Pane::Ping,
            Action::PaneConnections => self.pane = Pane::Connections,
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-page),
            Action::PageDown => self.move_selection(page),
            Action::Top => self.move_selection(-1_000_000),
            Action::Bottom => self.move_selection(1_000_000),
            Action::Filter => {
                self.mode = Mode::Filter(self.tables[self.table_index()].filter_text.clone())
            }
            Action::SortNext => {
                let n = rows::columns(self.pane);
                self.table_mut().next_sort(n);
            }
            Action::SortReverse => {
                let t = self.table_mut();
                t.reverse = !t.reverse;
            }
            Action::Freeze => {
                self.frozen = !self.frozen;
                if !self.frozen {
                    if let Some(r) = self.history.latest.clone() {
                        self.report = r;
                    }
                }
            }
            Action::ToggleMouse => {
                self.mouse = !self.mouse;
                return vec![Effect::Mouse(self.mouse)];
            }
            Action::Suspend => return vec![Effect::Suspend],
            Action::Copy => return self.copy(),
            Action::Back => {
                if self.tap.take().is_some() {
                    return vec![Effect::StopTap];
                }
                let detail = match self.pane {
                    Pane::Connections => self.conns.open.take().is_some(),
                    _ => self.bridge_detail.take().is_some(),
                };
                if !detail {
                    self.table_mut().set_filter("");
                }
            }
            Action::Select => match self.pane {
                Pane::Bridges => self.bridge_detail = self.selected_id(),
                Pane::Traffic => return self.action(Action::Tap),
                Pane::Collectives => return self.action(Action::PingCollective),
                Pane::Ping => self.mode = Mode::Form,
                Pane::Connections => {
                    if let Some(id) = self.selected_id().and_then(|i| i.parse().ok()) {
                        self.conns.open = Some(id);
                        self.conns.detail = None;
                        return vec![Effect::InspectConnection(id)];
                    }
                }
            },
            Action::CloseConnection => return self.ask_close_connection(),
            Action::Tap => {
                if let Some(dest) = self.selected_id() {
                    if !dest.starts_with("/topic/") {
                        self.event(format!("{dest}: only topics can be tapped (a queue tap would consume its messages)"));
                        return Vec::new();
                    }
                    self.tap = Some(TapView {
                        destination: dest.clone(),
                        ..TapView::default()
                    });
                    return vec![Effect::Tap(dest)];
                }
            }
            Action::ToggleInternal => {
                self.show_internal = !self.show_internal;
                self.event(if self.show_internal {
                    "traffic: shoal's own destinations shown"
                } else {
                    "traffic: shoal's own destinations hidden"
                });
            }
            Action::PauseTap => {
                if let Some(t) = &mut self.tap {
                    t.paused = !t.paused;
                }
            }
            Action::Reconnect | Action::PauseForwarding => return self.ask_bridge_control(a),
            Action::PingCollective => {
                let selected = self
                    .selected_id()
                    .map(|id| rows::collective_of(&id).to_string());
                if let Some(c) = selected.or_else(|| self.collective.clone()) {
                    self.ping.form.collective = c;
                    self.pane = Pane::Ping;
                    return self.ping.start();
                }
            }
            Action::Edit => self.mode = Mode::Form,
            Action::RunPing => return self.ping.start(),
        }
        Vec::new()
    }

    /// `reconnect` or `pause_forwarding` on the open or selected bridge: asks first.
    fn ask_bridge_control(&mut self, a: Action) -> Vec<Effect> {
        let Some(name) = self.bridge_detail.clone().or_else(|| self.selected_id()) else {
            return Vec::new();
        };
        let name = rows::bridge_name(&name).to_string();
        let (verb, what) = if a == Action::Reconnect {
            ("Reconnect", BridgeControl::Reconnect)
        } else if self
            .report
            .bridges
            .iter()
            .any(|b| b.name == name && b.paused)
        {
            ("Resume forwarding on", BridgeControl::Resume)
        } else {
            ("Pause forwarding on", BridgeControl::Pause)
        };
        self.ask(
            format!("{verb} bridge {name}? (y/n)"),
            Effect::Bridge(name, what),
        )
    }

    /// `close_connection` on the open or selected connection: asks first.
    fn ask_close_connection(&mut self) -> Vec<Effect> {
        let id = self
            .conns
            .open
            .or_else(|| self.selected_id().and_then(|i| i.parse().ok()));
        let Some(id) = id else {
            return Vec::new();
        };
        let who = self
            .conns
            .reply
            .connections
            .iter()
            .find(|c| c.id == id)
            .map(|c| format!(" ({} from {})", c.login.as_deref().unwrap_or("-"), c.peer))
            .unwrap_or_default();
        self.ask(
            format!("Close connection {id}{who}? It gets an ERROR and may reconnect. (y/n)"),
            Effect::CloseConnection(id),
        )
    }

    fn copy(&mut self) -> Vec<Effect> {
        if let (Pane::Traffic, Some(t)) = (self.pane, &self.tap) {
            if let Some(m) = t.messages.iter().rev().nth(t.scroll) {
                return vec![Effect::Copy(m.body.clone())];
            }
        }
        let rows = self.shown_rows();
        let Some(i) = self.tables[self.table_index()].index_in(&rows) else {
            return Vec::new();
        };
        let text = rows[i]
            .cells
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join("\t");
        self.event("copied the selected row to the clipboard (OSC 52)");
        vec![Effect::Copy(text)]
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
