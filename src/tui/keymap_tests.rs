use super::*;

#[test]
fn every_shipped_keymap_parses_and_quits() {
    for (name, text) in BUILTIN {
        let k = Keymap::parse(text, name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(
            k.keys_for("traffic", Action::Quit).unwrap().contains('q'),
            "{name}"
        );
        for ctx in k.contexts.keys() {
            assert!(CONTEXTS.contains(&ctx.as_str()));
        }
        // Every action has a key in every shipped keymap.
        for action in Action::ALL {
            assert!(
                action
                    .contexts()
                    .iter()
                    .any(|c| k.keys_for(c, action).is_some()),
                "{name}: no key for {action}"
            );
        }
    }
    // The files in keymaps/ are the compiled-in ones.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/keymaps");
    for (name, text) in BUILTIN {
        let on_disk = std::fs::read_to_string(format!("{dir}/{name}.toml")).unwrap();
        assert_eq!(on_disk, text);
    }
}

#[test]
fn keys_parse_and_print_back() {
    for k in [
        "q", "?", "G", "ctrl-c", "alt-<", "enter", "space", "f1", "pagedown", "backtab", "ctrl-x",
    ] {
        assert_eq!(Key::parse(k).unwrap().to_string(), k);
    }
    assert_eq!(Key::parse("shift-tab").unwrap().to_string(), "backtab");
    for bad in ["", "ctrl-", "enterr", "f13", "hyper-x", "ab"] {
        assert_eq!(Key::parse(bad), None, "{bad}");
    }
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let text = "\
[global]
quit = { keys = [\"q\"], description = \"Quit\" }
help = { keys = [\"q\"], description = \"dup\" }
top = { keys = [\"g g\"], description = \"Top\" }
bottom = { keys = [\"g\"], description = \"prefix\" }
up = { keys = [\"hyper-k\"], description = \"bad key\" }
fly = { keys = [\"z\"], description = \"no such action\" }

[traffic]
tap = { keys = [\"q\"], description = \"shadows global quit\" }
reconnect = { keys = [\"x\"], description = \"wrong context\" }

[sidebar]
";
    let errors = Keymap::parse(text, "my.toml").unwrap_err();
    let lines: Vec<(usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    let has =
        |line: usize, needle: &str| lines.iter().any(|(l, m)| *l == line && m.contains(needle));
    assert!(
        has(3, "key \"q\" for help in [global] is already bound to quit"),
        "{lines:#?}"
    );
    assert!(has(5, "one is a prefix of the other"), "{lines:#?}");
    assert!(has(6, "unknown key \"hyper-k\""), "{lines:#?}");
    assert!(has(7, "unknown action \"fly\""), "{lines:#?}");
    assert!(has(10, "already bound to quit in [global]"), "{lines:#?}");
    assert!(has(11, "does not belong in [traffic]"), "{lines:#?}");
    assert!(has(13, "unknown context [sidebar]"), "{lines:#?}");
    assert!(errors[0].to_string().starts_with("my.toml:"));

    let e = Keymap::parse("[global\n", "x.toml").unwrap_err();
    assert_eq!(e[0].line, 1);
    let e = Keymap::parse(
        "[global]\nhelp = { keys = [\"?\"], description = \"h\" }\n",
        "x",
    )
    .unwrap_err();
    assert!(e[0].message.contains("no key for quit"));
    let e = Keymap::parse("[global]\nquit = { keys = [\"q\"], descr = \"x\" }\n", "x").unwrap_err();
    assert_eq!(e[0].line, 2, "{e:?}");
}

#[test]
fn sequences_wait_for_their_second_key() {
    let k = Keymap::builtin("vim").unwrap();
    let mut m = KeyMatcher::default();
    let g = Key::parse("g").unwrap();
    assert_eq!(m.press(&k, "traffic", g), Resolved::Pending);
    assert_eq!(m.pending(), "g");
    assert_eq!(m.press(&k, "traffic", g), Resolved::Action(Action::Top));
    // A broken sequence falls back to the last key alone.
    assert_eq!(m.press(&k, "traffic", g), Resolved::Pending);
    assert_eq!(
        m.press(&k, "traffic", Key::parse("j").unwrap()),
        Resolved::Action(Action::Down)
    );
    assert_eq!(
        m.press(&k, "traffic", Key::parse("t").unwrap()),
        Resolved::Action(Action::Tap)
    );
    assert_eq!(
        m.press(&k, "bridges", Key::parse("t").unwrap()),
        Resolved::None
    );
    // Help is modal: only its own keys.
    assert_eq!(
        m.press(&k, "help", Key::parse("q").unwrap()),
        Resolved::Action(Action::Close)
    );
    assert_eq!(
        m.press(&k, "help", Key::parse("1").unwrap()),
        Resolved::None
    );
    let e = Keymap::builtin("emacs").unwrap();
    assert_eq!(
        m.press(&e, "ping", Key::parse("ctrl-x").unwrap()),
        Resolved::Pending
    );
    assert_eq!(
        m.press(&e, "ping", Key::parse("ctrl-c").unwrap()),
        Resolved::Action(Action::Quit)
    );
}
