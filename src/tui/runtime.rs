//! The event loop: terminal input, data from the source, a modest redraw tick; the app's
//! effects carried out. Redraws happen on change (input, a report about once a second) and at
//! 10 Hz only while something animates (a ping running), so it stays light over SSH; each draw
//! is one synchronized update, so terminals never show half a frame.

use super::app::{App, Effect};
use super::keymap::Key;
use super::source::Source;
use super::terminal;
use super::ui::{self, theme::Theme};
use crate::collective::security::SecurityProvider;
use crossterm::event::{Event, EventStream, KeyEventKind, MouseEventKind};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

pub async fn run(
    mut app: App,
    source: Source,
    theme: Theme,
    security: Option<Arc<dyn SecurityProvider>>,
) -> anyhow::Result<()> {
    app.ascii = theme.ascii;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    source.start_feed(tx.clone(), stop.clone());
    let conns_shown = super::source_conns::Shown::default();
    source.start_connections_feed(tx.clone(), conns_shown.clone(), stop.clone());
    let mut term = terminal::enter()?;
    let mut input = EventStream::new();
    let mut tap: Option<CancellationToken> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut dirty = true;
    let result: anyhow::Result<()> = loop {
        if dirty {
            let _ = crossterm::execute!(std::io::stdout(), BeginSynchronizedUpdate);
            let drawn = term.draw(|f| ui::draw(f, &app, &theme));
            let _ = crossterm::execute!(std::io::stdout(), EndSynchronizedUpdate);
            if let Err(e) = drawn {
                break Err(e.into());
            }
            dirty = false;
        }
        let mut effects = Vec::new();
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    effects = app.on_key(Key::from_event(&k));
                    dirty = true;
                }
                Some(Ok(Event::Mouse(m))) => {
                    let delta = match m.kind {
                        MouseEventKind::ScrollUp => -1,
                        MouseEventKind::ScrollDown => 1,
                        _ => 0,
                    };
                    if delta != 0 {
                        app.on_scroll(delta);
                        dirty = true;
                    }
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(e.into()),
                None => break Ok(()),
            },
            msg = rx.recv() => match msg {
                Some(m) => {
                    app.on_incoming(m);
                    dirty = true;
                }
                None => break Ok(()),
            },
            _ = tick.tick() => {
                if app.ping.running {
                    dirty = true;
                }
            }
            _ = hangup.recv() => app.quit = true,
            _ = terminate.recv() => app.quit = true,
        }
        conns_shown.store(
            app.pane == super::app::Pane::Connections,
            std::sync::atomic::Ordering::Relaxed,
        );
        for e in effects {
            match e {
                Effect::Ping(req) => source.ping(req, security.clone(), tx.clone()),
                Effect::Tap(dest) => {
                    if let Some(t) = tap.take() {
                        t.cancel();
                    }
                    tap = Some(source.tap(dest, tx.clone()));
                }
                Effect::StopTap => {
                    if let Some(t) = tap.take() {
                        t.cancel();
                    }
                }
                Effect::Bridge(name, what) => source.control(name, what, tx.clone()),
                Effect::InspectConnection(id) => source.inspect_connection(id, tx.clone()),
                Effect::CloseConnection(id) => source.close_connection(id, tx.clone()),
                Effect::Copy(text) => terminal::copy(&text),
                Effect::Mouse(on) => terminal::set_mouse(on),
                Effect::Suspend => {
                    term = terminal::suspend()?;
                    if app.mouse {
                        terminal::set_mouse(true);
                    }
                    dirty = true;
                }
            }
        }
        if app.quit {
            break Ok(());
        }
    };
    stop.cancel();
    if let Some(t) = tap {
        t.cancel();
    }
    terminal::leave();
    result
}
