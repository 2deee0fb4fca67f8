//! The Dockerfile's lexical layer: parser directives, comments, line continuations and
//! heredocs, turning the text into logical lines (one per instruction) that remember
//! where they came from.
//!
//! The rules are BuildKit's: directives (`# name=value`) only before anything else, and
//! the first line that is not one (a comment, a blank line, an unknown name, an
//! instruction) ends them; a line whose first non-blank character is `#` is a comment,
//! also in the middle of a continued instruction; blank lines inside a continuation are
//! skipped; a line ending in the escape character (then optional blanks) continues on
//! the next, joined without a newline; `<<EOF` / `<<-EOF` / `<<"EOF"` words of RUN, COPY
//! and ADD read the lines that follow, up to the delimiter, as heredoc bodies.
use super::ParseError;

/// What the parser directives set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub escape: char,
    /// `# syntax=`: accepted and noted; berth always builds with its own frontend.
    pub syntax: Option<String>,
    /// `# check=`: accepted and ignored.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// A heredoc: `<<NAME` and the lines up to `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// The body, each line ending in `\n`; for `<<-`, leading tabs removed.
    pub body: String,
    /// Unquoted delimiter: variables in the body are expanded.
    pub expand: bool,
}

/// One instruction as written: its keyword, the rest of its (joined) line, its
/// heredocs, and the lines of the file it spans (1-based, inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logical {
    pub start: usize,
    pub end: usize,
    pub keyword: String,
    pub rest: String,
    pub heredocs: Vec<Heredoc>,
}

/// Directives and logical lines of `text`.
pub fn split(text: &str) -> Result<(Directives, Vec<Logical>), ParseError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut directives = Directives::default();
    let mut i = 0;
    let mut seen = Vec::new();
    while i < lines.len() {
        let Some((name, value)) = directive(lines[i]) else {
            break;
        };
        let line = i + 1;
        if seen.contains(&name) {
            return Err(ParseError::at(
                line,
                format!("only one {name} parser directive can be used"),
            ));
        }
        match name.as_str() {
            "escape" => {
                directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(ParseError::at(
                            line,
                            format!("invalid escape token '{value}': it must be ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => directives.syntax = Some(value),
            "check" => directives.check = Some(value),
            // Unknown names are comments, and a comment ends the directives.
            _ => break,
        }
        seen.push(name);
        i += 1;
    }

    let esc = directives.escape;
    let mut out = Vec::new();
    while i < lines.len() {
        let first = lines[i];
        i += 1;
        if is_comment(first) || first.trim().is_empty() {
            continue;
        }
        let start = i;
        let mut joined = String::new();
        let mut piece = first;
        loop {
            match continued(piece, esc) {
                Some(head) => {
                    joined.push_str(head);
                    // Skip comments and blank lines inside the continuation.
                    while i < lines.len() && (is_comment(lines[i]) || lines[i].trim().is_empty()) {
                        i += 1;
                    }
                    if i == lines.len() {
                        break;
                    }
                    piece = lines[i];
                    i += 1;
                }
                None => {
                    joined.push_str(piece);
                    break;
                }
            }
        }
        let end = i;
        let trimmed = joined.trim_start();
        let (keyword, rest) = match trimmed.find(|c: char| c.is_whitespace()) {
            Some(n) => (&trimmed[..n], trimmed[n..].trim()),
            None => (trimmed, ""),
        };
        let keyword = keyword.to_ascii_lowercase();
        let mut logical = Logical {
            start,
            end,
            keyword,
            rest: rest.to_string(),
            heredocs: Vec::new(),
        };
        if matches!(logical.keyword.as_str(), "run" | "copy" | "add") {
            for (name, strip_tabs, expand) in heredoc_markers(&logical.rest) {
                let mut body = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let l = if strip_tabs {
                        raw.trim_start_matches('\t')
                    } else {
                        raw
                    };
                    if l == name {
                        closed = true;
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                if !closed {
                    return Err(ParseError::at(
                        start,
                        format!("unterminated heredoc <<{name}: no line {name:?} closes it"),
                    ));
                }
                logical.heredocs.push(Heredoc { name, body, expand });
            }
            logical.end = i;
        }
        out.push(logical);
    }
    Ok((directives, out))
}

/// `# name = value` with a name of letters and digits; the name lowercased.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (name, value) = rest.split_once('=')?;
    let name = name.trim();
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    ok.then(|| (name.to_ascii_lowercase(), value.trim().to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The line without its continuation (escape then blanks at the end), if it has one.
fn continued(line: &str, esc: char) -> Option<&str> {
    let t = line.trim_end_matches([' ', '\t']);
    t.strip_suffix(esc)
}

/// The heredoc words of an instruction's arguments, in order: `<<NAME`, `<<-NAME`,
/// `<<"NAME"`, `<<'NAME'` (a quoted name: no expansion in the body). `<<<` and a `<<`
/// inside quotes are not heredocs.
pub fn heredoc_markers(rest: &str) -> Vec<(String, bool, bool)> {
    let mut found = Vec::new();
    let b = rest.as_bytes();
    let mut quote: Option<u8> = None;
    let mut k = 0;
    while k < b.len() {
        let c = b[k];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'<' && b.get(k + 1) == Some(&b'<') && b.get(k + 2) != Some(&b'<') => {
                let prev_ok = k == 0 || b[k - 1].is_ascii_whitespace();
                let mut j = k + 2;
                let strip_tabs = b.get(j) == Some(&b'-');
                if strip_tabs {
                    j += 1;
                }
                let q = b.get(j).copied().filter(|c| *c == b'"' || *c == b'\'');
                if q.is_some() {
                    j += 1;
                }
                let name_start = j;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let name = &rest[name_start..j];
                let closes = match q {
                    Some(q) => b.get(j) == Some(&q),
                    None => true,
                };
                if prev_ok && !name.is_empty() && closes {
                    found.push((name.to_string(), strip_tabs, q.is_none()));
                    k = if q.is_some() { j + 1 } else { j };
                    continue;
                }
            }
            None => {}
        }
        k += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(ls: &[Logical]) -> Vec<(&str, &str, usize, usize)> {
        ls.iter()
            .map(|l| (l.keyword.as_str(), l.rest.as_str(), l.start, l.end))
            .collect()
    }

    #[test]
    fn directives_only_at_the_top() {
        let (d, ls) =
            split("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN x `\n  y\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(kw(&ls), [("from", "a", 3, 3), ("run", "x   y", 4, 5)]);
        // After a comment, a directive is a comment.
        let (d, _) = split("# hello\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(d.escape, '\\');
        let (d, _) = split("# unknowndirective=x\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(d.escape, '\\');
        let (d, _) = split("\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(d.escape, '\\');
        let e = split("# escape=x\nFROM a\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = split("# escape=\\\n# escape=`\nFROM a\n").unwrap_err();
        assert!(e.message.contains("only one escape"), "{e}");
    }

    #[test]
    fn comments_blank_lines_and_continuations() {
        let text = "FROM busybox\n\n# a comment\nRUN echo a \\\n# inside\n\n    && echo b\\  \n  && echo c\n  # indented comment\nCMD [\"sh\"]\r\n";
        let (_, ls) = split(text).unwrap();
        assert_eq!(
            kw(&ls),
            [
                ("from", "busybox", 1, 1),
                ("run", "echo a     && echo b  && echo c", 4, 8),
                ("cmd", "[\"sh\"]", 10, 10)
            ]
        );
    }

    #[test]
    fn heredocs_are_read_after_their_line() {
        let text = "FROM a\nRUN <<EOF\necho $X\n  two\nEOF\nCOPY <<-\"A\" <<B /dst/\n\tone\n\tA\nbee\nB\nRUN echo '<<no' <<<herestring\n";
        let (_, ls) = split(text).unwrap();
        assert_eq!(ls.len(), 4);
        assert_eq!(
            ls[1].heredocs,
            [Heredoc {
                name: "EOF".into(),
                body: "echo $X\n  two\n".into(),
                expand: true
            }]
        );
        assert_eq!((ls[1].start, ls[1].end), (2, 5));
        assert_eq!(ls[2].heredocs[0].name, "A");
        assert_eq!(ls[2].heredocs[0].body, "one\n");
        assert!(!ls[2].heredocs[0].expand);
        assert_eq!(ls[2].heredocs[1].body, "bee\n");
        assert!(ls[3].heredocs.is_empty());
        let e = split("FROM a\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unterminated heredoc"), "{e}");
    }
}
