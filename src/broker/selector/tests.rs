use super::*;

fn sel(src: &str, headers: &[(&str, &str)]) -> bool {
    let s = Selector::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    s.matches(&lookup)
}

#[test]
fn mcollective_identity_selector() {
    assert!(sel("mc_identity = 'node1'", &[("mc_identity", "node1")]));
    assert!(!sel("mc_identity = 'node1'", &[("mc_identity", "node10")]));
    assert!(!sel("mc_identity = 'node1'", &[]));
    assert_eq!(
        Selector::parse("mc_identity = 'node1'")
            .unwrap()
            .mc_identity(),
        Some("node1")
    );
    assert_eq!(
        Selector::parse("mc_identity <> 'node1'")
            .unwrap()
            .mc_identity(),
        None
    );
}

#[test]
fn comparisons_numbers_and_strings() {
    let h = [("n", "10"), ("s", "abc"), ("priority", "7")];
    assert!(sel("n > 9", &h));
    assert!(sel("n >= 10 AND n <= 10", &h));
    assert!(!sel("n < 10", &h));
    assert!(sel("n <> 11", &h));
    assert!(sel("n = 10.0", &h));
    assert!(sel("n + 5 = 15 AND n * 2 = 20 AND n / 2 - 1 = 4", &h));
    assert!(sel("-n = -10", &h));
    assert!(sel("s = 'abc' AND s > 'abb'", &h));
    assert!(sel("JMSPriority > 4", &h));
    assert!(sel("n BETWEEN 5 AND 10", &h));
    assert!(!sel("n NOT BETWEEN 5 AND 10", &h));
    assert!(sel("s IN ('x', 'abc')", &h));
    assert!(sel("s NOT IN ('x', 'y')", &h));
    assert!(sel("(n = 1 OR n = 10) AND NOT s = 'x'", &h));
    assert!(sel(
        "it's = 'a''b'".replace("it's", "q").as_str(),
        &[("q", "a'b")]
    ));
    assert!(sel("flag = TRUE", &[("flag", "true")]));
}

#[test]
fn like_with_escape() {
    let h = [("s", "node_12.example%")];
    assert!(sel("s LIKE 'node%'", &h));
    assert!(sel("s LIKE 'node_12%'", &h));
    assert!(sel("s LIKE '%example!%' ESCAPE '!'", &h));
    assert!(!sel("s LIKE 'node!_x%' ESCAPE '!'", &h));
    assert!(sel("s NOT LIKE 'x%'", &h));
    assert!(sel("s LIKE '____%'", &h));
    assert!(!sel("s LIKE 'node'", &h));
}

#[test]
fn null_is_unknown_not_false() {
    assert!(sel("missing IS NULL", &[]));
    assert!(!sel("missing IS NOT NULL", &[]));
    assert!(!sel("missing = 'x'", &[]));
    assert!(!sel("NOT missing = 'x'", &[]));
    assert!(sel("missing = 'x' OR 1 = 1", &[]));
    assert!(!sel("missing = 'x' AND 1 = 1", &[]));
    assert!(!sel("missing IN ('a')", &[]));
}

#[test]
fn errors_name_the_position() {
    let e = Selector::parse("mc_identity = ").unwrap_err();
    assert_eq!(e.pos, 15);
    let e = Selector::parse("a = 'x").unwrap_err();
    assert_eq!(e.pos, 5);
    assert!(e.to_string().contains("unterminated"));
    let e = Selector::parse("a = 1 b").unwrap_err();
    assert_eq!(e.pos, 7);
    let e = Selector::parse("a IN 1").unwrap_err();
    assert!(e.msg.contains("'('"), "{e}");
    let e = Selector::parse("a # 1").unwrap_err();
    assert_eq!(e.pos, 3);
    let e = Selector::parse("(a = 1").unwrap_err();
    assert!(e.msg.contains("')'"), "{e}");
    let deep = "(".repeat(500) + "a = 1" + &")".repeat(500);
    assert!(Selector::parse(&deep).is_err());
}
