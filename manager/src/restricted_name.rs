//! docker's grammar for the names users give containers and volumes
//! (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`, its "restricted name chars"), with a length
//! limit: a name becomes a directory (volumes) and a key, so it must fit one
//! path component (255 bytes), and it is echoed in error messages, which
//! travel in a size-limited HTTP/2 header.

/// Longest name accepted: one path component.
pub const MAX_LEN: usize = 255;

/// Why a name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Empty,
    TooLong,
    BadChars,
}

impl Problem {
    /// What the user should change, for messages.
    pub fn hint(self) -> String {
        match self {
            Problem::Empty => "a name cannot be empty".to_string(),
            Problem::TooLong => format!("a name has at most {MAX_LEN} characters"),
            Problem::BadChars => "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed".to_string(),
        }
    }
}

pub fn check(name: &str) -> Result<(), Problem> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(Problem::Empty),
        Some(c) if !c.is_ascii_alphanumeric() => return Err(Problem::BadChars),
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(Problem::BadChars);
    }
    if name.len() > MAX_LEN {
        return Err(Problem::TooLong);
    }
    Ok(())
}

/// A user-given value as a message shows it: at most 64 characters, so that a
/// huge value cannot make the error itself fail to travel.
pub fn shown(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        None => value.to_string(),
        Some((i, _)) => format!("{}… ({} bytes)", &value[..i], value.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_grammar_and_a_length_limit() {
        assert_eq!(check("web-1.a_b"), Ok(()));
        assert_eq!(check("a"), Ok(()));
        assert_eq!(check(""), Err(Problem::Empty));
        assert_eq!(check("_x"), Err(Problem::BadChars));
        assert_eq!(check("a/b"), Err(Problem::BadChars));
        assert_eq!(check(&"a".repeat(255)), Ok(()));
        assert_eq!(check(&"a".repeat(256)), Err(Problem::TooLong));
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        assert_eq!(shown("short"), "short");
        let s = shown(&"x".repeat(9000));
        assert!(s.len() < 100 && s.ends_with("(9000 bytes)"), "{s}");
    }
}
