//! A recursive-descent parser for JMS message selectors (the SQL-92 subset of JMS 1.1 §3.8).
//!
//! Errors carry the 1-based character position, because the person reading the ERROR frame is
//! usually looking at a selector string in a config file and needs to know where it went wrong.

use super::{Expr, Literal, SelectorError};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

struct Lexer {
    toks: Vec<(Tok, usize)>,
}

fn lex(src: &str) -> Result<Lexer, SelectorError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(SelectorError::new(pos, "unterminated string literal")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            toks.push((Tok::Str(s), pos));
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '+' || chars[i] == '-') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let trimmed = text.trim_end_matches(['l', 'L', 'f', 'F', 'd', 'D']);
            let n = if let Some(hex) = trimmed.strip_prefix("0x").or(trimmed.strip_prefix("0X")) {
                i64::from_str_radix(hex, 16).ok().map(|v| v as f64)
            } else {
                trimmed.parse::<f64>().ok()
            };
            match n {
                Some(n) => toks.push((Tok::Num(n), pos)),
                None => return Err(SelectorError::new(pos, format!("bad number {text:?}"))),
            }
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '$' | '.' | '-'))
            {
                i += 1;
            }
            toks.push((Tok::Ident(chars[start..i].iter().collect()), pos));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let (tok, len) = match (c, two.as_str()) {
            (_, "<>") => (Tok::Op("<>"), 2),
            (_, "<=") => (Tok::Op("<="), 2),
            (_, ">=") => (Tok::Op(">="), 2),
            (_, "!=") => (Tok::Op("<>"), 2),
            ('=', _) => (Tok::Op("="), 1),
            ('<', _) => (Tok::Op("<"), 1),
            ('>', _) => (Tok::Op(">"), 1),
            ('+', _) => (Tok::Op("+"), 1),
            ('-', _) => (Tok::Op("-"), 1),
            ('*', _) => (Tok::Op("*"), 1),
            ('/', _) => (Tok::Op("/"), 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            (',', _) => (Tok::Comma, 1),
            _ => {
                return Err(SelectorError::new(
                    pos,
                    format!("unexpected character {c:?}"),
                ))
            }
        };
        toks.push((tok, pos));
        i += len;
    }
    toks.push((Tok::End, chars.len() + 1));
    Ok(Lexer { toks })
}

pub(super) struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    depth: usize,
}

/// Nesting deeper than this is refused rather than risking the stack on hostile input.
const MAX_DEPTH: usize = 64;

impl Parser {
    pub(super) fn parse(src: &str) -> Result<Expr, SelectorError> {
        let mut p = Parser {
            toks: lex(src)?.toks,
            at: 0,
            depth: 0,
        };
        let e = p.or()?;
        match p.peek() {
            Tok::End => Ok(e),
            t => Err(p.err(format!("unexpected {}", describe(t)))),
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.at].0
    }
    fn pos(&self) -> usize {
        self.toks[self.at].1
    }
    fn bump(&mut self) -> Tok {
        let t = self.toks[self.at].0.clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }
    fn err(&self, msg: impl Into<String>) -> SelectorError {
        SelectorError::new(self.pos(), msg)
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.keyword(kw) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), SelectorError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.err(format!("expected {kw}, found {}", describe(self.peek()))))
        }
    }

    fn enter(&mut self) -> Result<(), SelectorError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("selector nested too deeply"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, SelectorError> {
        self.enter()?;
        let mut e = self.and()?;
        while self.eat_kw("OR") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, SelectorError> {
        let mut e = self.not()?;
        while self.eat_kw("AND") {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, SelectorError> {
        if self.eat_kw("NOT") {
            self.enter()?;
            let e = Expr::Not(Box::new(self.not()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, SelectorError> {
        let left = self.sum()?;
        if let Tok::Op(op @ ("=" | "<>" | "<" | ">" | "<=" | ">=")) = *self.peek() {
            self.bump();
            let right = self.sum()?;
            return Ok(Expr::Cmp(op, Box::new(left), Box::new(right)));
        }
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            self.expect_kw("NULL")?;
            let e = Expr::IsNull(Box::new(left));
            return Ok(if negated { Expr::Not(Box::new(e)) } else { e });
        }
        let negated = self.eat_kw("NOT");
        let e = if self.eat_kw("BETWEEN") {
            let lo = self.sum()?;
            self.expect_kw("AND")?;
            let hi = self.sum()?;
            Expr::Between(Box::new(left), Box::new(lo), Box::new(hi))
        } else if self.eat_kw("IN") {
            if self.bump() != Tok::LParen {
                return Err(self.err("expected '(' after IN"));
            }
            let mut items = Vec::new();
            loop {
                match self.bump() {
                    Tok::Str(s) => items.push(Literal::Str(s)),
                    Tok::Num(n) => items.push(Literal::Num(n)),
                    t => {
                        return Err(self.err(format!(
                            "expected a literal in IN list, found {}",
                            describe(&t)
                        )))
                    }
                }
                match self.bump() {
                    Tok::Comma => continue,
                    Tok::RParen => break,
                    t => {
                        return Err(self.err(format!(
                            "expected ',' or ')' in IN list, found {}",
                            describe(&t)
                        )))
                    }
                }
            }
            Expr::In(Box::new(left), items)
        } else if self.eat_kw("LIKE") {
            let Tok::Str(pattern) = self.bump() else {
                return Err(self.err("expected a string pattern after LIKE"));
            };
            let mut escape = None;
            if self.eat_kw("ESCAPE") {
                match self.bump() {
                    Tok::Str(s) if s.chars().count() == 1 => escape = s.chars().next(),
                    _ => return Err(self.err("ESCAPE takes a one-character string")),
                }
            }
            Expr::Like(Box::new(left), super::Like::compile(&pattern, escape))
        } else if negated {
            return Err(self.err(format!(
                "expected BETWEEN, IN or LIKE after NOT, found {}",
                describe(self.peek())
            )));
        } else {
            return Ok(left);
        };
        Ok(if negated { Expr::Not(Box::new(e)) } else { e })
    }

    fn sum(&mut self) -> Result<Expr, SelectorError> {
        let mut e = self.product()?;
        while let Tok::Op(op @ ("+" | "-")) = *self.peek() {
            self.bump();
            e = Expr::Arith(op, Box::new(e), Box::new(self.product()?));
        }
        Ok(e)
    }

    fn product(&mut self) -> Result<Expr, SelectorError> {
        let mut e = self.unary()?;
        while let Tok::Op(op @ ("*" | "/")) = *self.peek() {
            self.bump();
            e = Expr::Arith(op, Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, SelectorError> {
        match *self.peek() {
            Tok::Op("-") => {
                self.bump();
                self.enter()?;
                let e = Expr::Neg(Box::new(self.unary()?));
                self.depth -= 1;
                Ok(e)
            }
            Tok::Op("+") => {
                self.bump();
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, SelectorError> {
        let pos = self.pos();
        match self.bump() {
            Tok::Str(s) => Ok(Expr::Lit(Literal::Str(s))),
            Tok::Num(n) => Ok(Expr::Lit(Literal::Num(n))),
            Tok::LParen => {
                let e = self.or()?;
                match self.bump() {
                    Tok::RParen => Ok(e),
                    t => Err(self.err(format!("expected ')', found {}", describe(&t)))),
                }
            }
            Tok::Ident(s) if s.eq_ignore_ascii_case("TRUE") => Ok(Expr::Lit(Literal::Bool(true))),
            Tok::Ident(s) if s.eq_ignore_ascii_case("FALSE") => Ok(Expr::Lit(Literal::Bool(false))),
            Tok::Ident(s) if is_reserved(&s) => {
                Err(SelectorError::new(pos, format!("unexpected keyword {s}")))
            }
            Tok::Ident(s) => Ok(Expr::Ident(s)),
            t => Err(SelectorError::new(
                pos,
                format!("expected a value, found {}", describe(&t)),
            )),
        }
    }
}

fn is_reserved(s: &str) -> bool {
    [
        "AND", "OR", "NOT", "BETWEEN", "IN", "LIKE", "ESCAPE", "IS", "NULL",
    ]
    .iter()
    .any(|k| s.eq_ignore_ascii_case(k))
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Num(n) => format!("number {n}"),
        Tok::Op(o) => format!("'{o}'"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
        Tok::End => "end of selector".into(),
    }
}
