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

/// The textbook dynamic programme (quadratic, obviously right) the linear matcher must agree with.
fn like_reference(text: &str, pattern: &str, escape: Option<char>) -> bool {
    #[derive(PartialEq)]
    enum P {
        Any,
        One,
        Lit(char),
    }
    let mut pat = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            c if Some(c) == escape => pat.extend(it.next().map(P::Lit)),
            '%' => pat.push(P::Any),
            '_' => pat.push(P::One),
            c => pat.push(P::Lit(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // fit[j]: the text so far matches the first j pattern items.
    let mut fit = vec![false; pat.len() + 1];
    fit[0] = true;
    for j in 0..pat.len() {
        fit[j + 1] = fit[j] && pat[j] == P::Any;
    }
    for c in text {
        let mut next = vec![false; pat.len() + 1];
        for j in 0..pat.len() {
            next[j + 1] = match pat[j] {
                P::Any => next[j] || fit[j + 1],
                P::One => fit[j],
                P::Lit(l) => fit[j] && l == c,
            };
        }
        fit = next;
    }
    fit[pat.len()]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
    #[test]
    fn like_agrees_with_the_textbook_matcher(
        text in "[abé]{0,12}",
        pattern in "[abé%_!]{0,8}",
    ) {
        let escape = Some('!');
        let quoted = pattern.replace('\'', "''");
        let fast = sel(&format!("s LIKE '{quoted}' ESCAPE '!'"), &[("s", &text)]);
        proptest::prop_assert_eq!(fast, like_reference(&text, &pattern, escape), "{:?} LIKE {:?}", text, pattern);
    }
}

#[test]
fn like_with_long_parts_of_single_character_wildcards() {
    // Parts over 64 characters take more than one shift-and word.
    let part: String = (0..150)
        .map(|i| if i % 3 == 0 { '_' } else { 'a' })
        .collect();
    let text = format!("zz{}yy", "a".repeat(150));
    assert!(sel(&format!("s LIKE '%{part}%'"), &[("s", &text)]));
    assert!(sel(&format!("s LIKE 'zz{part}yy'"), &[("s", &text)]));
    assert!(!sel(&format!("s LIKE '%{part}b%'"), &[("s", &text)]));
}
