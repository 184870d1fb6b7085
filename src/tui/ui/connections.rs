//! The connections pane: every client connection (the busiest first), and one connection's
//! detail with its subscriptions.

use super::panes::{block, table};
use super::theme::Theme;
use crate::tui::app::{App, Pane};
use crate::tui::conn_view::{heartbeat, CONNECTION_COLUMNS};
use crate::tui::rows::human_secs;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    match app.conns.open {
        Some(id) => detail(f, app, theme, area, id),
        None => table(
            f,
            app,
            theme,
            area,
            Pane::Connections,
            &CONNECTION_COLUMNS,
            &widths(area.width),
        ),
    }
}

/// The peer column takes what the others leave; optional columns vanish on narrow terminals.
fn widths(w: u16) -> Vec<u16> {
    // id peer user ver subs in/s out/s msgs-in msgs-out bytes-in bytes-out pending unacked drops hb since
    let fixed: [u16; 15] = if w >= 150 {
        [6, 12, 4, 5, 7, 7, 9, 9, 9, 9, 7, 8, 6, 6, 8]
    } else if w >= 110 {
        [6, 10, 4, 5, 7, 7, 8, 8, 0, 0, 7, 7, 6, 0, 8]
    } else {
        [5, 11, 0, 4, 6, 6, 0, 0, 0, 0, 7, 0, 5, 0, 7]
    };
    let shown = fixed.iter().filter(|w| **w > 0).count() as u16 + 1;
    let used: u16 = fixed.iter().sum::<u16>() + shown + 2;
    let peer = w.saturating_sub(used).clamp(14, 48);
    let mut v = vec![fixed[0], peer];
    v.extend(&fixed[1..]);
    v
}

fn detail(f: &mut Frame, app: &App, theme: &Theme, area: Rect, id: u64) {
    let listed = app.conns.reply.connections.iter().find(|c| c.id == id);
    let fetched = app.conns.detail.as_ref().filter(|d| d.connection.id == id);
    let Some(c) = listed.or(fetched.map(|d| &d.connection)) else {
        f.render_widget(
            Paragraph::new(format!("connection {id} is gone (esc: back)"))
                .block(block(theme, format!(" connection {id} "))),
            area,
        );
        return;
    };
    let left_width = if area.width < 120 { 36 } else { 44 };
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_width), Constraint::Min(20)]).areas(area);
    let (rin, rout) = app.conns.rates.get(&id).copied().unwrap_or((0.0, 0.0));
    let now = app.report.at_ms / 1000;
    let lines: Vec<Line> = [
        ("peer", c.peer.clone()),
        ("user", c.login.clone().unwrap_or_else(|| "-".into())),
        ("version", c.version.clone().unwrap_or_else(|| "-".into())),
        ("heart-beat", heartbeat(c.heartbeat_ms)),
        (
            "connected",
            format!("{} ago", human_secs(now.saturating_sub(c.since))),
        ),
        (
            "in",
            format!("{} msgs {} B ({rin:.0}/s)", c.msgs_in, c.bytes_in),
        ),
        (
            "out",
            format!("{} msgs {} B ({rout:.0}/s)", c.msgs_out, c.bytes_out),
        ),
        ("pending", format!("{} in its outbox", c.pending)),
        ("unacked", format!("{} B", c.unacked_bytes)),
        ("drops", format!("{} topic messages", c.dropped)),
    ]
    .into_iter()
    .map(|(k, v)| {
        let tone = match k {
            "drops" if c.dropped > 0 => theme.bad(),
            "pending" if c.pending > 0 => theme.warn(),
            _ => ratatui::style::Style::default(),
        };
        Line::from(vec![Span::raw(format!("{k:<11}")), Span::styled(v, tone)])
    })
    .collect();
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, format!(" connection {id} "))),
        left,
    );
    let subs: Vec<Line> = match fetched {
        None => vec![Line::from(Span::styled("asking the broker…", theme.dim()))],
        Some(d) if d.subscriptions.is_empty() => {
            vec![Line::from(Span::styled("no subscriptions", theme.dim()))]
        }
        Some(d) => d
            .subscriptions
            .iter()
            .flat_map(|s| {
                let mut head = vec![
                    Span::styled(format!("{} ", s.id), theme.header()),
                    Span::raw(s.destination.clone()),
                ];
                if let Some(sel) = &s.selector {
                    head.push(Span::styled(format!("  [{sel}]"), theme.dim()));
                }
                let stats = format!(
                    "    ack {}  prefetch {}  delivered {}  unacked {}  dropped {}{}",
                    s.ack,
                    s.prefetch,
                    s.delivered,
                    s.unacked,
                    s.dropped,
                    s.durable
                        .as_ref()
                        .map(|n| format!("  durable {n}"))
                        .unwrap_or_default()
                );
                [Line::from(head), Line::from(stats)]
            })
            .collect(),
    };
    let n = fetched.map_or(c.subscriptions, |d| d.subscriptions.len());
    f.render_widget(
        Paragraph::new(subs)
            .wrap(Wrap { trim: false })
            .block(block(theme, format!(" subscriptions ({n}) "))),
        right,
    );
}
