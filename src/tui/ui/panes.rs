//! The bridges, traffic, collectives and ping panes (and the bridge detail and tap views
//! inside them); the connections pane is in `connections`.

use super::theme::Theme;
use crate::collective::membership::CollectiveSummary;
use crate::tui::app::{App, Mode, Pane};
use crate::tui::ping_view::FIELDS;
use crate::tui::rows::{self, human_secs};
use crate::tui::table::{Row as DataRow, TableView};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

pub fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    match app.pane {
        Pane::Bridges => match &app.bridge_detail {
            Some(id) => bridge_detail(f, app, theme, area, id),
            None => table(
                f,
                app,
                theme,
                area,
                Pane::Bridges,
                &rows::BRIDGE_COLUMNS,
                &widths_bridges(area.width),
            ),
        },
        Pane::Traffic => match &app.tap {
            Some(_) => tap(f, app, theme, area),
            None => table(
                f,
                app,
                theme,
                area,
                Pane::Traffic,
                &rows::TRAFFIC_COLUMNS,
                &widths_traffic(area.width),
            ),
        },
        Pane::Collectives => collectives(f, app, theme, area),
        Pane::Ping => ping(f, app, theme, area),
        Pane::Connections => super::connections::draw(f, app, theme, area),
    }
}

pub(super) fn block<'a>(theme: &Theme, title: String) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border())
        .title(Span::styled(title, theme.title()))
}

/// Column widths that degrade on narrow terminals: optional columns get 0 and vanish.
fn widths_bridges(w: u16) -> Vec<u16> {
    if w >= 118 {
        // The bridge's name takes what the other columns leave (up to 40).
        let name = w.saturating_sub(102).clamp(16, 40);
        vec![12, name, 14, 7, 7, 7, 12, 8, 8, 8, 6]
    } else if w >= 98 {
        vec![12, 16, 10, 6, 6, 6, 0, 8, 7, 8, 6]
    } else {
        vec![12, 14, 8, 6, 6, 6, 0, 0, 7, 0, 0]
    }
}

fn widths_traffic(w: u16) -> Vec<u16> {
    let fixed = if w >= 110 {
        [5, 5, 8, 8, 8, 7, 12, 8]
    } else {
        [4, 4, 7, 7, 7, 6, 0, 0]
    };
    let used: u16 = fixed.iter().sum::<u16>() + 10;
    let mut v = vec![w.saturating_sub(used).max(16)];
    v.extend(fixed);
    v
}

pub(super) fn table(
    f: &mut Frame,
    app: &App,
    theme: &Theme,
    area: Rect,
    pane: Pane,
    headers: &[&str],
    widths: &[u16],
) {
    let view = &app.tables[pane.table()];
    let data = view.apply(rows::rows_for(app, pane));
    let title = title_for(app, pane, view, data.len());
    render_rows(f, theme, area, view, &data, headers, widths, title);
}

fn title_for(app: &App, pane: Pane, view: &TableView, n: usize) -> String {
    let mut t = match pane {
        // The broker lists the busiest; say how many there are in all.
        Pane::Connections if app.conns.reply.total > app.conns.reply.connections.len() => {
            format!(" {} ({n} of {}) ", pane.title(), app.conns.reply.total)
        }
        _ => format!(" {} ({n}) ", pane.title()),
    };
    if pane == Pane::Traffic {
        // What the broker holds: queued bytes (the memory limit) and the store on disk.
        let b = &app.report.broker;
        if b.queued_bytes > 0 {
            t.push_str(&format!(
                "queued {}B ",
                rows::human_count(b.queued_bytes as f64)
            ));
        }
        if let Some(s) = &b.store {
            match &s.error {
                Some(_) => t.push_str("store FAILING "),
                None => t.push_str(&format!(
                    "store {}B {} msgs ",
                    rows::human_count(s.disk_bytes as f64),
                    rows::human_count(s.live_messages as f64)
                )),
            }
        }
    }
    if !view.filter_text.is_empty() {
        t.push_str(&format!("filter /{}/ ", view.filter_text));
    }
    t
}

#[allow(clippy::too_many_arguments)]
fn render_rows(
    f: &mut Frame,
    theme: &Theme,
    area: Rect,
    view: &TableView,
    data: &[DataRow],
    headers: &[&str],
    widths: &[u16],
    title: String,
) {
    let keep: Vec<usize> = (0..headers.len())
        .filter(|c| widths.get(*c).copied().unwrap_or(0) > 0)
        .collect();
    let arrow = if view.reverse { "▼" } else { "▲" };
    let head = Row::new(keep.iter().map(|&c| {
        let h = if c == view.sort_col {
            format!(
                "{}{}",
                headers[c],
                if theme.ascii {
                    if view.reverse {
                        "v"
                    } else {
                        "^"
                    }
                } else {
                    arrow
                }
            )
        } else {
            headers[c].to_string()
        };
        Cell::from(h)
    }))
    .style(theme.header());
    let body: Vec<Row> = data
        .iter()
        .map(|r| {
            let cells = keep.iter().map(|&c| {
                let (text, tone) = r
                    .cells
                    .get(c)
                    .map(|x| (x.text.clone(), x.tone))
                    .unwrap_or_default();
                Cell::from(text).style(theme.tone(tone))
            });
            Row::new(cells)
        })
        .collect();
    let constraints: Vec<Constraint> = keep
        .iter()
        .map(|&c| Constraint::Length(widths[c]))
        .collect();
    let mut state = TableState::default().with_selected(view.index_in(data));
    let empty = data.is_empty();
    let t = Table::new(body, constraints)
        .header(head)
        .row_highlight_style(theme.selected())
        .block(block(theme, title));
    f.render_stateful_widget(t, area, &mut state);
    if empty {
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        f.render_widget(
            Paragraph::new(Span::styled("nothing here (yet)", theme.dim())),
            inner,
        );
    }
}

fn bridge_detail(f: &mut Frame, app: &App, theme: &Theme, area: Rect, id: &str) {
    let name = rows::bridge_name(id);
    let inbound = id.ends_with(" (in)");
    let Some(b) = app.report.bridges.iter().find(|b| {
        b.name == name && (b.direction == crate::bridge::status::Direction::Inbound) == inbound
    }) else {
        f.render_widget(
            Paragraph::new(format!("bridge {id} is gone")).block(block(theme, format!(" {id} "))),
            area,
        );
        return;
    };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let mut lines = vec![
        Line::from(vec![
            Span::raw("state      "),
            Span::styled(
                format!(
                    "{} {}",
                    rows::state_symbol(&b.state, b.paused, theme.ascii),
                    b.state.label()
                ),
                theme.title(),
            ),
            Span::raw(if b.paused {
                "  (forwarding paused)"
            } else {
                ""
            }),
        ]),
        Line::from(format!(
            "remote     {}",
            b.remote_broker.as_deref().unwrap_or("?")
        )),
        Line::from(format!("uri        {}", b.uri.as_deref().unwrap_or("-"))),
        Line::from(format!(
            "direction  {:?}{}",
            b.direction,
            if b.duplex { ", duplex" } else { "" }
        )),
        Line::from(format!("ttl        {}", b.network_ttl)),
        Line::from(format!(
            "rtt        {}",
            b.rtt_ms
                .map(|r| format!("{r:.2} ms"))
                .unwrap_or_else(|| "-".into())
        )),
        Line::from(format!(
            "uptime     {}",
            b.uptime_secs.map(human_secs).unwrap_or_else(|| "-".into())
        )),
        Line::from(format!("reconnects {}", b.reconnects)),
        Line::from(format!(
            "out        {} msgs {} B ({:.0}/s)",
            b.traffic.msgs_out, b.traffic.bytes_out, b.out_per_sec
        )),
        Line::from(format!(
            "in         {} msgs {} B ({:.0}/s)",
            b.traffic.msgs_in, b.traffic.bytes_in, b.in_per_sec
        )),
        Line::from(format!("backlog    {} awaiting receipt", b.in_flight)),
        Line::from(format!(
            "duplicates {} dropped",
            b.traffic.duplicates_dropped
        )),
        Line::from(vec![
            Span::raw("last error "),
            Span::styled(
                b.last_error.clone().unwrap_or_else(|| "-".into()),
                theme.bad(),
            ),
        ]),
        Line::from(""),
        Line::from(Span::styled("history", theme.header())),
    ];
    for (t, what) in b.history.iter().rev().take(12) {
        let ago = (app.report.at_ms / 1000).saturating_sub(*t);
        lines.push(Line::from(format!("  {:>7} ago  {what}", human_secs(ago))));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, format!(" bridge {id} "))),
        left,
    );
    let mut demand = vec![Line::from(Span::styled(
        format!("the peer wants ({})", b.demand_in),
        theme.header(),
    ))];
    demand.extend(
        b.demand_in_keys
            .iter()
            .map(|k| Line::from(format!("  {k}"))),
    );
    demand.push(Line::from(""));
    demand.push(Line::from(Span::styled(
        format!("we want ({})", b.demand_out),
        theme.header(),
    )));
    demand.extend(
        b.demand_out_keys
            .iter()
            .map(|k| Line::from(format!("  {k}"))),
    );
    f.render_widget(
        Paragraph::new(demand).block(block(theme, " demand ".into())),
        right,
    );
}

fn tap(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let Some(t) = &app.tap else { return };
    let title = format!(
        " tap {} — {} messages{}{} ",
        t.destination,
        t.messages.len(),
        if t.paused { " — PAUSED" } else { "" },
        if t.missed > 0 {
            format!(", {} missed while paused", t.missed)
        } else {
            String::new()
        }
    );
    let mut lines = Vec::new();
    let height = area.height.saturating_sub(2) as usize;
    for m in t.messages.iter().rev().skip(t.scroll) {
        let headers: Vec<String> = m
            .headers
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "content-length" | "content-type" | "subscription" | "ack"
                )
            })
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        lines.push(Line::from(Span::styled(headers.join("  "), theme.dim())));
        lines.push(Line::from(m.body.clone()));
        if lines.len() >= height {
            break;
        }
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "waiting for messages…",
            theme.dim(),
        )));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, title)),
        area,
    );
}

fn collectives(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Length(28), Constraint::Min(30)]).areas(area);
    let now = app.report.at_ms / 1000;
    let mut lines = Vec::new();
    for (c, members) in &app.report.membership {
        // The broker's counts when it sent them (it lists a bounded number of members).
        let CollectiveSummary {
            members: total,
            remote,
            stale,
        } = app
            .report
            .collectives
            .get(c)
            .copied()
            .unwrap_or_else(|| CollectiveSummary::of(members, now));
        let style = if app.collective.as_deref() == Some(c) {
            theme.selected()
        } else {
            ratatui::style::Style::default()
        };
        lines.push(Line::from(Span::styled(c.clone(), style)));
        lines.push(Line::from(Span::styled(
            format!("  {total} ({remote} remote, {stale} stale)"),
            theme.dim(),
        )));
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "no MCollective nodes subscribed",
            theme.dim(),
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(block(
            theme,
            format!(" collectives ({}) ", app.report.membership.len()),
        )),
        left,
    );
    let widths = if right.width >= 90 {
        // Identity and via share what the fixed columns leave.
        let spare = right.width.saturating_sub(14 + 12 + 8 + 10 + 8);
        let identity = (spare / 2).clamp(22, 48);
        vec![
            14,
            identity,
            12,
            spare.saturating_sub(identity).clamp(22, 40),
            8,
            10,
        ]
    } else {
        vec![12, 18, 10, 0, 7, 9]
    };
    table(
        f,
        app,
        theme,
        right,
        Pane::Collectives,
        &rows::MEMBER_COLUMNS,
        &widths,
    );
}

fn ping(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let p = &app.ping;
    let [form, rest] = Layout::vertical([Constraint::Length(4), Constraint::Min(4)]).areas(area);
    let editing = matches!(app.mode, Mode::Form);
    let mut spans: Vec<Span> = Vec::new();
    let mut lines = Vec::new();
    for (i, name) in FIELDS.iter().enumerate() {
        let value = p.form.field(i);
        let style = if editing && p.field == i {
            theme.selected()
        } else {
            theme.key()
        };
        spans.push(Span::raw(format!("{name}: ")));
        spans.push(Span::styled(
            if value.is_empty() {
                "—".to_string()
            } else {
                value.to_string()
            },
            style,
        ));
        spans.push(Span::raw("   "));
        if i == 2 {
            lines.push(Line::from(std::mem::take(&mut spans)));
        }
    }
    lines.push(Line::from(spans));
    f.render_widget(
        Paragraph::new(lines).block(block(
            theme,
            if editing {
                " ping — editing ".into()
            } else {
                " ping ".into()
            },
        )),
        form,
    );

    let [replies, summary] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(rest);
    table(
        f,
        app,
        theme,
        replies,
        Pane::Ping,
        &rows::REPLY_COLUMNS,
        &[replies.width.saturating_sub(14).max(10), 10],
    );
    let mut s = Vec::new();
    if let Some(e) = &p.error {
        s.push(Line::from(Span::styled(e.clone(), theme.bad())));
    }
    if p.running {
        let secs = p.started.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
        s.push(Line::from(Span::styled(
            format!("pinging… {secs:.1} s, {} replies", p.replies.len()),
            theme.warn(),
        )));
    }
    if let Some(o) = &p.outcome {
        match o.stats() {
            Some(st) => s.push(Line::from(format!(
                "{} replies max: {:.2} min: {:.2} avg: {:.2}",
                st.replies, st.max_ms, st.min_ms, st.avg_ms
            ))),
            None => s.push(Line::from("No responses received")),
        }
        match &o.missing {
            Some(m) if m.is_empty() => s.push(Line::from(Span::styled(
                format!("every known member of {} answered", o.collective),
                theme.good(),
            ))),
            Some(m) => {
                s.push(Line::from(Span::styled(
                    format!("{} known member(s) did not answer:", m.len()),
                    theme.bad(),
                )));
                for id in m.iter().take(20) {
                    s.push(Line::from(format!("  {id}")));
                }
            }
            None => s.push(Line::from(Span::styled(
                o.missing_note.clone().unwrap_or_default(),
                theme.dim(),
            ))),
        }
        for (who, why) in &o.rejected {
            s.push(Line::from(Span::styled(
                format!("rejected {who}: {why}"),
                theme.bad(),
            )));
        }
    }
    if !p.replies.is_empty() {
        s.push(Line::from(""));
        s.extend(histogram(
            &p.replies.iter().map(|r| r.rtt_ms).collect::<Vec<_>>(),
            theme,
            summary.width.saturating_sub(16) as usize,
        ));
    }
    if s.is_empty() {
        s.push(Line::from(Span::styled(
            "edit the form, then send the ping",
            theme.dim(),
        )));
    }
    f.render_widget(
        Paragraph::new(s)
            .wrap(Wrap { trim: false })
            .block(block(theme, " summary ".into())),
        summary,
    );
}

/// RTT histogram: up to 6 buckets between min and max, bars scaled to `width`.
fn histogram(rtts: &[f64], theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rtts.iter().copied().fold(0.0, f64::max);
    let n = 6usize;
    let step = ((max - min) / n as f64).max(0.01);
    let mut counts = vec![0usize; n];
    for r in rtts {
        counts[(((r - min) / step) as usize).min(n - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let bar = if theme.ascii { "#" } else { "█" };
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let len = (c * width.max(1)).div_ceil(top);
            Line::from(vec![
                Span::raw(format!("{:>7.2} ms ", min + step * i as f64)),
                Span::styled(
                    bar.repeat(if *c == 0 { 0 } else { len.max(1) }),
                    theme.good(),
                ),
                Span::raw(format!(" {c}")),
            ])
        })
        .collect()
}
