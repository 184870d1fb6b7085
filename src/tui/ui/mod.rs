//! Drawing: a pure function of the `App` (no state of its own), so a test can render into a
//! buffer and read it back. Layout: header (broker and bridge health), tabs, the pane, the
//! event line, and a hint bar built from the live keymap; overlays for help and questions.

mod connections;
mod panes;
pub mod svg;
pub mod theme;

use super::app::{App, Mode, PANES};
use super::keymap::seq_text;
use super::rows::{human_count, human_secs};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs, Wrap};
use ratatui::Frame;
use theme::Theme;

/// Below this the panes cannot be drawn usefully.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

pub fn draw(f: &mut Frame, app: &App, theme: &Theme) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small: {}x{} (shoal needs {MIN_WIDTH}x{MIN_HEIGHT}; 80x24 or more is best)",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [head, tabs, body, events, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header(f, app, theme, head);
    tab_bar(f, app, theme, tabs);
    panes::draw(f, app, theme, body);
    event_line(f, app, theme, events);
    hint_bar(f, app, theme, hints);
    if let Some(scroll) = app.help_scroll {
        help(f, app, theme, area, scroll);
    }
    if let Mode::Confirm(c) = &app.mode {
        let w = (c.question.len() as u16 + 4).min(area.width - 2);
        let r = centered(area, w, 3);
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(c.question.as_str()).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_set(theme.border())
                    .title("confirm"),
            ),
            r,
        );
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    Rect {
        x: area.x + area.width.saturating_sub(w) / 2,
        y: area.y + area.height.saturating_sub(h) / 2,
        width: w.min(area.width),
        height: h.min(area.height),
    }
}

fn header(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let b = &app.report.broker;
    let bridges = &app.report.bridges;
    let up = bridges
        .iter()
        .filter(|x| x.state.label() == "connected")
        .count();
    let health = if bridges.is_empty() {
        Span::styled("no bridges", theme.dim())
    } else if up == bridges.len() {
        Span::styled(format!("bridges {up}/{} up", bridges.len()), theme.good())
    } else {
        Span::styled(format!("bridges {up}/{} up", bridges.len()), theme.bad())
    };
    let mut spans = vec![Span::styled(
        format!(" shoal {} ", b.version),
        theme.title(),
    )];
    if app.frozen {
        spans.push(Span::styled("FROZEN ", theme.bad()));
    }
    if app.readonly {
        spans.push(Span::styled("read-only ", theme.warn()));
    }
    spans.push(Span::raw(format!(
        "{} ({})  ",
        if b.name.is_empty() { "…" } else { &b.name },
        app.origin
    )));
    spans.push(health);
    spans.push(Span::raw(format!(
        "  up {}  conns {}  in {}/s out {}/s",
        human_secs(b.uptime_secs),
        b.connections,
        human_count(b.rate_in),
        human_count(b.rate_out)
    )));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn tab_bar(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let titles: Vec<Line> = PANES
        .iter()
        .enumerate()
        .map(|(i, p)| Line::from(format!("{} {}", i + 1, p.title())))
        .collect();
    let selected = PANES.iter().position(|p| *p == app.pane).unwrap_or(0);
    f.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(theme.selected())
            .divider(if theme.ascii { "|" } else { "│" }),
        area,
    );
}

fn event_line(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let line = match &app.mode {
        Mode::Filter(t) => {
            let err = app.tables.iter().find_map(|t| t.filter_error.clone());
            Line::from(vec![
                Span::styled(
                    "filter (regex, ! inverts; enter keeps, esc clears): /",
                    theme.key(),
                ),
                Span::raw(t.clone()),
                Span::styled(
                    err.map(|e| format!("  {e}")).unwrap_or_default(),
                    theme.bad(),
                ),
            ])
        }
        _ => match app.events.back() {
            Some(e) => Line::from(Span::styled(e.clone(), theme.warn())),
            None => Line::from(Span::styled("no events yet", theme.dim())),
        },
    };
    f.render_widget(Paragraph::new(line), area);
}

/// The hint bar: the most useful bindings of the active context, from the live keymap.
fn hint_bar(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let ctx = app.context();
    use crate::tui::action::Action::{self, *};
    let wanted: &[Action] = match (ctx, &app.mode) {
        (_, Mode::Form) => &[],
        ("help", _) => &[Close, Down, Up],
        ("bridges", _) => &[
            Help,
            Select,
            Reconnect,
            PauseForwarding,
            Filter,
            SortNext,
            Quit,
        ],
        ("traffic", _) => &[Help, Tap, Filter, SortNext, Freeze, Quit],
        ("tap", _) => &[Help, PauseTap, Back, Copy, Quit],
        ("collectives", _) => &[Help, PingCollective, Filter, SortNext, Quit],
        _ => &[Help, Edit, RunPing, NextPane, Quit],
    };
    let mut spans = Vec::new();
    if matches!(app.mode, Mode::Form) {
        spans.push(Span::styled(
            "editing: tab/↓ next field  ↑ previous  enter sends the ping  esc stops editing",
            theme.key(),
        ));
    }
    for action in wanted {
        if let Some(k) = app.keymap.keys_for(ctx, *action) {
            spans.push(Span::styled(k, theme.key()));
            spans.push(Span::raw(format!(" {}  ", action.name().replace('_', " "))));
        }
    }
    let pending = app.pending_keys();
    if !pending.is_empty() {
        spans.push(Span::styled(format!("[{pending} …]"), theme.warn()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Every binding of the active keymap, by context, generated from it (never out of date).
pub fn help_lines(app: &App) -> Vec<String> {
    let mut lines = vec![format!("keymap: {}", app.keymap.name), String::new()];
    let order = [app.pane.context(), "tap", "global", "help"];
    let mut seen = Vec::new();
    for ctx in order {
        if seen.contains(&ctx) {
            continue;
        }
        seen.push(ctx);
        let Some(bindings) = app.keymap.contexts.get(ctx) else {
            continue;
        };
        lines.push(format!("[{ctx}]"));
        for b in bindings {
            let keys: Vec<String> = b.keys.iter().map(|s| seq_text(s)).collect();
            lines.push(format!("  {:<22} {}", keys.join(", "), b.description));
        }
        lines.push(String::new());
    }
    lines
}

fn help(f: &mut Frame, app: &App, theme: &Theme, area: Rect, scroll: usize) {
    let r = centered(
        area,
        area.width.saturating_sub(6).min(90),
        area.height.saturating_sub(4),
    );
    let lines = help_lines(app);
    let scroll = scroll.min(lines.len().saturating_sub(1));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines.join("\n"))
            .scroll((scroll as u16, 0))
            .style(Style::default())
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_set(theme.border())
                    .title(Span::styled(" help ", theme.title())),
            ),
        r,
    );
}

/// Renders into an off-screen buffer of `width`×`height` cells.
pub fn render_buffer(app: &App, theme: &Theme, width: u16, height: u16) -> ratatui::buffer::Buffer {
    let backend = ratatui::backend::TestBackend::new(width, height);
    let mut term = ratatui::Terminal::new(backend).expect("test backend");
    term.draw(|f| draw(f, app, theme)).expect("draw");
    term.backend().buffer().clone()
}

/// Renders to text (tests, screenshots): one string per line.
pub fn render_text(app: &App, theme: &Theme, width: u16, height: u16) -> String {
    text_of(&render_buffer(app, theme, width, height))
}

/// A buffer's characters, one line per row, trailing blanks trimmed.
pub fn text_of(buf: &ratatui::buffer::Buffer) -> String {
    let (width, height) = (buf.area.width, buf.area.height);
    let mut out = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
