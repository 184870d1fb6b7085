//! What a key can make the TUI do: one typed [`Action`] per keymap entry name, with the
//! contexts that accept it. The keymap parser turns names into actions (an unknown name is a
//! keymap error with its line), and `App::action` matches them exhaustively: adding an action
//! here without handling it does not compile.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    NextPane,
    PrevPane,
    PaneBridges,
    PaneTraffic,
    PaneCollectives,
    PanePing,
    PaneConnections,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Select,
    Back,
    Filter,
    SortNext,
    SortReverse,
    Freeze,
    Copy,
    ToggleMouse,
    Suspend,
    Reconnect,
    PauseForwarding,
    Tap,
    ToggleInternal,
    PauseTap,
    PingCollective,
    Edit,
    RunPing,
    CloseConnection,
    Close,
}

use Action::*;

impl Action {
    /// Every action, in the order the help lists them.
    pub const ALL: [Action; 34] = [
        Quit,
        Help,
        NextPane,
        PrevPane,
        PaneBridges,
        PaneTraffic,
        PaneCollectives,
        PanePing,
        PaneConnections,
        Up,
        Down,
        PageUp,
        PageDown,
        Top,
        Bottom,
        Select,
        Back,
        Filter,
        SortNext,
        SortReverse,
        Freeze,
        Copy,
        ToggleMouse,
        Suspend,
        Reconnect,
        PauseForwarding,
        Tap,
        ToggleInternal,
        PauseTap,
        PingCollective,
        Edit,
        RunPing,
        CloseConnection,
        Close,
    ];

    /// Its name in keymap files (`quit = { keys = ["q"] }`).
    pub fn name(self) -> &'static str {
        match self {
            Quit => "quit",
            Help => "help",
            NextPane => "next_pane",
            PrevPane => "prev_pane",
            PaneBridges => "pane_bridges",
            PaneTraffic => "pane_traffic",
            PaneCollectives => "pane_collectives",
            PanePing => "pane_ping",
            PaneConnections => "pane_connections",
            Up => "up",
            Down => "down",
            PageUp => "page_up",
            PageDown => "page_down",
            Top => "top",
            Bottom => "bottom",
            Select => "select",
            Back => "back",
            Filter => "filter",
            SortNext => "sort_next",
            SortReverse => "sort_reverse",
            Freeze => "freeze",
            Copy => "copy",
            ToggleMouse => "toggle_mouse",
            Suspend => "suspend",
            Reconnect => "reconnect",
            PauseForwarding => "pause_forwarding",
            Tap => "tap",
            ToggleInternal => "toggle_internal",
            PauseTap => "pause_tap",
            PingCollective => "ping_collective",
            Edit => "edit",
            RunPing => "run_ping",
            CloseConnection => "close_connection",
            Close => "close",
        }
    }

    /// The action a keymap names, if any.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The keymap contexts it may be bound in.
    pub fn contexts(self) -> &'static [&'static str] {
        match self {
            Up | Down | PageUp | PageDown | Top | Bottom => &["global", "help"],
            Reconnect | PauseForwarding => &["bridges"],
            Tap | ToggleInternal => &["traffic"],
            PauseTap => &["tap"],
            PingCollective => &["collectives"],
            Edit | RunPing => &["ping"],
            CloseConnection => &["connections"],
            Close => &["help"],
            _ => &["global"],
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_read_back() {
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
        let mut names: Vec<_> = Action::ALL.iter().map(|a| a.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
        assert_eq!(Action::from_name("quit!"), None);
    }
}
