//! Variable expansion in instruction arguments, with the quoting rules of docker's
//! shell lexer: `'…'` is literal; `"…"` expands `$` and lets the escape character
//! escape `"`, `$` and itself; outside quotes the escape character makes the next
//! character literal. `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`,
//! `${NAME:+word}`, `${NAME+word}`, `${NAME:?message}`, `${NAME?message}`; a `$` not
//! followed by a name is literal. Quotes are removed.
//!
//! [`word`] keeps whitespace (ENV values, WORKDIR, USER); [`words`] also splits on
//! unquoted whitespace, including whitespace an unquoted `$NAME` brought in (COPY
//! sources, EXPOSE, VOLUME). Both report the names they looked up, used or not, so
//! the cache knows which build args a step depends on.
use std::collections::BTreeSet;

/// A failed expansion; the caller adds the Dockerfile line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// The value of a variable, or `None` when it is not set.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `raw` expanded as one word.
pub fn word(raw: &str, esc: char, env: Lookup) -> Result<(String, BTreeSet<String>), ExpandError> {
    let mut lx = Lexer::new(raw, esc, env, false);
    lx.run()?;
    Ok((lx.out.concat(), lx.used))
}

/// `raw` expanded and split into words.
pub fn words(
    raw: &str,
    esc: char,
    env: Lookup,
) -> Result<(Vec<String>, BTreeSet<String>), ExpandError> {
    let mut lx = Lexer::new(raw, esc, env, true);
    lx.run()?;
    lx.end_word();
    Ok((lx.words, lx.used))
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    esc: char,
    env: Lookup<'a>,
    split: bool,
    /// The current word's pieces.
    out: Vec<String>,
    /// A quoted empty string still makes a word.
    in_word: bool,
    words: Vec<String>,
    used: BTreeSet<String>,
}

impl<'a> Lexer<'a> {
    fn new(raw: &str, esc: char, env: Lookup<'a>, split: bool) -> Self {
        Lexer {
            chars: raw.chars().collect(),
            pos: 0,
            esc,
            env,
            split,
            out: Vec::new(),
            in_word: false,
            words: Vec::new(),
            used: BTreeSet::new(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn push(&mut self, c: char) {
        self.in_word = true;
        self.out.push(c.to_string());
    }

    fn end_word(&mut self) {
        if self.in_word {
            self.words.push(self.out.concat());
        }
        self.out.clear();
        self.in_word = false;
    }

    fn run(&mut self) -> Result<(), ExpandError> {
        while let Some(c) = self.next() {
            match c {
                c if self.split && c.is_whitespace() => self.end_word(),
                '\'' => {
                    self.in_word = true;
                    loop {
                        match self.next() {
                            Some('\'') => break,
                            Some(c) => self.out.push(c.to_string()),
                            None => {
                                return Err(ExpandError(
                                    "unexpected end of statement while looking for matching single-quote".into(),
                                ))
                            }
                        }
                    }
                }
                '"' => {
                    self.in_word = true;
                    loop {
                        match self.next() {
                            Some('"') => break,
                            Some('$') => {
                                let v = self.dollar()?;
                                self.out.push(v);
                            }
                            Some(c) if c == self.esc => match self.peek() {
                                Some(n) if n == '"' || n == '$' || n == self.esc => {
                                    self.pos += 1;
                                    self.out.push(n.to_string());
                                }
                                _ => self.out.push(c.to_string()),
                            },
                            Some(c) => self.out.push(c.to_string()),
                            None => {
                                return Err(ExpandError(
                                    "unexpected end of statement while looking for matching double-quote".into(),
                                ))
                            }
                        }
                    }
                }
                '$' => {
                    let v = self.dollar()?;
                    if self.split {
                        // Unquoted: the value's whitespace splits words.
                        for (i, part) in v.split(char::is_whitespace).enumerate() {
                            if i > 0 {
                                self.end_word();
                            }
                            if !part.is_empty() {
                                self.in_word = true;
                                self.out.push(part.to_string());
                            }
                        }
                    } else {
                        if !v.is_empty() {
                            self.in_word = true;
                        }
                        self.out.push(v);
                    }
                }
                c if c == self.esc => match self.next() {
                    Some(n) => self.push(n),
                    None => self.push(c),
                },
                c => self.push(c),
            }
        }
        Ok(())
    }

    /// After a `$`: the expansion, or `$` itself when no name follows.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                self.braced()
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let name = self.name();
                Ok(self.lookup(&name).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        self.used.insert(name.to_string());
        (self.env)(name)
    }

    /// `${…}` after the `{`.
    fn braced(&mut self) -> Result<String, ExpandError> {
        let name = self.name();
        if name.is_empty() {
            return Err(ExpandError(
                "bad substitution: ${} needs a variable name".into(),
            ));
        }
        let value = self.lookup(&name);
        let colon = self.peek() == Some(':');
        if colon {
            self.pos += 1;
        }
        let op = self.next();
        if op == Some('}') && !colon {
            return Ok(value.unwrap_or_default());
        }
        let Some(op @ ('-' | '+' | '?')) = op else {
            return Err(ExpandError(format!(
                "unsupported modifier in ${{{name}...}}: use :-, -, :+, +, :? or ?"
            )));
        };
        // The word up to the matching `}` (nested `${…}` counted), expanded itself.
        let start = self.pos;
        let mut depth = 0;
        loop {
            match self.next() {
                None => return Err(ExpandError(format!("missing '}}' in ${{{name}..."))),
                Some('$') if self.peek() == Some('{') => {
                    depth += 1;
                    self.pos += 1;
                }
                Some('}') if depth == 0 => break,
                Some('}') => depth -= 1,
                Some(c) if c == self.esc => {
                    self.pos += 1;
                }
                Some(_) => {}
            }
        }
        let raw: String = self.chars[start..self.pos - 1].iter().collect();
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        let mut nested_used = BTreeSet::new();
        let mut expand_alt = || -> Result<String, ExpandError> {
            let (w, used) = word(&raw, self.esc, self.env)?;
            nested_used = used;
            Ok(w)
        };
        let out = match op {
            '-' if set => value.unwrap_or_default(),
            '-' => expand_alt()?,
            '+' if set => expand_alt()?,
            '+' => String::new(),
            _ if set => value.unwrap_or_default(),
            _ => {
                let msg = expand_alt()?;
                let msg = if msg.is_empty() {
                    "is not allowed to be unset".to_string()
                } else {
                    msg
                };
                return Err(ExpandError(format!("{name}: {msg}")));
            }
        };
        self.used.extend(nested_used);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "SP" => Some("x y".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn w(raw: &str) -> String {
        word(raw, '\\', &env).unwrap().0
    }

    fn ws(raw: &str) -> Vec<String> {
        words(raw, '\\', &env).unwrap().0
    }

    #[test]
    fn variables_and_modifiers() {
        assert_eq!(w("$A/${A}/$NOPE/x"), "alpha/alpha//x");
        assert_eq!(
            w("${NOPE:-def}|${EMPTY:-def}|${EMPTY-def}|${A:-def}"),
            "def|def||alpha"
        );
        assert_eq!(
            w("${A:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${NOPE+alt}"),
            "alt||alt|"
        );
        assert_eq!(w("${NOPE:-${A}-x}"), "alpha-x");
        assert_eq!(w("$ $1 a$"), "$ $1 a$");
        let e = word("${NOPE:?must be set}", '\\', &env).unwrap_err();
        assert_eq!(e.0, "NOPE: must be set");
        assert!(word("${A%x}", '\\', &env).is_err());
        assert!(word("${A", '\\', &env).is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w(r#"'$A' "$A" \$A"#), "$A alpha $A");
        assert_eq!(w(r#""a \"q\" \$A \\ \n""#), r#"a "q" $A \ \n"#);
        assert_eq!(w(r"a\ b"), "a b");
        assert!(word("'open", '\\', &env).is_err());
        assert!(word("\"open", '\\', &env).is_err());
        assert_eq!(word("`$A", '`', &env).unwrap().0, "$A");
    }

    #[test]
    fn words_split_on_unquoted_whitespace() {
        assert_eq!(ws("a  b\t c"), ["a", "b", "c"]);
        assert_eq!(ws(r#""a b" 'c d' e\ f"#), ["a b", "c d", "e f"]);
        assert_eq!(ws("$SP z"), ["x", "y", "z"]);
        assert_eq!(ws("\"$SP\" z"), ["x y", "z"]);
        assert_eq!(ws("\"\" $NOPE q"), ["", "q"]);
    }

    #[test]
    fn used_names_are_reported() {
        let (_, used) = word("$A ${B:-$C} ${D+x}", '\\', &env).unwrap();
        let used: Vec<&str> = used.iter().map(String::as_str).collect();
        assert_eq!(used, ["A", "B", "C", "D"]);
    }
}
