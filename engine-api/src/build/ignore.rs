//! `.dockerignore`: which paths of a build context are left out, with docker's rules.
//!
//! One pattern a line; blank lines and lines starting with `#` are skipped; a leading
//! `!` re-includes what earlier patterns excluded; patterns are cleaned like paths
//! (`./a//b/` is `a/b`, a leading `/` is dropped). Within a path segment `*` matches
//! any run of characters but `/`, `?` one character, `[a-z]` / `[^a-z]` a class, and
//! `\` escapes; a segment `**` matches any number of directories, none included. A
//! pattern that matches a directory excludes everything under it. The last pattern
//! that matches a path decides.

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    include: bool,
    segments: Vec<String>,
}

/// A pattern that can never match (an unclosed `[`), named for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".dockerignore line {line}: bad pattern {pattern:?}: {reason}")]
pub struct IgnoreError {
    pub line: usize,
    pub pattern: String,
    pub reason: String,
}

impl Ignore {
    pub fn parse(text: &str) -> Result<Ignore, IgnoreError> {
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, pat) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let segments = clean(pat);
            for s in &segments {
                if let Err(reason) = check_segment(s) {
                    return Err(IgnoreError {
                        line: i + 1,
                        pattern: line.to_string(),
                        reason,
                    });
                }
            }
            if segments.is_empty() {
                continue;
            }
            patterns.push(Pattern { include, segments });
        }
        Ok(Ignore { patterns })
    }

    /// Whether `path` (relative to the context root, `/`-separated) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let parts = clean(path);
        if parts.is_empty() {
            return false;
        }
        let mut excluded = false;
        for p in &self.patterns {
            // The path itself, or a directory above it (then everything below goes).
            let hit = (1..=parts.len()).any(|n| matches(&p.segments, &parts[..n]));
            if hit {
                excluded = !p.include;
            }
        }
        excluded
    }

    /// Whether a directory may hold a path that is not excluded (a `!` pattern under
    /// it): an excluded directory then still has to be walked.
    pub fn may_reinclude_under(&self, dir: &str) -> bool {
        let parts = clean(dir);
        self.patterns
            .iter()
            .filter(|p| p.include)
            .any(|p| prefix_may_match(&p.segments, &parts))
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// Whether `path` itself matches `pattern` (the segment rules above, `**` included;
/// no directory rule): COPY's source globs.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    matches(&clean(pattern), &clean(path))
}

/// Path segments after cleaning (`.`, empty segments and a leading `/` dropped, `..`
/// resolved without leaving the root).
fn clean(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s.to_string()),
        }
    }
    out
}

fn matches(pat: &[String], path: &[String]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| matches(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, prest)) => glob(first.as_bytes(), p.as_bytes()) && matches(rest, prest),
            None => false,
        },
    }
}

/// Whether some path under `dir` could match `pat`.
fn prefix_may_match(pat: &[String], dir: &[String]) -> bool {
    match (pat.split_first(), dir.split_first()) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some((first, _)), Some(_)) if first == "**" => true,
        (Some((first, rest)), Some((d, drest))) => {
            glob(first.as_bytes(), d.as_bytes()) && prefix_may_match(rest, drest)
        }
    }
}

fn check_segment(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'[' => match class_end(b, i + 1) {
                Some(end) => i = end + 1,
                None => return Err("'[' without a closing ']'".into()),
            },
            _ => i += 1,
        }
    }
    Ok(())
}

/// Index of the `]` closing a class whose body starts at `i`.
fn class_end(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'^') || b.get(i) == Some(&b'!') {
        i += 1;
    }
    let start = i;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b']' if i > start => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// One segment against one name, as Go's `filepath.Match`.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|k| glob(&p[1..], &s[k..])),
        Some(b'?') => !s.is_empty() && glob(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(end) = class_end(p, 1) else {
                return false;
            };
            let Some(&c) = s.first() else {
                return false;
            };
            class_has(&p[1..end], c) && glob(&p[end + 1..], &s[1..])
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob(&p[2..], &s[1..]),
        Some(&c) => s.first() == Some(&c) && glob(&p[1..], &s[1..]),
    }
}

fn class_has(body: &[u8], c: u8) -> bool {
    let (negate, body) = match body.first() {
        Some(b'^') | Some(b'!') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut i = 0;
    let mut hit = false;
    while i < body.len() {
        let mut lo = body[i];
        if lo == b'\\' && i + 1 < body.len() {
            i += 1;
            lo = body[i];
        }
        let mut hi = lo;
        if body.get(i + 1) == Some(&b'-') && i + 2 < body.len() {
            hi = body[i + 2];
            i += 2;
        }
        if lo <= c && c <= hi {
            hit = true;
        }
        i += 1;
    }
    hit != negate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn docker_examples() {
        // The examples of docker's .dockerignore reference.
        let i = ig("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        assert!(i.excludes("somedir/temporary.txt"));
        assert!(i.excludes("somedir/temp"));
        assert!(i.excludes("somedir/subdir/temporary.txt"));
        assert!(i.excludes("tempa"));
        assert!(i.excludes("tempb/inside"));
        assert!(!i.excludes("temporary.txt"));
        assert!(!i.excludes("a/b/c/temp"));
        let i = ig("*.md\n!README*.md\nREADME-secret.md\n");
        assert!(i.excludes("CHANGES.md"));
        assert!(!i.excludes("README.md"));
        assert!(i.excludes("README-secret.md"));
        let i = ig("*.md\nREADME-secret.md\n!README*.md\n");
        assert!(!i.excludes("README-secret.md"));
    }

    #[test]
    fn double_star_and_directories() {
        let i = ig("**/*.go\n");
        assert!(i.excludes("main.go"));
        assert!(i.excludes("a/b/c.go"));
        assert!(!i.excludes("a/b/c.rs"));
        let i = ig("node_modules\n/build/\n./docs//old\n");
        assert!(i.excludes("node_modules/x/y.js"));
        assert!(!i.excludes("src/node_modules"));
        assert!(i.excludes("build/out.bin"));
        assert!(i.excludes("docs/old/page"));
        let i = ig("a/**/z\n");
        assert!(i.excludes("a/z"));
        assert!(i.excludes("a/b/c/z"));
        assert!(!i.excludes("b/z"));
    }

    #[test]
    fn classes_escapes_and_reinclusion_under_excluded_dirs() {
        let i = ig("file[0-9]\n[^x]y\n\\*star\n");
        assert!(i.excludes("file7"));
        assert!(!i.excludes("filex"));
        assert!(i.excludes("ay"));
        assert!(!i.excludes("xy"));
        assert!(i.excludes("*star"));
        assert!(!i.excludes("astar"));
        let i = ig("vendor\n!vendor/keep\n");
        assert!(i.excludes("vendor/drop"));
        assert!(!i.excludes("vendor/keep"));
        assert!(!i.excludes("vendor/keep/inner"));
        assert!(i.may_reinclude_under("vendor"));
        assert!(!i.may_reinclude_under("other"));
        let e = Ignore::parse("ok\n[bad\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
